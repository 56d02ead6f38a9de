"""Reading one subscription's Service Health news from Azure: the Activity Log and the Resource Health
events, through the same credential, session, endpoints and throttle pacing as the VM lookup.

    Activity Log            GET /subscriptions/{s}/providers/Microsoft.Insights/eventtypes/management/values
                            $filter=eventTimestamp ge '<start>' and eventTimestamp le '<end>' (api 2015-04-01),
                            every category: the category is checked by the caller (convert.is_service_health)
    Resource Health events  GET /subscriptions/{s}/providers/Microsoft.ResourceHealth/events
                            queryStartTime=<MM/DD/YYYY of start> (a day, by lastUpdateTime; api 2025-05-01)
Both follow nextLink. Records come back as the REST API writes them (camelCase dicts).
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from relay.enrich import FAILED, THROTTLED, TIMEOUT
from relay.enrich.azure.clients import Azure
from relay.enrich.azure.throttle import Unavailable

_REASONS = {THROTTLED: "throttled", TIMEOUT: "timeout", FAILED: "unreachable"}


class Clients(Azure):
    """The VM lookup's Azure connection, with the Activity Log client besides."""

    def monitor(self, subscription: str):
        from azure.core.pipeline.policies import ContentDecodePolicy
        from azure.mgmt.monitor.aio import MonitorManagementClient

        # Its msrest-style deserializer reads the body that ContentDecodePolicy decodes; the lean pipeline has none.
        def build(cred, *, policies, **kw):
            return MonitorManagementClient(cred, subscription, policies=[ContentDecodePolicy(), *policies], **kw)

        return self._client("azure-mgmt-monitor", subscription, build)


async def activity_log(azure: Clients, subscription: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    flt = f"eventTimestamp ge '{_iso(start)}' and eventTimestamp le '{_iso(end)}'"
    return [record.serialize(keep_readonly=True)
            async for record in azure.monitor(subscription).activity_logs.list(filter=flt)]


async def health_events(azure: Clients, subscription: str, start: datetime) -> list[dict[str, Any]]:
    day = start.astimezone(UTC)
    pages = azure.health(subscription).events.list_by_subscription_id(query_start_time=f"{day:%m/%d/%Y}")
    return [event.as_dict() async for event in pages]


def reason(error: BaseException) -> str:
    """Why a subscription could not be read, in a few words. Never the error's text: it may quote a request."""
    if isinstance(error, Unavailable):
        return _REASONS.get(error.reason, error.reason)
    from azure.core.exceptions import ClientAuthenticationError

    status = getattr(error, "status_code", None)
    if status == 403:
        return "denied (403): the identity needs Reader on the subscription"
    if isinstance(error, ClientAuthenticationError):
        return f"sign-in failed{f' ({status})' if status else ''}"
    return f"failed (HTTP {status})" if status else f"failed ({type(error).__name__})"


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
