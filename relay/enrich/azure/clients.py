"""One lookup's connection to Azure: a credential, one HTTP session, and the SDK clients sharing them.

Everything here is asynchronous (aiohttp under azure-core): ten thousand instance views are sent as
fast as the throttles allow from one thread. The SDK clients are the real ones, configured with a
lean pipeline — user agent, our ThrottlePolicy in place of RetryPolicy (it also sets the request id),
ARM bearer authentication — so the client spends about a millisecond of CPU a call.
"""
from __future__ import annotations

import importlib.metadata
import ssl
import urllib.request
from collections.abc import Callable
from typing import Any, Self

from relay.config import PUBLIC_AUTHORITY, AzureSettings
from relay.enrich.azure.throttle import CONCURRENCY, Throttle, policy

USER_AGENT = "azure-maintenance-relay"
_MICROSOFT_AUTHORITIES = ("login.microsoftonline.com", "login.microsoftonline.us", "login.chinacloudapi.cn")

CredentialFactory = Callable[[], Any]  # () -> an azure.core AsyncTokenCredential, created inside the loop


def default_credential(settings: AzureSettings, connection_verify: str | None = None) -> CredentialFactory:
    """DefaultAzureCredential: environment, workload identity, managed identity (a user-assigned one
    through AZURE_CLIENT_ID), then developer sign-ins such as the Azure CLI."""

    def create():
        from azure.identity.aio import DefaultAzureCredential

        host = settings.authority.split("://", 1)[-1].split("/", 1)[0].lower()
        extra = {"connection_verify": connection_verify} if connection_verify else {}
        return DefaultAzureCredential(
            authority=settings.authority or PUBLIC_AUTHORITY,
            disable_instance_discovery=host not in _MICROSOFT_AUTHORITIES,
            **extra,
        )

    return create


class Azure:
    """`async with Azure(...) as azure:` then azure.graph, azure.health(sub), azure.compute(sub)."""

    def __init__(self, settings: AzureSettings, credential: CredentialFactory, throttle: Throttle,
                 connection_verify: str | None = None):
        self.settings, self.throttle = settings, throttle
        self._credential_factory, self._verify = credential, connection_verify
        self._clients: dict[tuple[str, str], Any] = {}

    async def __aenter__(self) -> Self:
        import aiohttp
        from azure.core.pipeline.transport import AioHttpTransport

        context = ssl.create_default_context(cafile=self._verify) if self._verify else ssl.create_default_context()
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=context, limit=CONCURRENCY),
            trust_env=bool(urllib.request.getproxies()),  # proxies from the environment, when there are any
        )
        self._transport = AioHttpTransport(session=self._session, session_owner=False)
        self.credential = self._credential_factory()
        return self

    async def __aexit__(self, *exc) -> None:
        for client in self._clients.values():
            await client.close()
        await self.credential.close()
        await self._session.close()

    def _policies(self, package: str) -> list:
        from azure.core.pipeline import policies
        from azure.mgmt.core.policies import AsyncARMChallengeAuthenticationPolicy

        moniker = f"{package.removeprefix('azure-')}/{importlib.metadata.version(package)}"
        return [
            policies.UserAgentPolicy(user_agent=USER_AGENT, sdk_moniker=moniker),
            policy(self.throttle),  # also sets x-ms-client-request-id, once for all retries of a call
            AsyncARMChallengeAuthenticationPolicy(self.credential, f"{self.settings.arm_url}/.default"),
        ]

    def _client(self, package: str, subscription: str, build: Callable[..., Any]) -> Any:
        key = (package, subscription)
        if key not in self._clients:
            self._clients[key] = build(
                self.credential, base_url=self.settings.arm_url, transport=self._transport,
                policies=self._policies(package),
            )
        return self._clients[key]

    @property
    def graph(self):
        from azure.mgmt.resourcegraph.aio import ResourceGraphClient

        return self._client("azure-mgmt-resourcegraph", "", ResourceGraphClient)

    def health(self, subscription: str):
        from azure.mgmt.resourcehealth.aio import ResourceHealthMgmtClient

        return self._client("azure-mgmt-resourcehealth", subscription,
                            lambda cred, **kw: ResourceHealthMgmtClient(cred, subscription, **kw))

    def compute(self, subscription: str):
        from azure.mgmt.compute.aio import ComputeManagementClient

        return self._client("azure-mgmt-compute", subscription,
                            lambda cred, **kw: ComputeManagementClient(cred, subscription, **kw))
