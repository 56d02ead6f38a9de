"""Alert bodies from an Action Group → Event. Parsing only, no I/O.

Two wire formats carry the same activity-log event (see the Azure reference, §1.1–1.5):

* the common alert schema: `data.essentials` + `data.alertContext` (the event), and
* the legacy activity-log webhook: `data.context.activityLog` (the event).

Both are read by the same code once the event is found. What makes the alert unusable is a *problem*: every problem
is collected and raised together as one PayloadError. A malformed optional field is a *warning*: the field is read
as unknown (None) and the event is still relayed.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, NoReturn

from relay.model import Event, EventKind, ResourceHealthChange, Window
from relay.text import html_to_text, looks_like_html, one_line

MAX_BYTES = 256 * 1024
MAX_DEPTH = 64
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

_GUID = r"[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}"
_SUBSCRIPTION_ID = re.compile(_GUID, re.I)
_SUBSCRIPTION_SCOPE = re.compile(rf"/subscriptions/({_GUID})(?:/|$)", re.I)
# Azure writes 0–7 fraction digits and Z, an offset, or no zone at all (read as UTC).
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,7}))?)?\s*(Z|[+-]\d\d:?\d\d)?", re.I | re.ASCII
)
# A string is skipped whole (an unterminated one runs to the end); brackets are counted.
_JSON_TOKEN = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"?|[\[\]{}]', re.S)


@dataclass(frozen=True)
class Problem:
    path: str  # JSON path, e.g. "$.data.essentials"
    message: str  # what was wrong and what was expected

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class PayloadError(ValueError):
    """The body is not an alert we can relay. `problems` lists every problem found, each with its JSON path."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...], *, too_large: bool = False) -> None:
        self.problems = tuple(problems)
        self.too_large = too_large  # the HTTP layer answers 413
        super().__init__("; ".join(map(str, self.problems)))


def parse_alert(raw: bytes | str) -> Event:
    """Read one alert body (or an agent's Scheduled Event report) into an Event. Raises PayloadError, and nothing
    else, for any input."""
    from relay.alerts.scheduled_event import is_scheduled_event, read_scheduled_event  # it reads with this module's helpers

    notes = _Notes()
    root = _Node(_load_document(raw), "$", notes)
    if is_scheduled_event(root.get("schemaId")):
        event = read_scheduled_event(root)
    else:
        envelope = _read_envelope(root)
        event = _read_event(envelope) if envelope is not None and not notes.problems else None
    if event is None or notes.problems:
        raise PayloadError(notes.problems or [Problem("$", "not a supported alert")])
    return replace(event, warnings=tuple(notes.warnings))


def parse_timestamp(text: str) -> datetime | None:
    """An Azure timestamp as aware UTC; None when it is not one."""
    match = _TIMESTAMP.fullmatch(text.strip())
    if not match:
        return None
    year, month, day, hour, minute, second = (int(part or 0) for part in match.groups()[:6])
    micro = int((match[7] or "").ljust(6, "0")[:6])
    zone = (match[8] or "Z").upper().replace(":", "")
    sign = -1 if zone[0] == "-" else 1
    try:
        offset = timedelta() if zone == "Z" else sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[3:]))
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=timezone(offset)).astimezone(UTC)
    except (ValueError, OverflowError):  # month 13, offset of a day or more, year 1 moved before year 1
        return None


# ---------------------------------------------------------------------------------------------------------------
# Bytes → JSON object


def _load_document(raw: bytes | str) -> dict[str, Any]:
    doc, error = _load_json(_decode(raw))
    if error:
        _reject(error)
    if not isinstance(doc, dict):
        _reject(_expected("a JSON object at the top level", doc))
    return doc


def _decode(raw: bytes | str) -> str:
    if isinstance(raw, str):
        size = len(raw) if len(raw) > MAX_BYTES else len(raw.encode("utf-8", "surrogatepass"))
    elif isinstance(raw, (bytes, bytearray)):
        size = len(raw)
    else:
        _reject(f"expected the body as bytes or text, got {type(raw).__name__}")
    if size > MAX_BYTES:
        _reject(f"the body is larger than the {MAX_BYTES} bytes accepted", too_large=True)
    if isinstance(raw, str):
        return raw.removeprefix("\ufeff")
    try:
        return bytes(raw).decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line, column = _line_column(bytes(raw), exc.start, b"\n")
        _reject(f"not valid UTF-8 at line {line}, column {column} (byte {exc.start})")


def _reject(message: str, *, too_large: bool = False) -> NoReturn:
    """The whole body is unreadable: one problem, at the top."""
    raise PayloadError([Problem("$", message)], too_large=too_large) from None


def _load_json(text: str) -> tuple[Any, str | None]:
    """(value, None), or (None, what is wrong). Depth is checked first: deep nesting makes json recurse."""
    depth = 0
    for token in _JSON_TOKEN.finditer(text):
        if token.group() in ("[", "{"):
            depth += 1
            if depth > MAX_DEPTH:
                line, column = _line_column(text, token.start(), "\n")
                return None, f"nested deeper than {MAX_DEPTH} levels at line {line}, column {column}"
        elif token.group() in ("]", "}"):
            depth -= 1
    try:
        return json.loads(text, parse_constant=_reject_constant), None
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
    except (ValueError, RecursionError) as exc:  # e.g. an integer of more than 4300 digits
        return None, f"not valid JSON: {exc}"


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON value")


def _line_column(text: str | bytes, offset: int, newline: str | bytes) -> tuple[int, int]:
    return text.count(newline, 0, offset) + 1, offset - text.rfind(newline, 0, offset)


# ---------------------------------------------------------------------------------------------------------------
# Reading fields


class _Notes:
    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.warnings: list[str] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(str(Problem(path, message)))


class _Node:
    """A JSON object with its path. Keys match case-insensitively (Azure writes both alertRuleID and alertRuleId)."""

    def __init__(self, value: dict[str, Any], path: str, notes: _Notes) -> None:
        self.value, self.path, self.notes = value, path, notes
        self._folded: dict[str, str] | None = None

    def at(self, key: str) -> str:
        return f"{self.path}.{key}"

    def get(self, key: str) -> Any:
        if key in self.value:
            return self.value[key]
        if self._folded is None:
            self._folded = {k.casefold(): k for k in self.value}
        actual = self._folded.get(key.casefold())
        return None if actual is None else self.value[actual]

    def child(self, key: str) -> _Node | None:
        """A required object; a problem when it is missing or not an object."""
        value = self.get(key)
        if isinstance(value, dict):
            return _Node(value, self.at(key), self.notes)
        self.notes.problem(self.at(key), _expected("an object", value))
        return None

    def text(self, key: str) -> str | None:
        """An optional one-line string; a number is taken as its text, anything else is a warning."""
        return one_line(self._string(key) or "") or None

    def html(self, key: str) -> str | None:
        """An optional string of HTML (or plain text), as plain text."""
        return html_to_text(self._string(key) or "") or None

    def communication(self) -> tuple[str, str]:
        """Azure's message as plain text, and as the HTML it came in ("" when it is plain text): the
        `communication`, else the `defaultLanguageContent`."""
        for key in ("communication", "defaultLanguageContent"):
            raw = self._string(key) or ""
            if text := html_to_text(raw):
                return text, raw if looks_like_html(raw) else ""
        return "", ""

    def time(self, key: str) -> datetime | None:
        value = self.get(key)
        if value is None or value == "":
            return None
        when = parse_timestamp(value) if isinstance(value, str) else None
        if when is None:
            self.notes.warn(self.at(key), _expected("an ISO 8601 time such as 2027-01-06T00:00:00Z", value))
        return when

    def objects(self, key: str) -> list[_Node]:
        """The objects of an optional list; a warning for the list or any item of another type."""
        return [_Node(item, path, self.notes) for path, item in self._items(key, dict, "an object")]

    def strings(self, key: str) -> list[tuple[str, str]]:
        """(path, text) for each string of an optional list."""
        return self._items(key, str, "a string")

    def _string(self, key: str) -> str | None:
        value = self.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        if value is None or isinstance(value, str):
            return value
        self.notes.warn(self.at(key), _expected("a string", value))
        return None

    def _items(self, key: str, kind: type, what: str) -> list[tuple[str, Any]]:
        value = self.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.notes.warn(self.at(key), _expected("a list", value))
            return []
        items = []
        for i, item in enumerate(value):
            path = f"{self.at(key)}[{i}]"
            if isinstance(item, kind):
                items.append((path, item))
            elif item is not None:
                self.notes.warn(path, _expected(what, item))
        return items


def _expected(what: str, value: Any) -> str:
    return f"missing; expected {what}" if value is None else f"expected {what}, got {_describe(value)}"


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:60] + "…")
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return f"the number {str(value)[:30]}"
    return "a list" if isinstance(value, list) else "an object"


def _squash(text: str | None) -> str:
    """Make "Resource Health", "resource_health" and "ResourceHealth" alike."""
    return re.sub(r"[\s_-]", "", text or "").casefold()


# ---------------------------------------------------------------------------------------------------------------
# The envelope: which schema, which source, where the activity-log event is


@dataclass(frozen=True)
class _Envelope:
    schema: str  # common, legacy
    source: str  # SERVICE_HEALTH, RESOURCE_HEALTH
    log: _Node  # the activity-log event
    props: _Node  # its properties
    subscriptions: tuple[tuple[str, str], ...]  # (path, subscription id or resource id) from the envelope
    alert_id: str | None
    resource_id: str | None
    fired: datetime | None


def _read_envelope(root: _Node) -> _Envelope | None:
    value = root.get("schemaId")
    schema = _SCHEMAS.get(value.strip().casefold()) if isinstance(value, str) else None
    if schema is None:
        supported = f"one of the supported schemas {', '.join(SUPPORTED_SCHEMAS)}"
        root.notes.problem(root.at("schemaId"), _expected(supported, value))
    data = root.child("data")
    if data is None or schema is None:
        return None
    return _read_common(data) if schema == "common" else _read_legacy(data)


def _read_common(data: _Node) -> _Envelope | None:
    essentials, context = data.child("essentials"), data.child("alertContext")
    source = _monitoring_service(essentials) if essentials is not None else None
    targets = essentials.strings("alertTargetIDs") if essentials is not None else []
    first_target = one_line(targets[0][1]) if targets else None
    resource_id = _resource_id(source, first_target, f"{data.at('essentials')}.alertTargetIDs", data.notes)
    props = context.child("properties") if context is not None else None
    if essentials is None or context is None or source is None or props is None:
        return None
    signal = essentials.text("signalType")
    if signal and _squash(signal) != "activitylog":
        essentials.notes.warn(essentials.at("signalType"), _expected("Activity Log", signal))
    return _Envelope(
        "common", source, context, props, tuple(targets),
        alert_id=essentials.text("alertId"), resource_id=resource_id, fired=essentials.time("firedDateTime"),
    )


def _read_legacy(data: _Node) -> _Envelope | None:
    context = data.child("context")
    log = context.child("activityLog") if context is not None else None
    if log is None:
        return None
    props = log.child("properties")
    source = _event_source(log, props)
    resource_id = _resource_id(source, log.text("resourceId"), log.at("resourceId"), data.notes)
    if props is None or source is None:
        return None
    subscriptions = [(log.at("subscriptionId"), log.text("subscriptionId")), (log.at("resourceId"), resource_id)]
    return _Envelope(
        "legacy", source, log, props, tuple((path, text) for path, text in subscriptions if text),
        alert_id=None, resource_id=resource_id, fired=log.time("submissionTimestamp"),
    )


def _monitoring_service(essentials: _Node) -> str | None:
    value = essentials.get("monitoringService")
    source = _SOURCES.get(_squash(value)) if isinstance(value, str) else None
    if source is None:
        supported = "a supported monitoring service: ServiceHealth or Resource Health"
        essentials.notes.problem(essentials.at("monitoringService"), _expected(supported, value))
    return source


def _event_source(log: _Node, props: _Node | None) -> str | None:
    value = log.get("eventSource")
    if isinstance(value, str) and not value.strip().isdigit():
        source = _SOURCES.get(_squash(value))
    else:  # test payloads number the source: tell by what the event is about
        source = _source_from_content(log, props)
    if source is None:
        supported = "a supported event source: ServiceHealth or ResourceHealth"
        log.notes.problem(log.at("eventSource"), _expected(supported, value))
    return source


def _source_from_content(log: _Node, props: _Node | None) -> str | None:
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


def _resource_id(source: str | None, resource_id: str | None, path: str, notes: _Notes) -> str | None:
    if source == RESOURCE_HEALTH and not resource_id:
        notes.problem(path, "missing; a Resource Health alert must name its resource")
    return resource_id


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
        communication_id=props.text("communicationId"),
        event_data_id=log.text("eventDataId"),
        alert_id=env.alert_id,
        stage=props.text("stage"),
        level=_level(log),
        status=log.text("status"),
        services=_unique(services or [props.text("service")]),
        regions=_unique(regions or [props.text("region")]),
        subscription_ids=_unique(_subscription_ids([*env.subscriptions, *listed], props.notes)),
        window=Window(props.time("impactStartTime"), props.time("impactMitigationTime")),
        event_time=log.time("eventTimestamp") or env.fired,
        resource=_resource(env),
    )


def _kind(env: _Envelope) -> EventKind:
    if env.source == RESOURCE_HEALTH:
        return EventKind.RESOURCE_HEALTH
    incident_type = env.props.text("incidentType")
    kind = _INCIDENT_TYPES.get(_squash(incident_type))
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


def _title(props: _Node) -> str:
    """properties.title, else defaultLanguageTitle. Without either the event is still relayed, untitled and with
    a warning: dropping a real notice would be worse, and Azure does not resend an alert we refuse."""
    title = props.text("title") or props.text("defaultLanguageTitle")
    if title is None:
        props.notes.warn(props.at("title"), "missing, and no defaultLanguageTitle either; relayed without a title")
    return title or ""


def _tracking_id(env: _Envelope) -> str | None:
    tracking_id = env.props.text("trackingId")
    if tracking_id is None and env.source == SERVICE_HEALTH:
        env.props.notes.warn(env.props.at("trackingId"), "missing; relayed, but its updates cannot be threaded")
    return tracking_id


def _level(log: _Node) -> str | None:
    level = log.text("level")
    if level is None:
        return None
    named = _LEVEL_NAMES.get(level.casefold())
    if named is None:
        log.notes.warn(log.at("level"), _expected(f"one of {', '.join(_LEVELS)} or 0–4", level) + "; kept as given")
    return named or level


def _impacted_services(props: _Node) -> tuple[list[str | None], list[str | None], list[tuple[str, str]]]:
    """(services, regions, (path, subscription id)) listed in impactedServices: a JSON string or a real list."""
    value = props.get("impactedServices")
    if isinstance(value, str):
        value, error = _load_json(value) if value.strip() else (None, None)
        if error:
            props.notes.warn(props.at("impactedServices"), f"could not read the JSON inside the string: {error}")
            return [], [], []
    holder = _Node({"impactedServices": value}, props.path, props.notes)
    services, regions, subscriptions = [], [], []
    for service in holder.objects("impactedServices"):
        services.append(service.text("ServiceName"))
        subscriptions += service.strings("ImpactedSubscriptions")
        for region in service.objects("ImpactedRegions"):
            regions.append(region.text("RegionName"))
            subscriptions += region.strings("ImpactedSubscriptions")
    return services, regions, subscriptions


def _subscription_ids(candidates: list[tuple[str, str]], notes: _Notes) -> list[str]:
    """Lower-case subscription ids, from bare ids or from ids that start with /subscriptions/<id>."""
    found = []
    for path, text in candidates:
        text = text.strip()
        if scope := _SUBSCRIPTION_SCOPE.match(text):
            found.append(scope.group(1).lower())
        elif _SUBSCRIPTION_ID.fullmatch(text):
            found.append(text.lower())
        elif not text.startswith("/"):  # other resource and scope ids just name no subscription
            notes.warn(path, _expected("a subscription id (a GUID)", text))
    return found


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


def _unique(values: list[str | None]) -> tuple[str, ...]:
    """Without blanks and repeats (ignoring case), first spelling and order kept."""
    seen: dict[str, str] = {}
    for value in values:
        if value and value.casefold() not in seen:
            seen[value.casefold()] = value
    return tuple(seen.values())
