"""An Azure Monitor alert of the common alert schema other than Service Health and Resource Health → Event of kind
ALERT. Parsing only, no I/O.

The essentials are read the same for every monitoring service (severity, monitor condition, rule, targets,
times, description); the alert context by alert_context.py, as Microsoft documents it for each service. A
monitoringService it does not know, or an alertContextVersion other than 1.0 or 1.1, is relayed with what the
essentials say and a warning, never refused: an Action Group does not resend an alert answered 400. What would
make any alert undeliverable stays a problem (an alertId that cannot key the ledger, a time no message can show).
"""
from __future__ import annotations

from relay.alerts.activity_log import health_source, is_common_schema, squash
from relay.alerts.alert_context import READERS, Cause, activity_log, portal_url
from relay.alerts.document import Node, expecting, subscription_ids, unique
from relay.model import FIRED, RESOLVED, SEVERITIES, Event, EventKind, MonitorAlert, ResourceRef
from relay.text import one_line

CONTEXT_VERSIONS = ("1.0", "1.1")  # 1.1: log search alerts of the earlier API, in the Action Group's test
_SEVERITY = {name.casefold(): name for name in SEVERITIES} | {str(i): name for i, name in enumerate(SEVERITIES)}
_CONDITIONS = {FIRED.casefold(): FIRED, RESOLVED.casefold(): RESOLVED}


def is_monitor_alert(root: Node) -> bool:
    """A common-schema alert with essentials that neither name nor carry a Service Health or Resource Health event."""
    if not is_common_schema(root.get("schemaId")) or not isinstance(data := root.get("data"), dict):
        return False
    data_node = Node(data, root.at("data"), root.notes)
    essentials = data_node.get("essentials")
    if not isinstance(essentials, dict):
        return False
    service = Node(essentials, "", root.notes).get("monitoringService")
    return health_source(service, data_node.get("alertContext")) is None


def read_monitor_alert(root: Node) -> Event | None:
    """The Event of an alert body, or None with the problems noted on `root.notes`."""
    data = root.child("data")
    essentials = data.child("essentials") if data is not None else None
    if data is None or essentials is None:
        return None
    alert_id = essentials.identifier("alertId", resource=True)
    cause = _cause(data, essentials)
    targets = unique([one_line(text) for _, text in essentials.strings("alertTargetIDs")] or [cause.scope])
    first = ResourceRef.parse(targets[0]) if targets else None
    condition = _monitor_condition(essentials)
    fired, resolved = essentials.time("firedDateTime"), essentials.time("resolvedDateTime")
    investigation = [("investigation", url)] if (url := portal_url(essentials, "investigationLink")) else []
    alert = MonitorAlert(
        severity=_severity(essentials),
        monitor_condition=condition,
        service=essentials.text("monitoringService"),
        signal=essentials.text("signalType"),
        rule=essentials.text("alertRule"),
        targets=targets,
        items=unique(one_line(text) for _, text in essentials.strings("configurationItems")),
        target_type=essentials.text("targetResourceType") or (first.type if first else None) or None,
        target_group=essentials.text("targetResourceGroup") or (first.group if first else None) or None,
        fired=fired,
        resolved=resolved,
        criteria=cause.criteria,
        window_size=cause.window_size,
        window=cause.window,
        facts=cause.facts,
        links=(*cause.links, *investigation),
        context_read=cause.read,
    )
    paths = [*essentials.strings("alertTargetIDs"), *([(essentials.at("alertId"), alert_id)] if alert_id else [])]
    return Event(
        kind=EventKind.ALERT,
        schema="common",
        title=alert.rule or cause.name or alert.service or "",
        communication=essentials.html("description") or "",
        alert_id=alert_id,
        event_data_id=cause.event_data_id,
        stage=condition,
        subscription_ids=unique(subscription_ids(paths, essentials.notes)),
        event_time=(resolved if condition == RESOLVED else None) or fired or cause.event_time,
        alert=alert,
    )


def _cause(data: Node, essentials: Node) -> Cause:
    """What the alert context says, when it is of a service and version read here; else nothing, with a warning."""
    service = essentials.text("monitoringService")
    key = squash(service)
    reader = activity_log if key.startswith("activitylog") else READERS.get(key)
    version = essentials.text("alertContextVersion")
    context = data.get("alertContext")
    if reader is None:
        what = f"an unknown monitoring service {service!r}" if service else "missing"
        essentials.notes.warn(essentials.at("monitoringService"), f"{what}; relayed with its essentials only")
    elif version is not None and version not in CONTEXT_VERSIONS:
        essentials.notes.warn(essentials.at("alertContextVersion"),
                              f"an unknown version {version!r}; relayed with its essentials only")
    elif not isinstance(context, dict):
        essentials.notes.warn(data.at("alertContext"), expecting("an object", context)
                              + "; relayed with its essentials only")
    else:
        return reader(Node(context, data.at("alertContext"), data.notes))
    return Cause(read=False)


def _severity(essentials: Node) -> str | None:
    text = essentials.text("severity")
    if text is None:
        return None  # budget alerts have none
    named = _SEVERITY.get(text.casefold())
    if named is None:
        essentials.notes.warn(essentials.at("severity"), expecting("Sev0 to Sev4", text) + "; kept as given")
    return named or text


def _monitor_condition(essentials: Node) -> str:
    text = essentials.text("monitorCondition")
    named = _CONDITIONS.get((text or "").casefold())
    if named is None:
        essentials.notes.warn(essentials.at("monitorCondition"),
                              expecting(f"{FIRED} or {RESOLVED}", text or None) + f"; read as {FIRED}")
    return named or FIRED
