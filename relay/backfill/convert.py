"""What the backfill reads, as alert bodies the intake would have received. Pure functions, no I/O.

Both kinds of record are wrapped in the legacy activity-log webhook schema (`Microsoft.Insights/activityLogs`),
which relay.alerts reads like any alert:

* An Activity Log record of category ServiceHealth *is* the event an Action Group sends: its
  `properties` carry trackingId, communicationId, stage and the rest, so its dedup key is the one
  the webhook of the same communication gives.
* A Resource Health event (Events_ListBySubscriptionId) of type PlannedMaintenance has no
  communication of its own. It becomes a Maintenance event with trackingId = the event's name,
  stage = its status (Active or Resolved, as Azure says it), and communicationId =
  "resourcehealth-<status>": one communication per trackingId and status, the same however often the
  event is read. It carries no eventTimestamp, so it never counts as newer than a real Service Health
  communication of the same trackingId: that one is always relayed when it comes.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from relay.alerts import parse_timestamp

SCHEMA = "Microsoft.Insights/activityLogs"
MAINTENANCE_OPERATION = "Microsoft.ServiceHealth/maintenance/action"


def is_service_health(record: Mapping[str, Any]) -> bool:
    """An Activity Log record of category ServiceHealth. Checked here because the list call's `$filter`
    documents no category clause."""
    return _value(record.get("category")).casefold() == "servicehealth"


def is_planned_maintenance(event: Mapping[str, Any]) -> bool:
    return str(_properties(event).get("eventType") or "").casefold() == "plannedmaintenance"


def updated_within(event: Mapping[str, Any], start: datetime, end: datetime) -> bool:
    """Whether a Resource Health event's lastUpdateTime is in the window (queryStartTime is only a day);
    an event that does not say when is kept."""
    text = _properties(event).get("lastUpdateTime")
    when = parse_timestamp(text) if isinstance(text, str) else None
    return when is None or start <= when <= end


def activity_log_alert(record: Mapping[str, Any]) -> bytes:
    """The alert body of an Activity Log record (EventData as the REST list returns it)."""
    log = {
        "correlationId": record.get("correlationId"),
        "description": record.get("description"),
        "eventSource": "ServiceHealth",
        "eventTimestamp": record.get("eventTimestamp"),
        "eventDataId": record.get("eventDataId"),
        "level": record.get("level"),
        "operationName": _value(record.get("operationName")) or None,
        "operationId": record.get("operationId"),
        "properties": dict(_properties(record)),
        "status": _value(record.get("status")) or None,
        "subStatus": _value(record.get("subStatus")) or None,
        "subscriptionId": record.get("subscriptionId"),
        "submissionTimestamp": record.get("submissionTimestamp"),
    }
    return _envelope(log, "activityLog")


def health_event_alert(event: Mapping[str, Any], subscription: str) -> bytes:
    """The alert body of a Resource Health planned-maintenance event (Event as the REST list returns it)."""
    props = _properties(event)
    status = str(props.get("status") or "Active")
    impacts = [_impact(impact) for impact in props.get("impact") or [] if isinstance(impact, Mapping)]
    services = [impact["ServiceName"] for impact in impacts if impact.get("ServiceName")]
    regions = [region["RegionName"] for impact in impacts for region in impact["ImpactedRegions"]
               if region.get("RegionName")]
    properties = {
        "title": props.get("title"),
        "defaultLanguageTitle": props.get("title"),
        "communication": props.get("description") or props.get("summary"),
        "incidentType": "Maintenance",
        "trackingId": event.get("name"),
        "communicationId": f"resourcehealth-{status.lower()}",
        "stage": status,
        "impactStartTime": props.get("impactStartTime"),
        "impactMitigationTime": props.get("impactMitigationTime"),
        "impactedServices": json.dumps(impacts, ensure_ascii=False),
        "service": services[0] if services else None,
        "region": regions[0] if regions else None,
    }
    log = {
        "eventSource": "ServiceHealth",
        "level": props.get("eventLevel"),
        "operationName": MAINTENANCE_OPERATION,
        "status": status,
        "subscriptionId": subscription,
        "properties": {name: value for name, value in properties.items() if value is not None},
    }
    return _envelope(log, "resourceHealthEvents")


def _impact(impact: Mapping[str, Any]) -> dict:
    """An `impact` item of a Resource Health event as an impactedServices item of a Service Health one."""
    regions = []
    for region in impact.get("impactedRegions") or []:
        if isinstance(region, Mapping):
            item = {"RegionName": region.get("impactedRegion")}
            if region.get("impactedSubscriptions"):
                item["ImpactedSubscriptions"] = list(region["impactedSubscriptions"])
            regions.append(item)
    return {"ServiceName": impact.get("impactedService"), "ImpactedRegions": regions}


def _envelope(log: dict, read_from: str) -> bytes:
    # data.properties holds an alert rule's custom properties; here it says where the backfill found the event.
    body = {
        "schemaId": SCHEMA,
        "data": {
            "status": "Activated",
            "context": {"activityLog": {name: value for name, value in log.items() if value is not None}},
            "properties": {"relayBackfill": read_from},
        },
    }
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def _properties(record: Mapping[str, Any]) -> Mapping[str, Any]:
    props = record.get("properties")
    return props if isinstance(props, Mapping) else {}


def _value(localizable: Any) -> str:
    """The value of a LocalizableString ({"value", "localizedValue"}); a plain string as it is."""
    if isinstance(localizable, Mapping):
        localizable = localizable.get("value")
    return localizable if isinstance(localizable, str) else ""
