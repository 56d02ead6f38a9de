"""Links into the Azure portal that messages offer: a Service Health event, a resource, an alert."""
from __future__ import annotations

from urllib.parse import quote

from relay.text import one_line

_PORTAL = "https://portal.azure.com/#"
_ALERT = "/providers/microsoft.alertsmanagement/alerts/"


def portal_link(tracking_id: str | None, subscription_ids: tuple[str, ...]) -> str | None:
    """The event in the Azure portal: app.azure.com/h/<trackingId>/<first 3 + last 3 of the subscription>."""
    tracking = one_line(tracking_id)
    subscription = next((one_line(s) for s in subscription_ids if one_line(s)), "")
    if not tracking or len(subscription) < 6:
        return None
    short = subscription[:3] + subscription[-3:]
    return f"https://app.azure.com/h/{quote(tracking, safe='')}/{quote(short, safe='')}"


def resource_link(resource_id: str, page: str = "resourceHealth") -> str | None:
    """A page of a resource in the portal: by default its Resource Health."""
    rid = one_line(resource_id)
    if not rid.startswith("/subscriptions/"):
        return None
    return f"{_PORTAL}resource{quote(rid, safe='/')}/{page}"


def alert_link(alert_id: str | None) -> str | None:
    """An Azure Monitor alert's page in the portal; None for an id that names no alert instance."""
    aid = one_line(alert_id)
    if _ALERT not in aid.casefold():
        return None
    return f"{_PORTAL}view/Microsoft_Azure_Monitoring_Alerts/AlertDetails.ReactView/alertId~/{quote(aid, safe='')}"
