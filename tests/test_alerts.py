import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relay.alerts import MAX_BYTES, MAX_DEPTH, SUPPORTED_SCHEMAS, PayloadError, Problem, parse_alert, parse_timestamp
from relay.hosts.intake import ALERTS, SCHEDULED_EVENTS, ingest
from relay.model import Event, EventKind
from tests.mutations import SCHEDULED_EVENT
from tests.properties import examples

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "alerts"
SUB = "11111111-2222-3333-4444-555555555555"
VM = f"/subscriptions/{SUB}/resourceGroups/rg-web/providers/Microsoft.Compute/virtualMachines/vm-web-02"
DELETE = object()

# Dotted paths into the examples, as the tables below use them.
ESS = "data.essentials."
CTX = "data.alertContext."
PROPS = "data.alertContext.properties."
LOG = "data.context.activityLog."
LPROPS = "data.context.activityLog.properties."


def example(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


PLANNED = example("01-planned.json")
INCIDENT = example("06-incident.json")
RESOURCE = example("07-resource-health.json")


def mutate(doc: dict, changes: dict) -> dict:
    doc = copy.deepcopy(doc)
    for path, value in changes.items():
        *parents, last = path.split(".")
        node = doc
        for key in parents:
            node = node[key]
        if value is DELETE:
            node.pop(last, None)
        else:
            node[last] = value
    return doc


def parse(doc: dict, changes: dict | None = None) -> Event:
    return parse_alert(json.dumps(mutate(doc, changes or {})).encode())


def field(event: Event, name: str):
    value = event
    for part in name.split("."):
        value = getattr(value, part)
    return value


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def warning_paths(event: Event) -> list[str]:
    return [w.split(": ", 1)[0] for w in event.warnings]


def problem_paths(exc: pytest.ExceptionInfo[PayloadError]) -> tuple[str, ...]:
    return tuple(p.path for p in exc.value.problems)


# --------------------------------------------------------------------------------------------------------------
# The bundled examples


EXPECTED_EXAMPLES = {
    "01-planned.json": dict(
        kind=EventKind.MAINTENANCE, schema="common", stage="Planned", level="Informational", status="Active",
        tracking_id="XY12-3ZQ", communication_id="700000000000000001",
        window=(utc("2027-01-06T00:00:00Z"), utc("2027-02-20T15:00:00Z")),
    ),
    "02-planned-redelivered.json": dict(
        kind=EventKind.MAINTENANCE, schema="common", stage="Planned", level="Informational", status="Active",
        tracking_id="XY12-3ZQ", communication_id="700000000000000001",
        window=(utc("2027-01-06T00:00:00Z"), utc("2027-02-20T15:00:00Z")),
    ),
    "03-rescheduled.json": dict(
        kind=EventKind.MAINTENANCE, schema="common", stage="Rescheduled", level="Informational", status="Active",
        tracking_id="XY12-3ZQ", communication_id="700000000000000002",
        window=(utc("2027-01-06T00:00:00Z"), utc("2027-02-27T15:00:00Z")),
    ),
    "04-inprogress.json": dict(
        kind=EventKind.MAINTENANCE, schema="common", stage="InProgress", level="Informational", status="Active",
        tracking_id="XY12-3ZQ", communication_id="700000000000000003",
        window=(utc("2027-01-06T00:00:00Z"), utc("2027-02-27T15:00:00Z")),
    ),
    "05-complete.json": dict(
        kind=EventKind.MAINTENANCE, schema="common", stage="Complete", level="Informational", status="Resolved",
        tracking_id="XY12-3ZQ", communication_id="700000000000000004",
        window=(utc("2027-01-06T00:00:00Z"), utc("2027-02-27T15:00:00Z")),
    ),
    "06-incident.json": dict(
        kind=EventKind.INCIDENT, schema="legacy", stage="Active", level="Error", status="Active",
        tracking_id="7LMN-0PQ", communication_id="700000000000000101",
        window=(utc("2027-01-14T02:10:00Z"), None),
    ),
    "07-resource-health.json": dict(
        kind=EventKind.RESOURCE_HEALTH, schema="common", stage=None, level="Critical", status="Active",
        tracking_id=None, communication_id=None, window=(None, None),
    ),
    "08-metric-fired.json": dict(
        kind=EventKind.ALERT, schema="common", stage="Fired", level=None, status=None,
        tracking_id=None, communication_id=None, window=(None, None),
    ),
    "09-metric-resolved.json": dict(
        kind=EventKind.ALERT, schema="common", stage="Resolved", level=None, status=None,
        tracking_id=None, communication_id=None, window=(None, None),
    ),
}


def test_every_bundled_example_is_checked():
    assert sorted(p.name for p in EXAMPLES.glob("*.json")) == sorted(EXPECTED_EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXPECTED_EXAMPLES))
def test_bundled_example(name):
    event = parse_alert((EXAMPLES / name).read_bytes())
    expected = dict(EXPECTED_EXAMPLES[name])
    assert (event.window.start, event.window.end) == expected.pop("window")
    for key, value in expected.items():
        assert getattr(event, key) == value, key
    assert event.subscription_ids == (SUB,)
    assert event.warnings == ()
    assert event.title and event.event_time and event.event_time.tzinfo is UTC
    assert "<" not in event.communication


@pytest.mark.parametrize("name", [n for n in sorted(EXPECTED_EXAMPLES) if n < "07"])
def test_service_health_examples_name_the_vm_service(name):
    event = parse_alert((EXAMPLES / name).read_bytes())
    region = "Japan West" if name == "06-incident.json" else "Japan East"
    assert (event.services, event.regions, event.resource) == (("Virtual Machines",), (region,), None)


def test_planned_example_reads_as_text():
    event = parse_alert((EXAMPLES / "01-planned.json").read_bytes())
    assert event.alert_id.endswith("/alerts/0a1b2c3d-0001-4000-8000-00000000a001")
    assert event.event_data_id == "e0e0e0e0-1111-4222-8333-444455550001"
    assert event.event_time == utc("2027-01-06T00:12:05.123456Z")
    assert event.communication.startswith("What is happening\n\nAzure will apply a host update")
    assert "\n- Self-service window: 6 January 2027 00:00 UTC to 10 February 2027 00:00 UTC." in event.communication
    assert "Handling planned maintenance notifications." in event.communication
    assert "https://" not in event.communication
    assert not event.is_emergency


def test_redelivery_has_the_same_dedup_key_and_updates_share_a_thread():
    planned, again, moved = (parse_alert((EXAMPLES / n).read_bytes()) for n in
                             ("01-planned.json", "02-planned-redelivered.json", "03-rescheduled.json"))
    assert planned.dedup_key == again.dedup_key == "xy12-3zq/700000000000000001"
    assert moved.dedup_key != planned.dedup_key
    assert moved.thread_key == planned.thread_key == "XY12-3ZQ"


def test_resource_health_example():
    event = parse_alert((EXAMPLES / "07-resource-health.json").read_bytes())
    assert event.resource.resource_id == VM
    assert (event.resource.previous, event.resource.current) == ("Available", "Unavailable")
    assert (event.resource.cause, event.resource.type) == ("PlatformInitiated", "Downtime")
    assert event.resource.details.startswith("Azure detected a problem")
    assert event.title == "The virtual machine is unavailable because of an unexpected problem with its host"
    assert event.thread_key == VM.lower()


# --------------------------------------------------------------------------------------------------------------
# Quirks: all accepted, without warnings

IMPACTED_ARRAY = [{"ImpactedRegions": [{"RegionName": "Japan East"}], "ServiceName": "Virtual Machines"}]
TWO_SERVICES = [
    {"ServiceName": "Virtual Machines",
     "ImpactedRegions": [{"RegionName": "Japan East"}, {"RegionName": "Japan West"}]},
    {"ServiceName": "Virtual Machine Scale Sets", "ImpactedRegions": [{"RegionName": "japan east"}]},
    {"ServiceName": "virtual machines", "ImpactedRegions": []},
]
OTHER_SUB = "AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE"


@pytest.mark.parametrize(
    "base, changes, name, expected",
    [
        # impactedServices: a JSON string (the examples) or a real array; services and regions de-duplicated
        pytest.param(PLANNED, {PROPS + "impactedServices": IMPACTED_ARRAY}, "regions", ("Japan East",),
                     id="impacted-array"),
        pytest.param(PLANNED, {PROPS + "impactedServices": TWO_SERVICES}, "services",
                     ("Virtual Machines", "Virtual Machine Scale Sets"), id="impacted-services-unique"),
        pytest.param(PLANNED, {PROPS + "impactedServices": json.dumps(TWO_SERVICES)}, "regions",
                     ("Japan East", "Japan West"), id="impacted-regions-unique"),
        pytest.param(PLANNED, {PROPS + "impactedServices": [{"serviceName": "Storage", "impactedRegions": [
            {"regionName": "Japan East", "impactedSubscriptions": [OTHER_SUB, SUB]}]}]},
            "subscription_ids", (SUB, OTHER_SUB.lower()), id="impacted-subscriptions"),
        pytest.param(PLANNED, {PROPS + "impactedServices": DELETE, PROPS + "service": "Storage"}, "services",
                     ("Storage",), id="no-impacted-falls-back-to-service"),
        pytest.param(PLANNED, {PROPS + "impactedServices": "", PROPS + "region": "Japan West"}, "regions",
                     ("Japan West",), id="empty-impacted-falls-back-to-region"),
        pytest.param(PLANNED, {PROPS + "impactedServices": "[]"}, "services", ("Virtual Machines",),
                     id="impacted-empty-list"),
        # level: text in any case, or the EventLevel number (0 Critical … 4 Verbose)
        pytest.param(PLANNED, {CTX + "level": 3}, "level", "Informational", id="level-3"),
        pytest.param(PLANNED, {CTX + "level": 2}, "level", "Warning", id="level-2"),
        pytest.param(PLANNED, {CTX + "level": "1"}, "level", "Error", id="level-string-1"),
        pytest.param(PLANNED, {CTX + "level": 0}, "level", "Critical", id="level-0"),
        pytest.param(PLANNED, {CTX + "level": "warning"}, "level", "Warning", id="level-lower-case"),
        pytest.param(PLANNED, {CTX + "level": "Warning"}, "is_emergency", True, id="emergency-maintenance"),
        pytest.param(PLANNED, {CTX + "level": DELETE}, "level", None, id="level-missing"),
        # eventSource / channels as numbers or text
        pytest.param(PLANNED, {CTX + "eventSource": 2, CTX + "channels": "Admin, Operation"}, "kind",
                     EventKind.MAINTENANCE, id="numeric-event-source-common"),
        pytest.param(INCIDENT, {LOG + "eventSource": 2, LOG + "channels": 1}, "kind", EventKind.INCIDENT,
                     id="numeric-event-source-legacy"),
        pytest.param(INCIDENT, {LOG + "eventSource": "2"}, "kind", EventKind.INCIDENT, id="digit-event-source-legacy"),
        pytest.param(INCIDENT, {LOG + "eventSource": "service health"}, "kind", EventKind.INCIDENT,
                     id="spaced-event-source"),
        pytest.param(INCIDENT, {LOG + "eventSource": 2, LOG + "operationName": DELETE}, "kind", EventKind.INCIDENT,
                     id="numeric-event-source-from-properties"),
        # timestamps: 0–7 fraction digits, Z, offsets, no zone (UTC)
        pytest.param(PLANNED, {PROPS + "impactStartTime": "2027-01-06T00:00:00"}, "window.start",
                     utc("2027-01-06T00:00:00Z"), id="time-naive-is-utc"),
        pytest.param(PLANNED, {PROPS + "impactStartTime": "2027-01-06T09:00:00+09:00"}, "window.start",
                     utc("2027-01-06T00:00:00Z"), id="time-offset"),
        pytest.param(PLANNED, {PROPS + "impactStartTime": "2027-01-05T15:30:00-0830"}, "window.start",
                     utc("2027-01-06T00:00:00Z"), id="time-offset-without-colon"),
        pytest.param(PLANNED, {PROPS + "impactStartTime": "2027-01-06T00:00:00.1234567Z"}, "window.start",
                     utc("2027-01-06T00:00:00.123456Z"), id="time-7-digits"),
        pytest.param(PLANNED, {PROPS + "impactStartTime": "2027-01-06T00:00:00.5Z"}, "window.start",
                     utc("2027-01-06T00:00:00.500000Z"), id="time-1-digit"),
        pytest.param(PLANNED, {PROPS + "impactStartTime": "2027-01-06 00:00z"}, "window.start",
                     utc("2027-01-06T00:00:00Z"), id="time-space-no-seconds"),
        pytest.param(PLANNED, {CTX + "eventTimestamp": "2026-12-02T03:14:05.1234567+00:00"}, "event_time",
                     utc("2026-12-02T03:14:05.123456Z"), id="event-time-7-digits"),
        pytest.param(PLANNED, {CTX + "eventTimestamp": DELETE}, "event_time", utc("2027-01-06T00:12:20.512Z"),
                     id="event-time-falls-back-to-fired"),
        pytest.param(INCIDENT, {LOG + "eventTimestamp": DELETE}, "event_time", utc("2027-01-14T02:31:19.103400Z"),
                     id="legacy-event-time-falls-back-to-submission"),
        pytest.param(PLANNED, {PROPS + "impactMitigationTime": DELETE}, "window.end", None, id="no-mitigation-time"),
        # booleans as strings, test-payload flags, rule id spellings, signal type spellings
        pytest.param(PLANNED, {PROPS + "isHIR": "True", PROPS + "IsSynthetic": "True"}, "warnings", (),
                     id="bool-strings"),
        pytest.param(PLANNED, {PROPS + "isHIR": True}, "warnings", (), id="bool-real"),
        pytest.param(PLANNED, {ESS + "alertRuleID": "/subscriptions/x/rule"}, "warnings", (), id="alertRuleID"),
        pytest.param(PLANNED, {ESS + "alertRuleId": "/subscriptions/x/rule"}, "warnings", (), id="alertRuleId"),
        pytest.param(PLANNED, {ESS + "signalType": "ActivityLog"}, "warnings", (), id="signal-type-no-space"),
        pytest.param(PLANNED, {ESS + "signalType": DELETE}, "warnings", (), id="signal-type-missing"),
        # monitoringService and schemaId spellings
        pytest.param(RESOURCE, {ESS + "monitoringService": "ResourceHealth"}, "kind", EventKind.RESOURCE_HEALTH,
                     id="resourcehealth-camel"),
        pytest.param(RESOURCE, {ESS + "monitoringService": "resourcehealth"}, "kind", EventKind.RESOURCE_HEALTH,
                     id="resourcehealth-lower"),
        pytest.param(RESOURCE, {ESS + "monitoringService": "RESOURCE_HEALTH"}, "kind", EventKind.RESOURCE_HEALTH,
                     id="resourcehealth-upper-underscore"),
        pytest.param(PLANNED, {"schemaId": "AzureMonitorCommonAlertSchema"}, "schema", "common", id="schema-case"),
        # incidentType → kind
        pytest.param(PLANNED, {PROPS + "incidentType": "Incident"}, "kind", EventKind.INCIDENT, id="incident"),
        pytest.param(PLANNED, {PROPS + "incidentType": "ActionRequired"}, "kind", EventKind.HEALTH_ADVISORY,
                     id="action-required"),
        pytest.param(PLANNED, {PROPS + "incidentType": "Informational"}, "kind", EventKind.HEALTH_ADVISORY,
                     id="informational"),
        pytest.param(PLANNED, {PROPS + "incidentType": "Security"}, "kind", EventKind.SECURITY, id="security"),
        pytest.param(PLANNED, {PROPS + "incidentType": "maintenance"}, "kind", EventKind.MAINTENANCE, id="lower-case"),
        # fallbacks and missing optional fields
        pytest.param(PLANNED, {PROPS + "title": DELETE, PROPS + "defaultLanguageTitle": "Default title"}, "title",
                     "Default title", id="title-from-default-language"),
        pytest.param(PLANNED, {PROPS + "communication": DELETE, PROPS + "defaultLanguageContent": "<p>Default</p>"},
                     "communication", "Default", id="communication-from-default-language"),
        pytest.param(PLANNED, {PROPS + "communication": DELETE, PROPS + "defaultLanguageContent": DELETE},
                     "communication", "", id="no-communication"),
        pytest.param(PLANNED, {CTX + "eventDataId": DELETE, PROPS + "communicationId": DELETE}, "dedup_key",
                     "alert/" + PLANNED["data"]["essentials"]["alertId"].lower(), id="dedup-falls-back-to-alert-id"),
        pytest.param(PLANNED, {ESS + "alertTargetIDs": [f"/subscriptions/{SUB.upper()}", "/providers/x"]},
                     "subscription_ids", (SUB,), id="subscription-upper-case"),
        pytest.param(PLANNED, {ESS + "alertTargetIDs": DELETE}, "subscription_ids", (), id="no-targets"),
        pytest.param(PLANNED, {PROPS + "title": "  Two\nlines\x00 "}, "title", "Two lines", id="title-one-line"),
        # Resource Health in the legacy schema
        pytest.param(INCIDENT, {LOG + "eventSource": "ResourceHealth", LOG + "resourceId": VM,
                                LOG + "properties": {"title": "Down", "currentHealthStatus": "Unavailable"}},
                     "resource.resource_id", VM, id="legacy-resource-health"),
        pytest.param(INCIDENT, {LOG + "eventSource": 7, LOG + "resourceId": VM,
                                LOG + "operationName": "Microsoft.Resourcehealth/healthevent/Activated/action"},
                     "kind", EventKind.RESOURCE_HEALTH, id="legacy-numeric-source-resource-health"),
        pytest.param(RESOURCE, {CTX + "level": "Informational", CTX + "eventSource": "ResourceHealth"},
                     "resource.current", "Unavailable", id="resource-health-text-level"),
        pytest.param(RESOURCE, {PROPS + "currentHealthStatus": None, PROPS + "cause": DELETE}, "resource.cause", None,
                     id="resource-health-nulls"),
    ],
)
def test_quirk_is_accepted(base, changes, name, expected):
    event = parse(base, changes)
    assert field(event, name) == expected
    assert event.warnings == ()


def test_text_and_bom_input_are_accepted():
    body = json.dumps(PLANNED)
    assert parse_alert(body).tracking_id == "XY12-3ZQ"
    assert parse_alert(b"\xef\xbb\xbf" + body.encode()).tracking_id == "XY12-3ZQ"


# --------------------------------------------------------------------------------------------------------------
# Malformed optional fields: warnings, the event still relayed


@pytest.mark.parametrize(
    "base, changes, name, expected, warned",
    [
        pytest.param(PLANNED, {PROPS + "impactedServices": "[{not json"}, "services", ("Virtual Machines",),
                     ["$.data.alertContext.properties.impactedServices"], id="impacted-bad-json"),
        pytest.param(PLANNED, {PROPS + "impactedServices": "[" * 100 + "]" * 100}, "regions", ("Japan East",),
                     ["$.data.alertContext.properties.impactedServices"], id="impacted-too-deep"),
        pytest.param(PLANNED, {PROPS + "impactedServices": {"ServiceName": "x"}}, "services", ("Virtual Machines",),
                     ["$.data.alertContext.properties.impactedServices"], id="impacted-object"),
        pytest.param(PLANNED, {PROPS + "impactedServices": [1, {"ServiceName": "Storage", "ImpactedRegions": "x"}]},
                     "services", ("Storage",),
                     ["$.data.alertContext.properties.impactedServices[0]",
                      "$.data.alertContext.properties.impactedServices[1].ImpactedRegions"], id="impacted-bad-items"),
        pytest.param(PLANNED, {PROPS + "impactedServices": [{"ServiceName": "VM", "ImpactedSubscriptions": ["nope"]}]},
                     "subscription_ids", (SUB,),
                     ["$.data.alertContext.properties.impactedServices[0].ImpactedSubscriptions[0]"],
                     id="impacted-bad-subscription"),
        pytest.param(PLANNED, {PROPS + "impactStartTime": "soon"}, "window.start", None,
                     ["$.data.alertContext.properties.impactStartTime"], id="time-not-a-time"),
        pytest.param(PLANNED, {PROPS + "impactMitigationTime": "2027-13-01T00:00:00Z"}, "window.end", None,
                     ["$.data.alertContext.properties.impactMitigationTime"], id="time-month-13"),
        pytest.param(PLANNED, {PROPS + "impactStartTime": 1798761600}, "window.start", None,
                     ["$.data.alertContext.properties.impactStartTime"], id="time-number"),
        pytest.param(PLANNED, {PROPS + "impactStartTime": "0001-01-01T00:00:00+01:00"}, "window.start", None,
                     ["$.data.alertContext.properties.impactStartTime"], id="time-before-year-1"),
        pytest.param(PLANNED, {CTX + "eventTimestamp": "yesterday"}, "event_time", utc("2027-01-06T00:12:20.512Z"),
                     ["$.data.alertContext.eventTimestamp"], id="event-time-bad-uses-fired"),
        pytest.param(PLANNED, {CTX + "level": "Severe"}, "level", "Severe", ["$.data.alertContext.level"],
                     id="level-unknown-kept"),
        pytest.param(PLANNED, {CTX + "level": 9}, "level", "9", ["$.data.alertContext.level"],
                     id="level-number-unknown"),
        pytest.param(PLANNED, {CTX + "level": [3]}, "level", None, ["$.data.alertContext.level"], id="level-list"),
        pytest.param(PLANNED, {PROPS + "incidentType": "Outage"}, "kind", EventKind.MAINTENANCE,
                     ["$.data.alertContext.properties.incidentType"], id="incident-type-from-operation"),
        pytest.param(PLANNED, {PROPS + "incidentType": "Outage", CTX + "operationName": "x"}, "kind",
                     EventKind.HEALTH_ADVISORY, ["$.data.alertContext.properties.incidentType"],
                     id="incident-type-unknown"),
        pytest.param(PLANNED, {PROPS + "incidentType": DELETE, CTX + "operationName": DELETE}, "kind",
                     EventKind.HEALTH_ADVISORY, ["$.data.alertContext.properties.incidentType"],
                     id="incident-type-missing"),
        pytest.param(PLANNED, {PROPS + "trackingId": DELETE}, "tracking_id", None,
                     ["$.data.alertContext.properties.trackingId"], id="tracking-id-missing"),
        pytest.param(PLANNED, {PROPS + "title": DELETE, PROPS + "defaultLanguageTitle": DELETE}, "title", "",
                     ["$.data.alertContext.properties.title"], id="title-missing"),
        pytest.param(PLANNED, {PROPS + "title": {"en": "x"}}, "title", PLANNED["data"]["alertContext"]["properties"]
                     ["defaultLanguageTitle"], ["$.data.alertContext.properties.title"], id="title-object"),
        pytest.param(PLANNED, {PROPS + "communication": ["<p>x</p>"]}, "communication",
                     parse(PLANNED).communication, ["$.data.alertContext.properties.communication"],
                     id="communication-list"),
        pytest.param(PLANNED, {ESS + "alertTargetIDs": f"/subscriptions/{SUB}"}, "subscription_ids", (),
                     ["$.data.essentials.alertTargetIDs"], id="targets-not-a-list"),
        pytest.param(PLANNED, {ESS + "signalType": "Metric"}, "kind", EventKind.MAINTENANCE,
                     ["$.data.essentials.signalType"], id="signal-type-metric"),
        pytest.param(INCIDENT, {LOG + "subscriptionId": "sub-1"}, "subscription_ids", (),
                     ["$.data.context.activityLog.subscriptionId"], id="legacy-subscription-not-a-guid"),
        pytest.param(RESOURCE, {PROPS + "title": DELETE}, "title", "", ["$.data.alertContext.properties.title"],
                     id="resource-health-title-missing"),
        pytest.param(RESOURCE, {PROPS + "currentHealthStatus": 1.5, PROPS + "details": {"a": 1}}, "resource.current",
                     "1.5", ["$.data.alertContext.properties.details"], id="resource-health-odd-types"),
    ],
)
def test_malformed_optional_field_is_a_warning(base, changes, name, expected, warned):
    event = parse(base, changes)
    assert field(event, name) == expected
    assert warning_paths(event) == warned
    assert all(": " in w and w.split(": ", 1)[1] for w in event.warnings)


def test_warning_says_what_was_expected():
    event = parse(PLANNED, {PROPS + "impactStartTime": "soon"})
    assert event.warnings == (
        "$.data.alertContext.properties.impactStartTime: "
        "expected an ISO 8601 time such as 2027-01-06T00:00:00Z, got 'soon'",
    )


# --------------------------------------------------------------------------------------------------------------
# Bad input: PayloadError with every problem and its path


@pytest.mark.parametrize(
    "raw, message",
    [
        pytest.param(b"", "not valid JSON: Expecting value at line 1, column 1", id="empty"),
        pytest.param(b'{"schemaId": "x",\n  "data": }', "not valid JSON: Expecting value at line 2, column 11",
                     id="json-line-column"),
        pytest.param(b"\xff{}", "not valid UTF-8 at line 1, column 1 (byte 0)", id="utf8-first-byte"),
        pytest.param(b'{"a":\n  "\xe3\x81"}', "not valid UTF-8 at line 2, column 4 (byte 9)", id="utf8-line-column"),
        pytest.param(b"[]", "expected a JSON object at the top level, got a list", id="top-level-list"),
        pytest.param(b"null", "missing; expected a JSON object at the top level", id="top-level-null"),
        pytest.param(b'"alert"', "expected a JSON object at the top level, got 'alert'", id="top-level-string"),
        pytest.param(b"42", "expected a JSON object at the top level, got the number 42", id="top-level-number"),
        pytest.param(b'{"a": NaN}', "the number NaN at line 1, column 7 is not finite", id="nan"),
        pytest.param(b'{"a": "1e999999",\n "b": [-Infinity]}', "the number -Infinity at line 2, column 8 is not finite",
                     id="infinity-line-column"),
        pytest.param(b'{"a": ' + b"1" * 5000 + b"}", "not valid JSON: Exceeds the limit", id="huge-integer"),
        pytest.param(b"[" * 100_000, f"nested deeper than {MAX_DEPTH} levels at line 1, column {MAX_DEPTH + 1}",
                     id="deep-brackets"),
        pytest.param(b'{"a":' * 70 + b"1" + b"}" * 70, f"nested deeper than {MAX_DEPTH} levels at line 1, column 321",
                     id="deep-objects"),
        pytest.param(None, "expected the body as bytes or text, got NoneType", id="not-bytes"),
    ],
)
def test_unreadable_body(raw, message):
    with pytest.raises(PayloadError) as exc:
        parse_alert(raw)
    assert problem_paths(exc)[0] == "$"
    assert exc.value.problems[0].message.startswith(message)
    assert not exc.value.too_large


def test_brackets_inside_strings_do_not_count_as_nesting():
    with pytest.raises(PayloadError) as exc:
        parse_alert(b'{"x": "' + b"[{" * 100 + b'"}')
    assert problem_paths(exc) == ("$.schemaId", "$.data")


def test_nesting_up_to_max_depth_is_accepted():
    doc = mutate(PLANNED, {})
    doc["data"]["customProperties"] = json.loads("[" * (MAX_DEPTH - 2) + "]" * (MAX_DEPTH - 2))
    assert parse(doc).tracking_id == "XY12-3ZQ"
    doc["data"]["customProperties"] = [doc["data"]["customProperties"]]
    with pytest.raises(PayloadError, match="nested deeper than 64 levels"):
        parse(doc)


@pytest.mark.parametrize(
    "raw",
    [b" " * (MAX_BYTES + 1), " " * (MAX_BYTES + 1), "あ" * (MAX_BYTES // 3 + 1)],
    ids=["bytes", "text", "multibyte-text"],
)
def test_too_large(raw):
    with pytest.raises(PayloadError) as exc:
        parse_alert(raw)
    assert exc.value.too_large
    assert problem_paths(exc) == ("$",)
    assert str(exc.value) == f"$: the body is larger than the {MAX_BYTES} bytes accepted"


def test_largest_body_is_accepted():
    body = json.dumps(PLANNED).encode()
    assert parse_alert(body + b" " * (MAX_BYTES - len(body))).tracking_id == "XY12-3ZQ"


@pytest.mark.parametrize(
    "base, changes, paths",
    [
        pytest.param(PLANNED, {"schemaId": DELETE}, ("$.schemaId",), id="no-schema"),
        pytest.param(PLANNED, {"schemaId": "Microsoft.Insights/LogAlert"}, ("$.schemaId",), id="unknown-schema"),
        pytest.param(PLANNED, {"schemaId": 1}, ("$.schemaId",), id="schema-number"),
        pytest.param(PLANNED, {"data": DELETE}, ("$.data",), id="no-data"),
        pytest.param(PLANNED, {"data": []}, ("$.data",), id="data-list"),
        pytest.param(PLANNED, {"schemaId": DELETE, "data": "x"}, ("$.schemaId", "$.data"), id="no-schema-bad-data"),
        pytest.param(PLANNED, {ESS[:-1]: DELETE}, ("$.data.essentials",), id="no-essentials"),
        pytest.param(PLANNED, {CTX[:-1]: "context"}, ("$.data.alertContext",), id="context-string"),
        pytest.param(PLANNED, {ESS[:-1]: None, CTX[:-1]: DELETE}, ("$.data.essentials", "$.data.alertContext"),
                     id="no-essentials-no-context"),
        pytest.param(PLANNED, {PROPS[:-1]: DELETE}, ("$.data.alertContext.properties",), id="no-properties"),
        pytest.param(RESOURCE, {ESS + "alertTargetIDs": DELETE}, ("$.data.essentials.alertTargetIDs",),
                     id="resource-health-without-resource"),
        pytest.param(RESOURCE, {ESS + "alertTargetIDs": [], PROPS[:-1]: DELETE},
                     ("$.data.essentials.alertTargetIDs", "$.data.alertContext.properties"),
                     id="resource-health-without-resource-or-properties"),
        pytest.param(PLANNED, {"schemaId": SUPPORTED_SCHEMAS[1]}, ("$.data.context",), id="common-body-legacy-schema"),
        pytest.param(INCIDENT, {"schemaId": SUPPORTED_SCHEMAS[0]}, ("$.data.essentials", "$.data.alertContext"),
                     id="legacy-body-common-schema"),
        pytest.param(INCIDENT, {"data.context": DELETE}, ("$.data.context",), id="legacy-no-context"),
        pytest.param(INCIDENT, {"data.context.activityLog": 5}, ("$.data.context.activityLog",), id="legacy-no-log"),
        pytest.param(INCIDENT, {LPROPS[:-1]: DELETE}, ("$.data.context.activityLog.properties",),
                     id="legacy-no-properties"),
        pytest.param(INCIDENT, {LOG + "eventSource": "Administrative"}, ("$.data.context.activityLog.eventSource",),
                     id="legacy-administrative"),
        pytest.param(INCIDENT, {LOG + "eventSource": 7, LOG + "operationName": "Microsoft.Compute/x/action",
                                LPROPS[:-1]: {"title": "t"}}, ("$.data.context.activityLog.eventSource",),
                     id="legacy-numeric-source-unknown"),
        pytest.param(INCIDENT, {LOG + "eventSource": DELETE, LOG + "operationName": DELETE, LPROPS[:-1]: DELETE},
                     ("$.data.context.activityLog.properties", "$.data.context.activityLog.eventSource"),
                     id="legacy-no-source-no-properties"),
        pytest.param(INCIDENT, {LOG + "eventSource": "ResourceHealth"}, ("$.data.context.activityLog.resourceId",),
                     id="legacy-resource-health-without-resource"),
    ],
)
def test_bad_structure_lists_every_problem(base, changes, paths):
    with pytest.raises(PayloadError) as exc:
        parse(base, changes)
    assert problem_paths(exc) == paths
    assert not exc.value.too_large
    assert str(exc.value) == "; ".join(f"{p.path}: {p.message}" for p in exc.value.problems)


def test_problems_name_what_is_supported():
    with pytest.raises(PayloadError) as exc:
        parse(PLANNED, {"schemaId": "x", "data": DELETE})
    assert [str(p) for p in exc.value.problems] == [
        "$.schemaId: expected one of the supported schemas azureMonitorCommonAlertSchema, "
        "Microsoft.Insights/activityLogs, got 'x'",
        "$.data: missing; expected an object",
    ]


# --------------------------------------------------------------------------------------------------------------
# What the pipeline could not deliver is refused at the intake, with its path

PLANNED_BODY = json.dumps(PLANNED, indent=2)
SCHEDULED = "data.event."


def refused(body: str, endpoint: str = ALERTS) -> list[dict[str, str]]:
    """The problems of the intake's 400."""
    reply = ingest(body.encode(), lambda raw, event: "kept", endpoint)
    assert reply.status == 400, reply.body
    return reply.body["errors"]


def number_at(literal: str, after: str) -> tuple[str, int, int]:
    """The planned maintenance with `literal` for the number that follows `after`, and where it stands."""
    start = PLANNED_BODY.index(after) + len(after)
    end = start + len(PLANNED_BODY[start:].split(",", 1)[0])
    body = PLANNED_BODY[:start] + literal + PLANNED_BODY[end:]
    return body, body.count("\n", 0, start) + 1, start - body.rfind("\n", 0, start)


@pytest.mark.parametrize("literal", ["1e999999", "-1e999999", "Infinity", "-Infinity", "NaN"])
def test_a_number_that_is_not_finite_is_refused_with_its_line_and_column(literal):
    body, line, column = number_at(literal, '"channels": ')
    assert refused(body) == [{"path": "$", "detail": f"the number {literal} at line {line}, column {column} is not finite"}]


def test_a_number_that_is_not_finite_inside_impacted_services_is_a_warning():
    impacted = json.dumps([{"ServiceName": "Virtual Machines", "ImpactedRegions": [{"RegionName": "Japan East"}]}])
    event = parse(PLANNED, {PROPS + "impactedServices": impacted.replace("[{", "[1e999999, {", 1)})
    assert warning_paths(event) == ["$.data.alertContext.properties.impactedServices"]
    assert "the number 1e999999 at line 1, column 2 is not finite" in event.warnings[0]


def with_scheduled(changes: dict) -> str:
    return json.dumps(mutate(SCHEDULED_EVENT, changes))


@pytest.mark.parametrize(
    "base, changes, path, detail",
    [
        pytest.param(PLANNED, {PROPS + "trackingId": "X" * 240}, "$.data.alertContext.properties.trackingId",
                     "expected an id of at most 128 characters, got 240", id="tracking-id-240"),
        pytest.param(PLANNED, {PROPS + "trackingId": "XY12\u0000-3ZQ"}, "$.data.alertContext.properties.trackingId",
                     "expected an id of printable characters, got U+0000 at character 5", id="tracking-id-control"),
        pytest.param(PLANNED, {PROPS + "trackingId": "../../XY12-3ZQ"}, "$.data.alertContext.properties.trackingId",
                     "expected an id without '/', got one at character 3", id="tracking-id-path"),
        pytest.param(PLANNED, {PROPS + "communicationId": "7/1"}, "$.data.alertContext.properties.communicationId",
                     "expected an id without '/', got one at character 2", id="communication-id-slash"),
        pytest.param(PLANNED, {CTX + "eventDataId": "e0e0\u202e"}, "$.data.alertContext.eventDataId",
                     "expected an id of printable characters, got U+202E at character 5", id="event-data-id-bidi"),
        pytest.param(PLANNED, {ESS + "alertId": "/a" * 513}, "$.data.essentials.alertId",
                     "expected an id of at most 1024 characters, got 1,026", id="alert-id-long"),
        pytest.param(RESOURCE, {ESS + "alertTargetIDs": [VM + "\n"  + VM]}, "$.data.essentials.alertTargetIDs[0]",
                     f"expected an id of printable characters, got U+000A at character {len(VM) + 1}",
                     id="resource-id-newline"),
        pytest.param(INCIDENT, {LOG + "eventSource": "ResourceHealth", LOG + "resourceId": VM + "\ud800"},
                     "$.data.context.activityLog.resourceId",
                     f"expected an id of printable characters, got U+D800 at character {len(VM) + 1}",
                     id="legacy-resource-id"),
        pytest.param(PLANNED, {PROPS + "impactMitigationTime": "9999-12-31T23:59:59Z"},
                     "$.data.alertContext.properties.impactMitigationTime",
                     "a date after 9998 cannot be shown; got '9999-12-31T23:59:59Z'", id="mitigation-9999"),
        pytest.param(PLANNED, {PROPS + "impactStartTime": "1899-12-31T23:59:59Z"},
                     "$.data.alertContext.properties.impactStartTime",
                     "a date before 1900 cannot be shown; got '1899-12-31T23:59:59Z'", id="start-1899"),
        pytest.param(PLANNED, {CTX + "eventTimestamp": "0001-01-01T00:00:00Z"}, "$.data.alertContext.eventTimestamp",
                     "a date before 1900 cannot be shown; got '0001-01-01T00:00:00Z'", id="event-time-year-1"),
        pytest.param(PLANNED, {ESS + "firedDateTime": "9999-01-01T00:00:00+00:00"}, "$.data.essentials.firedDateTime",
                     "a date after 9998 cannot be shown; got '9999-01-01T00:00:00+00:00'", id="fired-9999"),
        pytest.param(INCIDENT, {LOG + "submissionTimestamp": "9999-12-31T23:59:59Z", LOG + "eventTimestamp": DELETE},
                     "$.data.context.activityLog.submissionTimestamp",
                     "a date after 9998 cannot be shown; got '9999-12-31T23:59:59Z'", id="submitted-9999"),
    ],
)
def test_what_cannot_be_delivered_is_refused_with_its_path(base, changes, path, detail):
    assert refused(json.dumps(mutate(base, changes))) == [{"path": path, "detail": detail}]


@pytest.mark.parametrize(
    "changes, path, detail",
    [
        pytest.param({SCHEDULED + "EventId": "E" * 129}, "$.data.event.EventId",
                     "expected an id of at most 128 characters, got 129", id="event-id-long"),
        pytest.param({SCHEDULED + "EventId": "a/b"}, "$.data.event.EventId",
                     "expected an id without '/', got one at character 2", id="event-id-slash"),
        pytest.param({"data.vm.resourceId": "/subscriptions/\u0007"}, "$.data.vm.resourceId",
                     "expected an id of printable characters, got U+0007 at character 16", id="vm-resource-id"),
        pytest.param({SCHEDULED + "NotBefore": "Fri, 31 Dec 9999 23:59:59 GMT"}, "$.data.event.NotBefore",
                     "a date after 9998 cannot be shown; got 'Fri, 31 Dec 9999 23:59:59 GMT'", id="not-before-9999"),
        pytest.param({SCHEDULED + "NotBefore": "Sun, 31 Dec 9998 23:59:30 GMT", SCHEDULED + "DurationInSeconds": 60},
                     "$.data.event.DurationInSeconds",
                     "a date after 9998 cannot be shown; the event ends 60 seconds after NotBefore", id="ends-9999"),
        pytest.param({"data.observedAt": "1066-10-14T09:00:00Z"}, "$.data.observedAt",
                     "a date before 1900 cannot be shown; got '1066-10-14T09:00:00Z'", id="observed-1066"),
    ],
)
def test_what_cannot_be_delivered_of_a_scheduled_event_is_refused_with_its_path(changes, path, detail):
    assert refused(with_scheduled(changes), SCHEDULED_EVENTS) == [{"path": path, "detail": detail}]


def test_the_edges_of_what_can_be_delivered_are_accepted():
    event = parse(PLANNED, {PROPS + "trackingId": "X" * 128, PROPS + "impactStartTime": "1900-01-01T00:00:00Z",
                            PROPS + "impactMitigationTime": "9998-12-31T23:59:59.9999999Z", ESS + "alertId": "/a" * 512})
    assert event.tracking_id == "X" * 128 and len(event.alert_id) == 1024
    assert (event.window.start.year, event.window.end.year) == (1900, 9998)
    scheduled = parse_alert(with_scheduled({SCHEDULED + "NotBefore": "Sun, 31 Dec 9998 23:58:59 GMT",
                                            SCHEDULED + "DurationInSeconds": 59}))
    assert scheduled.window.end == datetime(9998, 12, 31, 23, 59, 58, tzinfo=UTC)


def test_an_unreadable_time_near_the_ends_stays_a_warning():
    event = parse(PLANNED, {PROPS + "impactStartTime": "0001-01-01T00:00:00+09:00"})
    assert warning_paths(event) == ["$.data.alertContext.properties.impactStartTime"]
    assert event.window.start is None


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2027-01-06T00:00:00Z", "2027-01-06T00:00:00+00:00"),
        ("2027-01-06T00:00:00.1234567+00:00", "2027-01-06T00:00:00.123456+00:00"),
        ("2027-01-06T09:00:00+09:00", "2027-01-06T00:00:00+00:00"),
        ("2027-01-06T00:00:00", "2027-01-06T00:00:00+00:00"),
        ("2027-01-06", None),
        ("2027-01-06T00:00:00+24:00", None),
        ("2027-01-06T00:00:60Z", None),
        ("٢٠٢٧-01-06T00:00:00Z", None),
    ],
)
def test_parse_timestamp(text, expected):
    when = parse_timestamp(text)
    assert (when.isoformat() if when else None) == expected


# --------------------------------------------------------------------------------------------------------------
# Whatever comes in, only an Event or a PayloadError comes out

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
QUIRKY_VALUES = st.sampled_from(
    ["", " ", "2", "ResourceHealth", "Resource Health", "ServiceHealth", "[", "[]", "[{}]", "[[[[", "{}", "<p>",
     "2027-02-30T00:00:00Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "True", "\ud800", "\x00",
     "Microsoft.ServiceHealth/", "/subscriptions/", 3, -1, 10**30, 1.5, True, None, [], {}, ["x"], [None]]
)
ALL_EXAMPLES = [example(p.name) for p in sorted(EXAMPLES.glob("*.json"))]


def paths_in(node, prefix=()):
    yield prefix
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        yield from paths_in(child, (*prefix, key))


def check_only_event_or_payload_error(raw):
    try:
        event = parse_alert(raw)
    except PayloadError as exc:
        assert exc.problems and all(isinstance(p, Problem) and p.path.startswith("$") for p in exc.problems)
        return
    assert isinstance(event, Event)
    for when in (event.window.start, event.window.end, event.event_time):
        assert when is None or when.utcoffset() == timedelta(0)
    texts = [event.title, event.communication, *event.services, *event.regions, *event.warnings]
    for text in texts:
        text.encode("utf-8")


@settings(max_examples=examples(300))
@given(st.binary(max_size=500))
def test_any_bytes(raw):
    check_only_event_or_payload_error(raw)


@settings(max_examples=examples(200))
@given(st.text(max_size=300))
def test_any_text(raw):
    check_only_event_or_payload_error(raw)


@settings(max_examples=examples(300))
@given(JSON_VALUES)
def test_any_json_value(value):
    check_only_event_or_payload_error(json.dumps(value))


@settings(max_examples=examples(300))
@given(
    schema=st.sampled_from([*SUPPORTED_SCHEMAS, "x"]),
    service=st.sampled_from(["ServiceHealth", "Resource Health", 2, None]),
    context=JSON_VALUES,
    targets=JSON_VALUES,
)
def test_any_alert_context(schema, service, context, targets):
    body = {"schemaId": schema, "data": {"essentials": {"monitoringService": service, "alertTargetIDs": targets},
                                         "alertContext": context, "context": {"activityLog": context}}}
    check_only_event_or_payload_error(json.dumps(body))


@settings(max_examples=examples(500), suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_examples(data):
    doc = copy.deepcopy(data.draw(st.sampled_from(ALL_EXAMPLES)))
    for _ in range(data.draw(st.integers(1, 3))):
        paths = list(paths_in(doc))[1:]
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        *parents, last = path
        node = doc
        for key in parents:
            node = node[key]
        if data.draw(st.booleans()) and isinstance(node, dict):
            del node[last]
        else:
            # a copy: sampled_from hands out the same list/dict objects, which a later step would mutate
            node[last] = copy.deepcopy(data.draw(st.one_of(QUIRKY_VALUES, JSON_VALUES)))
    check_only_event_or_payload_error(json.dumps(doc))


@settings(max_examples=examples(200))
@given(st.data())
def test_truncated_and_corrupted_examples(data):
    body = (EXAMPLES / data.draw(st.sampled_from(sorted(EXPECTED_EXAMPLES)))).read_bytes()
    cut = data.draw(st.integers(0, len(body)))
    noise = data.draw(st.binary(max_size=8))
    check_only_event_or_payload_error(body[:cut] + noise + body[cut + len(noise):])
