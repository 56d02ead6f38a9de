"""The activity-log event of a Service Health or Resource Health alert → Event. Two wire formats carry it (see
the Azure reference, §1.1–1.5), read by the same code once the event is found:

* the common alert schema: `data.essentials` + `data.alertContext` (the event), and
* the legacy activity-log webhook: `data.context.activityLog` (the event).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from relay.alerts.document import Node, Notes, expecting, identifier, load_json, subscription_ids, unique
from relay.model import Event, EventKind, ResourceHealthChange, Window

SUPPORTED_SCHEMAS = ("azureMonitorCommonAlertSchema", "Microsoft.Insights/activityLogs")

_SCHEMAS = {"azuremonitorcommonalertschema": "common", "microsoft.insights/activitylogs": "legacy"}
SERVICE_HEALTH, RESOURCE_HEALTH = "ServiceHealth", "ResourceHealth"
_SOURCES = {"servicehealth": SERVICE_HEALTH, "resourcehealth": RESOURCE_HEALTH}
_INCIDENT_TYPES = {
    "maintenance": EventKind.MAINTENANCE,
    "incident": EventKind.INCIDENT,
    "actionrequired": EventKind.HEALTH_ADVISORY,
    "informational": EventKind.HEALTH_ADVISORY,
    "security": EventKind.SECURITY,
}
# Real events send the level as text. Test payloads send the activity log's EventLevel number instead, which we read
# in that enum's order (0 Critical, 1 Error, 2 Warning, 3 Informational, 4 Verbose): it fits the documented test
# payload, which sends 3 for a standard planned maintenance. Known names get their usual spelling; any other
# value is kept as given, with a warning.
_LEVELS = ("Critical", "Error", "Warning", "Informational", "Verbose")
_LEVEL_NAMES = {key: name for i, name in enumerate(_LEVELS) for key in (str(i), name.casefold())}


def read_activity_log(root: Node) -> Event | None:
    """The Event of an alert body, or None with the problems noted on `root.notes`."""
    envelope = _read_envelope(root)
    return _read_event(envelope) if envelope is not None and not root.notes.problems else None


def squash(text: str | None) -> str:
    """Make "Resource Health", "resource_health" and "ResourceHealth" alike."""
    return re.sub(r"[\s_-]", "", text or "").casefold()


def is_common_schema(schema_id: object) -> bool:
    return isinstance(schema_id, str) and _SCHEMAS.get(schema_id.strip().casefold()) == "common"


def health_source(service: object, context: object) -> str | None:
    """SERVICE_HEALTH or RESOURCE_HEALTH when a common-schema alert is one: by its monitoringService, else, when it
    names none, by the activity-log event in its alertContext."""
    if isinstance(service, str) and service.strip():
        return _SOURCES.get(squash(service))
    if (service is not None and not isinstance(service, str)) or not isinstance(context, dict):
        return None
    log = Node(context, "", Notes())  # only a look: the reading proper notes what is wrong
    return _source_from_content(log, log.optional_object("properties"))


# ---------------------------------------------------------------------------------------------------------------
# The envelope: which schema, which source, where the activity-log event is


@dataclass(frozen=True)
class _Envelope:
    schema: str  # common, legacy
    source: str  # SERVICE_HEALTH, RESOURCE_HEALTH
    log: Node  # the activity-log event
    props: Node  # its properties
    subscriptions: tuple[tuple[str, str], ...]  # (path, subscription id or resource id) from the envelope
    alert_id: str | None
    resource_id: str | None
    fired: datetime | None


def _read_envelope(root: Node) -> _Envelope | None:
    value = root.get("schemaId")
    schema = _SCHEMAS.get(value.strip().casefold()) if isinstance(value, str) else None
    if schema is None:
        supported = f"one of the supported schemas {', '.join(SUPPORTED_SCHEMAS)}"
        root.notes.problem(root.at("schemaId"), expecting(supported, value))
    data = root.child("data")
    if data is None or schema is None:
        return None
    return _read_common(data) if schema == "common" else _read_legacy(data)


def _read_common(data: Node) -> _Envelope | None:
    essentials, context = data.child("essentials"), data.child("alertContext")
    source = _monitoring_service(essentials, context) if essentials is not None else None
    targets = essentials.strings("alertTargetIDs") if essentials is not None else []
    path, first_target = targets[0] if targets else (f"{data.at('essentials')}.alertTargetIDs", None)
    resource_id = _resource_id(source, first_target, path, data.notes)
    props = context.child("properties") if context is not None else None
    if essentials is None or context is None or source is None or props is None:
        return None
    signal = essentials.text("signalType")
    if signal and squash(signal) != "activitylog":
        essentials.notes.warn(essentials.at("signalType"), expecting("Activity Log", signal))
    return _Envelope(
        "common", source, context, props, tuple(targets),
        alert_id=essentials.identifier("alertId", resource=True), resource_id=resource_id,
        fired=essentials.time("firedDateTime"),
    )


def _read_legacy(data: Node) -> _Envelope | None:
    context = data.child("context")
    log = context.child("activityLog") if context is not None else None
    if log is None:
        return None
    props = log.child("properties")
    source = _event_source(log, props)
    resource_id = _resource_id(source, log.string("resourceId"), log.at("resourceId"), data.notes)
    if props is None or source is None:
        return None
    subscriptions = [(log.at("subscriptionId"), log.text("subscriptionId")), (log.at("resourceId"), resource_id)]
    return _Envelope(
        "legacy", source, log, props, tuple((path, text) for path, text in subscriptions if text),
        alert_id=None, resource_id=resource_id, fired=log.time("submissionTimestamp"),
    )


def _monitoring_service(essentials: Node, context: Node | None) -> str | None:
    """The source its monitoringService names, else the one its event is from: relay.alerts reads other alerts
    with relay.alerts.monitor."""
    value = essentials.get("monitoringService")
    source = health_source(value, context.value if context is not None else None)
    if source is not None and not (isinstance(value, str) and value.strip()):
        expected = expecting("ServiceHealth or Resource Health", value or None)
        essentials.notes.warn(essentials.at("monitoringService"), f"{expected}; read as {source} from the alert context")
    return source


def _event_source(log: Node, props: Node | None) -> str | None:
    value = log.get("eventSource")
    if isinstance(value, str) and not value.strip().isdigit():
        source = _SOURCES.get(squash(value))
    else:  # test payloads number the source: tell by what the event is about
        source = _source_from_content(log, props)
    if source is None:
        supported = "a supported event source: ServiceHealth or ResourceHealth"
        log.notes.problem(log.at("eventSource"), expecting(supported, value))
    return source


def _source_from_content(log: Node, props: Node | None) -> str | None:
    operation = (log.text("operationName") or "").casefold()
    if operation.startswith("microsoft.servicehealth/"):
        return SERVICE_HEALTH
    if operation.startswith("microsoft.resourcehealth/"):
        return RESOURCE_HEALTH
    if props is not None and (props.get("currentHealthStatus") or props.get("previousHealthStatus")):
        return RESOURCE_HEALTH
    if props is not None and (props.get("incidentType") or props.get("trackingId")):
        return SERVICE_HEALTH
    return None


def _resource_id(source: str | None, value: str | None, path: str, notes: Notes) -> str | None:
    if not (value or "").strip():
        if source == RESOURCE_HEALTH:
            notes.problem(path, "missing; a Resource Health alert must name its resource")
        return None
    return identifier(value, path, notes, resource=True)


# ---------------------------------------------------------------------------------------------------------------
# The activity-log event → Event (shared by both schemas)


def _read_event(env: _Envelope) -> Event:
    props, log = env.props, env.log
    services, regions, listed = _impacted_services(props)
    communication, communication_html = props.communication()
    return Event(
        kind=_kind(env),
        schema=env.schema,
        title=_title(props),
        communication=communication,
        communication_html=communication_html,
        tracking_id=_tracking_id(env),
        maintenance_id=props.text("maintenanceId"),
        communication_id=props.identifier("communicationId"),
        event_data_id=log.identifier("eventDataId"),
        alert_id=env.alert_id,
        stage=props.text("stage"),
        level=_level(log),
        status=log.text("status"),
        services=unique(services or [props.text("service")]),
        regions=unique(regions or [props.text("region")]),
        subscription_ids=unique(subscription_ids([*env.subscriptions, *listed], props.notes)),
        window=Window(props.time("impactStartTime"), props.time("impactMitigationTime")),
        event_time=log.time("eventTimestamp") or env.fired,
        resource=_resource(env),
    )


def _kind(env: _Envelope) -> EventKind:
    if env.source == RESOURCE_HEALTH:
        return EventKind.RESOURCE_HEALTH
    incident_type = env.props.text("incidentType")
    kind = _INCIDENT_TYPES.get(squash(incident_type))
    if kind is not None:
        return kind
    what = "missing" if incident_type is None else f"unknown incident type {incident_type!r}"
    # operationName is Microsoft.ServiceHealth/<type>/action
    provider, _, operation = (env.log.text("operationName") or "").casefold().partition("/")
    kind = _INCIDENT_TYPES.get(operation.split("/")[0]) if provider == "microsoft.servicehealth" else None
    if kind is not None:
        env.props.notes.warn(env.props.at("incidentType"), f"{what}; read as {kind} from operationName")
        return kind
    expected = "expected Maintenance, Incident, ActionRequired, Informational or Security"
    env.props.notes.warn(env.props.at("incidentType"), f"{what}; {expected}; relayed as a health advisory")
    return EventKind.HEALTH_ADVISORY


def _title(props: Node) -> str:
    """properties.title, else defaultLanguageTitle. Without either the event is still relayed, untitled and with
    a warning: dropping a real notice would be worse, and Azure does not resend an alert we refuse."""
    title = props.text("title") or props.text("defaultLanguageTitle")
    if title is None:
        props.notes.warn(props.at("title"), "missing, and no defaultLanguageTitle either; relayed without a title")
    return title or ""


def _tracking_id(env: _Envelope) -> str | None:
    tracking_id = env.props.identifier("trackingId")
    if tracking_id is None and env.source == SERVICE_HEALTH:
        env.props.notes.warn(env.props.at("trackingId"), "missing; relayed, but its updates cannot be threaded")
    return tracking_id


def _level(log: Node) -> str | None:
    level = log.text("level")
    if level is None:
        return None
    named = _LEVEL_NAMES.get(level.casefold())
    if named is None:
        log.notes.warn(log.at("level"), expecting(f"one of {', '.join(_LEVELS)} or 0–4", level) + "; kept as given")
    return named or level


def _impacted_services(props: Node) -> tuple[list[str | None], list[str | None], list[tuple[str, str]]]:
    """(services, regions, (path, subscription id)) listed in impactedServices: a JSON string or a real list."""
    value = props.get("impactedServices")
    if isinstance(value, str):
        value, error = load_json(value) if value.strip() else (None, None)
        if error:
            props.notes.warn(props.at("impactedServices"), f"could not read the JSON inside the string: {error}")
            return [], [], []
    holder = Node({"impactedServices": value}, props.path, props.notes)
    services, regions, subscriptions = [], [], []
    for service in holder.objects("impactedServices"):
        services.append(service.text("ServiceName"))
        subscriptions += service.strings("ImpactedSubscriptions")
        for region in service.objects("ImpactedRegions"):
            regions.append(region.text("RegionName"))
            subscriptions += region.strings("ImpactedSubscriptions")
    return services, regions, subscriptions


def _resource(env: _Envelope) -> ResourceHealthChange | None:
    if env.source != RESOURCE_HEALTH or not env.resource_id:
        return None
    props = env.props
    return ResourceHealthChange(
        resource_id=env.resource_id,
        current=props.text("currentHealthStatus"),
        previous=props.text("previousHealthStatus"),
        cause=props.text("cause"),
        type=props.text("type"),
        details=props.html("details"),
    )
