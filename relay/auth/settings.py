"""The Entra ID settings of the intake, from the environment (app settings on Azure):

    RELAY_ENTRA_TENANT_ID   the directory (tenant) ID of the app registration, a GUID
    RELAY_ENTRA_AUDIENCE    what the token's `aud` may be, comma-separated: the app registration's
                            client ID (v2.0 tokens always carry it) and/or its Application ID URI
                            (v1.0 tokens carry the resource the caller asked for)
    RELAY_ENTRA_AUTHORITY   optional, default https://login.microsoftonline.com (another cloud's
                            login host, e.g. https://login.microsoftonline.us)
    RELAY_ENTRA_ROLE        optional, default ActionGroupsSecureWebhook: the app role the token must carry

Neither tenant nor audience set: no token is asked for. One without the other, or an optional one
without both: a SettingsError that names what is missing.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

ACTION_GROUPS_APP_ID = "461e8683-5575-4561-ac7f-899cc907d62a"  # "AzNS AAD Webhook", Microsoft's first-party app
DEFAULT_ROLE = "ActionGroupsSecureWebhook"
PUBLIC_CLOUD = "https://login.microsoftonline.com"

TENANT, AUDIENCE, AUTHORITY, ROLE = ("RELAY_ENTRA_TENANT_ID", "RELAY_ENTRA_AUDIENCE",
                                     "RELAY_ENTRA_AUTHORITY", "RELAY_ENTRA_ROLE")
_GUID = re.compile(r"[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}")


class SettingsError(ValueError):
    """The Entra ID settings are incomplete or wrong; the message names the setting, never a secret."""


@dataclass(frozen=True)
class EntraSettings:
    tenant_id: str
    audiences: tuple[str, ...]
    authority: str = PUBLIC_CLOUD
    role: str = DEFAULT_ROLE


def entra_settings(environ: Mapping[str, str]) -> EntraSettings | None:
    value = {name: environ.get(name, "").strip() for name in (TENANT, AUDIENCE, AUTHORITY, ROLE)}
    audiences = tuple(a for a in (part.strip() for part in value[AUDIENCE].split(",")) if a)
    if not value[TENANT] and not audiences:
        extra = next((name for name in (AUTHORITY, ROLE) if value[name]), None)
        if extra:
            raise SettingsError(f"{extra} is set but {TENANT} and {AUDIENCE} are not; set both to require"
                                f" Entra ID tokens, or unset {extra}")
        return None
    if not value[TENANT]:
        raise SettingsError(f"{AUDIENCE} is set but {TENANT} is not; set it to the directory (tenant) ID")
    if not audiences:
        raise SettingsError(f"{TENANT} is set but {AUDIENCE} is not; set it to the app registration's"
                            " client ID and/or Application ID URI")
    tenant = value[TENANT].lower()
    if not _GUID.fullmatch(tenant):
        raise SettingsError(f"{TENANT} must be the directory (tenant) ID, a GUID, not a domain name")
    authority = (value[AUTHORITY] or PUBLIC_CLOUD).rstrip("/")
    parts = urlsplit(authority)
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
        raise SettingsError(f"{AUTHORITY} must be an https URL such as {PUBLIC_CLOUD}")
    return EntraSettings(tenant, audiences, authority, value[ROLE] or DEFAULT_ROLE)
