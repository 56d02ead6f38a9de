"""What the backfill reads, as alert bodies: each one parses, and an Activity Log record gives the Event (and
so the dedup key) the Action Group's alert of the same communication gives. No Azure here: the records are
written as the REST API returns them, and once more through the SDK models, as read.py hands them over."""
import argparse
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.mgmt.monitor.models import EventData
from azure.mgmt.resourcehealth.models import Event as HealthEvent

from relay.alerts import parse_alert
from relay.backfill import convert
from relay.backfill.read import reason
from relay.cli.backfill import since
from relay.enrich.azure.throttle import Unavailable
from relay.model import EventKind, Window
from tests.emulator.estate import activity_record, administrative_record, planned_maintenance

ALERTS = Path(__file__).resolve().parent.parent / "examples" / "alerts"
SERVICE_HEALTH = ["01-planned", "03-rescheduled", "04-inprogress", "05-complete", "06-incident"]
SUB = "0a1b2c3d-1111-2222-3333-444455556666"
NOW = datetime(2027, 1, 21, tzinfo=UTC)


def example(name: str) -> dict:
    return json.loads((ALERTS / f"{name}.json").read_text())


def through_the_sdk(record: dict) -> dict:
    """The record as read.activity_log hands it over: deserialized by azure-mgmt-monitor, serialized back."""
    return EventData.deserialize(record).serialize(keep_readonly=True)


@pytest.mark.parametrize("name", SERVICE_HEALTH)
@pytest.mark.parametrize("sdk", [False, True], ids=["rest", "sdk"])
def test_an_activity_log_record_is_the_alert_of_the_same_communication(name, sdk):
    alert = parse_alert(json.dumps(example(name)))
    record = activity_record(example(name))
    assert convert.is_service_health(through_the_sdk(record) if sdk else record)
    event = parse_alert(convert.activity_log_alert(through_the_sdk(record) if sdk else record))
    assert event.dedup_key == alert.dedup_key and event.thread_key == alert.thread_key
    assert event.warnings == ()
    # the same communication in every respect the relay uses; only the schema and the alert's own id differ
    assert (event.schema, event.alert_id) == ("legacy", None)
    assert replace(event, schema=alert.schema, alert_id=alert.alert_id) == alert


def test_other_categories_are_not_service_health():
    assert not convert.is_service_health(activity_record(example("07-resource-health")))
    assert not convert.is_service_health(administrative_record(SUB, NOW))
    assert not convert.is_service_health({"properties": {"trackingId": "XY12-3ZQ"}})  # no category: not ours


def health_event(**kw) -> dict:
    return planned_maintenance(SUB, "AB12-3CD", NOW - timedelta(hours=2), start=NOW + timedelta(days=5),
                               end=NOW + timedelta(days=6), **kw)


@pytest.mark.parametrize("sdk", [False, True], ids=["rest", "sdk"])
def test_a_planned_maintenance_event_becomes_a_maintenance_alert(sdk):
    record = HealthEvent(health_event()).as_dict() if sdk else health_event()
    assert convert.is_planned_maintenance(record)
    event = parse_alert(convert.health_event_alert(record, SUB))
    assert event.kind is EventKind.MAINTENANCE and event.warnings == ()
    assert (event.tracking_id, event.communication_id, event.stage) == ("AB12-3CD", "resourcehealth-active", "Active")
    assert event.dedup_key == "ab12-3cd/resourcehealth-active" and event.thread_key == "AB12-3CD"
    assert event.title == "Planned maintenance: Virtual Machines - Japan East"
    assert event.communication == "Azure will apply a reboot-required host update."  # safe text, not HTML
    assert (event.services, event.regions, event.subscription_ids) == (("Virtual Machines",), ("Japan East",), (SUB,))
    assert event.window == Window(NOW + timedelta(days=5), NOW + timedelta(days=6))
    assert event.level == "Informational" and not event.is_emergency
    assert event.event_time is None  # never newer than a real communication of the trackingId


def test_the_same_event_read_again_is_the_same_body_and_a_new_status_a_new_communication():
    first = convert.health_event_alert(health_event(), SUB)
    assert convert.health_event_alert(health_event(), SUB) == first
    resolved = parse_alert(convert.health_event_alert(health_event(status="Resolved"), SUB))
    assert resolved.dedup_key == "ab12-3cd/resourcehealth-resolved" and resolved.stage == "Resolved"


def test_an_event_with_little_in_it_still_parses():
    event = parse_alert(convert.health_event_alert({"name": "ZZ99-9ZZ", "properties": {
        "eventType": "PlannedMaintenance", "impact": [{"impactedService": "Virtual Machines"}, "junk"]}}, SUB))
    assert (event.tracking_id, event.stage, event.services, event.regions) == ("ZZ99-9ZZ", "Active",
                                                                              ("Virtual Machines",), ())


def test_only_planned_maintenance_events_are_kept():
    assert not convert.is_planned_maintenance(health_event(event_type="ServiceIssue"))
    assert not convert.is_planned_maintenance({"name": "x"})


def test_an_event_is_in_the_window_by_its_last_update():
    event = health_event()  # updated two hours before NOW
    assert convert.updated_within(event, NOW - timedelta(hours=3), NOW)
    assert not convert.updated_within(event, NOW - timedelta(hours=1), NOW)
    assert convert.updated_within({"properties": {}}, NOW, NOW)  # it does not say: kept, the ledger decides


def test_why_a_subscription_could_not_be_read_never_quotes_the_error():
    denied = HttpResponseError(message="AuthorizationFailed: client secret=s3cr3t")
    denied.status_code = 403
    assert reason(denied) == "denied (403): the identity needs Reader on the subscription"
    assert reason(Unavailable("throttled")) == "throttled"
    assert reason(Unavailable("timeout")) == "timeout"
    assert reason(Unavailable("failed")) == "unreachable"
    assert reason(ClientAuthenticationError(message="AADSTS7000215: invalid secret s3cr3t")) == "sign-in failed"
    server = HttpResponseError(message="boom")
    server.status_code = 500
    assert reason(server) == "failed (HTTP 500)"
    assert reason(ValueError("s3cr3t")) == "failed (ValueError)"


def test_since_takes_durations_and_times():
    assert since("30m") == timedelta(minutes=30)
    assert since("24h") == timedelta(hours=24)
    assert since("7d") == timedelta(days=7)
    assert since("2027-01-05T00:00:00Z") == datetime(2027, 1, 5, tzinfo=UTC)
    assert since("2027-01-05T09:00:00") == datetime(2027, 1, 5, 9, tzinfo=UTC)  # no zone: UTC
    for bad in ("24", "1w", "yesterday", "-3h"):
        with pytest.raises(argparse.ArgumentTypeError, match="30m, 24h, 7d"):
            since(bad)
