"""Identity-based connections, as the Functions host reads them: a setting NAME holds a connection
string, or NAME__<service>ServiceUri (or NAME__accountName) names the account, signed in with
NAME__credential=managedidentity (NAME__clientId for a user-assigned identity), else DefaultAzureCredential."""
from __future__ import annotations

from collections.abc import Mapping


def configured(environ: Mapping[str, str], name: str, service: str) -> bool:
    return any(environ.get(setting) for setting in (name, f"{name}__{service}ServiceUri", f"{name}__accountName"))


def account_url(environ: Mapping[str, str], name: str, service: str) -> str:
    return (environ.get(f"{name}__{service}ServiceUri")
            or f"https://{environ[f'{name}__accountName']}.{service}.core.windows.net")


def credential(environ: Mapping[str, str], name: str):
    if environ.get(f"{name}__credential") == "managedidentity":
        from azure.identity import ManagedIdentityCredential

        return ManagedIdentityCredential(client_id=environ.get(f"{name}__clientId"))
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()
