"""The backfill against the ARM emulator (tests/emulator): the real azure-mgmt-monitor and
azure-mgmt-resourcehealth clients over HTTPS on 127.0.0.1, the SQLite ledger and inbox, the pipeline."""
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from relay.alerts import parse_alert
from relay.backfill import OVERLAP, find_missed, watermark_name
from relay.config import AzureSettings, default_config
from relay.hosts.inline import process_inline
from relay.hosts.wiring import Paths, open_relay
from relay.hosts.worker import handle_next
from relay.inbox.sqlite import SqliteInbox
from relay.model import SendResult
from relay.pipeline import process
from relay.store.sqlite import SqliteLedger
from tests.emulator import CLIENT_ID, CLIENT_SECRET, TENANT_ID, ArmEmulator, Estate
from tests.emulator.estate import activity_record, administrative_record, planned_maintenance

ALERTS = Path(__file__).resolve().parent.parent / "examples" / "alerts"
NOW = datetime(2027, 1, 21, tzinfo=UTC)
WEEK = NOW - timedelta(days=7)


def alert(name: str) -> bytes:
    return (ALERTS / f"{name}.json").read_bytes()


def news(subscriptions: int = 2, now: datetime = NOW) -> Estate:
    """Subscription A: in its Activity Log, the Rescheduled update of XY12-3ZQ (example 03) and an incident
    (06), besides a Resource Health record (07) and administrative ones; in Resource Health, XY12-3ZQ,
    a new maintenance AB12-3CD, a service issue and a maintenance last updated before the week.
    Subscription B, if asked for: the same Rescheduled communication and the same AB12-3CD. Any more: empty.
    Every record is as far before `now` as the examples are before NOW."""
    estate = Estate(vms=2, subscriptions=subscriptions)
    a, b = estate.subscriptions[0], estate.subscriptions[1:2]

    def record(name: str, sub: str) -> dict:
        example = json.loads(alert(name))
        return activity_record(example, sub, at=now - (NOW - parse_alert(alert(name)).event_time))

    def maintenance(sub: str, tracking_id: str, ago: timedelta, **kw) -> dict:
        return planned_maintenance(sub, tracking_id, now - ago, start=now + timedelta(days=5),
                                   end=now + timedelta(days=6), **kw)

    estate.log(*(record("03-rescheduled", sub) for sub in (a, *b)), record("06-incident", a),
               record("07-resource-health", a),
               *(administrative_record(a, now - timedelta(hours=n), n) for n in range(1, 4)))
    estate.announce(a, maintenance(a, "XY12-3ZQ", timedelta(hours=20)),
                    maintenance(a, "AB12-3CD", timedelta(hours=2)),
                    maintenance(a, "SI12-3XX", timedelta(hours=2), event_type="ServiceIssue"),
                    maintenance(a, "OLD1-2AB", timedelta(days=7, hours=1)))  # within the day queryStartTime asks for
    for sub in b:
        estate.announce(sub, maintenance(sub, "AB12-3CD", timedelta(hours=2)))
    return estate


def credential_of(emu: ArmEmulator, secret: str = CLIENT_SECRET):
    def create():
        from azure.identity.aio import ClientSecretCredential

        return ClientSecretCredential(TENANT_ID, CLIENT_ID, secret, authority=emu.url,
                                      disable_instance_discovery=True, connection_verify=str(emu.tls.bundle))

    return create


def backfill(emu: ArmEmulator, ledger, keep, now: datetime = NOW, subscriptions=None, secret=CLIENT_SECRET,
             scope: dict | None = None, **kw):
    settings = AzureSettings(arm_url=emu.url, authority=emu.url, **(scope or {}))
    return find_missed(settings, emu.estate.subscriptions if subscriptions is None else subscriptions, ledger, keep,
                       now, credential=credential_of(emu, secret), connection_verify=str(emu.tls.bundle), **kw)


@pytest.fixture
def ledger(tmp_path):
    ledger = SqliteLedger(tmp_path / "ledger.sqlite")
    yield ledger
    ledger.close()


@pytest.fixture
def inbox(tmp_path):
    inbox = SqliteInbox(tmp_path / "inbox.sqlite")
    yield inbox
    inbox.close()


def keep_in(inbox):
    return lambda body, event: inbox.put(body)


def queued(report) -> list[str]:
    return [event.dedup_key for found in report.subscriptions for event in found.queued]


def relay_all(inbox, tmp_path, ledger_path) -> list:
    """A worker relays the inbox through the whole pipeline into the outbox; the outcomes, in order."""
    relay = open_relay(default_config(tmp_path / "outbox"), Paths(ledger=ledger_path), now=NOW)
    outcomes = []
    try:
        while (outcome := handle_next(inbox, relay)) is not None:
            outcomes.append(outcome)
    finally:
        relay.ledger.close()
    return outcomes


# --- the first run, the second run ----------------------------------------------------------------------

def test_the_first_run_queues_what_was_missed_once(ca, ledger, inbox):
    with ArmEmulator(news(), tls=ca) as emu:
        report = backfill(emu, ledger, keep_in(inbox), since=WEEK)
    a, b = report.subscriptions
    # A's log: the two Service Health communications (not 07 nor the administrative records); its Resource
    # Health: XY12-3ZQ (its log has it) and AB12-3CD (new); not the service issue nor the older maintenance
    assert (a.seen, a.known, [e.dedup_key for e in a.queued]) == (
        4, 1, ["7lmn-0pq/700000000000000101", "xy12-3zq/700000000000000002", "ab12-3cd/resourcehealth-active"])
    assert (b.seen, b.known, b.queued) == (2, 2, [])  # the same communication and event, queued once for A
    assert report.errors == {} and report.totals() == "6 seen, 3 already known, 3 queued, 0 of 2 subscription(s) failed"
    bodies = []
    while (item := inbox.take()) is not None:
        bodies.append(parse_alert(item.body).dedup_key)
    assert bodies == queued(report)  # oldest first, then the Resource Health event
    assert all(ledger.watermark(watermark_name(sub)) == NOW for sub in emu.estate.subscriptions)


def test_only_the_services_and_regions_of_the_alert_rule_are_queued(ca, ledger, inbox):
    """The Activity Log has every Service Health event of the subscription; the alert rule let through only
    some. The incident (06) is in Japan West, the maintenance in Japan East."""
    with ArmEmulator(news(subscriptions=1), tls=ca) as emu:
        scoped = backfill(emu, ledger, None, since=WEEK,
                          scope={"backfill_regions": ("japan east",), "backfill_services": ("Virtual Machines",)})
        other = backfill(emu, ledger, None, since=WEEK, scope={"backfill_services": ("Storage",)})
    (a,) = scoped.subscriptions
    assert [e.dedup_key for e in a.queued] == ["xy12-3zq/700000000000000002", "ab12-3cd/resourcehealth-active"]
    assert a.outside == 1 and "1 outside azure.backfill's services and regions" in a.summary()
    (b,) = other.subscriptions
    assert (b.queued, b.outside) == ([], b.seen)


def test_what_was_queued_is_relayed_and_a_second_run_queues_nothing(ca, ledger, inbox, tmp_path):
    with ArmEmulator(news(), tls=ca) as emu:
        first = backfill(emu, ledger, keep_in(inbox), since=WEEK)
        outcomes = relay_all(inbox, tmp_path, tmp_path / "ledger.sqlite")
        assert [o.status for o in outcomes] == ["delivered"] * 3
        assert len(list((tmp_path / "outbox").glob("*/*"))) == 3 * 3  # teams, slack, email each
        again = backfill(emu, ledger, keep_in(inbox), now=NOW + timedelta(minutes=15))  # from the watermark
        # a record of NOW + 10 min that the log showed only after the run at NOW + 15: the overlap reads it
        emu.estate.log(activity_record(json.loads(alert("03-rescheduled")), emu.estate.subscriptions[0],
                                       at=NOW + timedelta(minutes=10)))
        late = backfill(emu, ledger, keep_in(inbox), now=NOW + timedelta(minutes=30))
        whole_week = backfill(emu, ledger, keep_in(inbox), since=WEEK)  # everything known by the ledger
    assert len(queued(first)) == 3
    assert again.subscriptions[0].start == NOW - OVERLAP and (again.subscriptions[0].seen, queued(again)) == (0, [])
    assert (late.subscriptions[0].seen, late.subscriptions[0].known, queued(late)) == (1, 1, [])
    assert queued(whole_week) == [] and whole_week.totals().startswith("6 seen, 6 already known, 0 queued")
    assert inbox.take() is None


def test_what_the_webhook_delivered_is_skipped(ca, ledger, inbox, tmp_path):
    """The Rescheduled update came through the Action Group (common schema): the backfill finds it by its
    dedup key, and the Resource Health event of its trackingId by its thread."""
    relay = open_relay(default_config(tmp_path / "outbox"), Paths(ledger=tmp_path / "ledger.sqlite"), now=NOW)
    assert process(alert("03-rescheduled"), relay).status == "delivered"
    relay.ledger.close()
    with ArmEmulator(news(subscriptions=1), tls=ca) as emu:
        report = backfill(emu, ledger, keep_in(inbox), since=WEEK)
    assert queued(report) == ["7lmn-0pq/700000000000000101", "ab12-3cd/resourcehealth-active"]
    assert report.subscriptions[0].known == 2


def test_a_resource_health_event_of_a_thread_the_ledger_has_is_skipped(ca, ledger, inbox, tmp_path):
    relay = open_relay(default_config(tmp_path / "outbox"), Paths(ledger=tmp_path / "ledger.sqlite"), now=NOW)
    process(alert("01-planned"), relay)  # XY12-3ZQ's first communication, long before the window
    relay.ledger.close()
    estate = news(subscriptions=1)
    estate.activity = [r for r in estate.activity if "XY12-3ZQ" not in json.dumps(r)]  # its log says nothing new
    with ArmEmulator(estate, tls=ca) as emu:
        report = backfill(emu, ledger, keep_in(inbox), since=WEEK)
    assert "xy12-3zq/resourcehealth-active" not in queued(report)
    assert "ab12-3cd/resourcehealth-active" in queued(report)


# --- failures: one subscription does not block the others -----------------------------------------------------

def test_a_forbidden_subscription_is_reported_and_the_others_go_on(ca, ledger, inbox):
    estate = news(subscriptions=3)
    a, b, denied = estate.subscriptions
    estate.log(activity_record(json.loads(alert("04-inprogress")), denied, at=NOW - timedelta(hours=1)))
    with ArmEmulator(estate, tls=ca, forbidden=(denied,)) as emu:
        report = backfill(emu, ledger, keep_in(inbox), since=WEEK)
    assert report.errors == {denied: "not read: denied (403): the identity needs Reader on the subscription"}
    assert len(queued(report)) == 3 and "xy12-3zq/700000000000000003" not in queued(report)
    assert ledger.watermark(watermark_name(denied)) is None  # read again from where it was, next time
    assert ledger.watermark(watermark_name(a)) == ledger.watermark(watermark_name(b)) == NOW


def test_a_subscription_that_does_not_answer_times_out_within_the_budget(ca, ledger, inbox):
    estate = news(subscriptions=3)
    slow = estate.subscriptions[2]
    with ArmEmulator(estate, tls=ca, hanging=(slow,), hang_seconds=5) as emu:
        report = backfill(emu, ledger, keep_in(inbox), since=WEEK, budget_seconds=1.5)
    assert report.errors == {slow: "not read: timeout"}
    assert len(queued(report)) == 3


def test_a_failed_sign_in_is_reported_without_the_secret(ca, ledger, inbox, caplog):
    caplog.set_level(logging.DEBUG)
    with ArmEmulator(news(subscriptions=1), tls=ca) as emu:
        report = backfill(emu, ledger, keep_in(inbox), since=WEEK, secret="wrong-secret-value")
    assert list(report.errors.values()) == ["not read: sign-in failed (401)"]
    assert "wrong-secret-value" not in caplog.text and CLIENT_SECRET not in caplog.text
    assert inbox.take() is None


def test_inline_a_delivery_that_failed_is_relayed_again_by_the_next_run(ca, tmp_path):
    """Without a queue the timer relays at once; a destination that fails keeps the watermark, and the next
    run finds the delivery unfinished in the ledger and relays it again, to that receiver only."""
    relay = open_relay(default_config(tmp_path / "outbox"), Paths(ledger=tmp_path / "ledger.sqlite"), now=NOW)
    working, relay.max_attempts = relay.channel_for, 1

    class Down:
        def send(self, message):
            return SendResult.failed("HTTP 503", retryable=True)

    relay.channel_for = lambda receiver: Down() if receiver.name == "slack" else working(receiver)
    try:
        with ArmEmulator(news(subscriptions=1), tls=ca) as emu:
            first = backfill(emu, relay.ledger, process_inline(relay), since=WEEK)
            relay.channel_for = working  # Slack is back
            second = backfill(emu, relay.ledger, process_inline(relay), since=WEEK)
            third = backfill(emu, relay.ledger, process_inline(relay), since=WEEK)
    finally:
        relay.ledger.close()
    subscription = emu.estate.subscriptions[0]
    assert list(first.errors) == [subscription]  # not all relayed: the watermark stays
    assert len(queued(second)) >= 1 and second.errors == {}
    assert queued(third) == []
    sent = sorted(path.parent.name for path in (tmp_path / "outbox").glob("*/*"))
    assert sent.count("slack") == sent.count("teams") == sent.count("email")  # each once, Slack on the second run


def test_an_inbox_that_cannot_take_the_alert_keeps_the_watermark(ca, ledger, tmp_path):
    broken = SqliteInbox(tmp_path / "inbox.sqlite")
    broken.close()
    with ArmEmulator(news(subscriptions=1), tls=ca) as emu:
        report = backfill(emu, ledger, keep_in(broken), since=WEEK)
    assert list(report.errors.values()) == ["could not queue (ProgrammingError)"]
    assert ledger.watermark(watermark_name(emu.estate.subscriptions[0])) is None


# --- the calls -------------------------------------------------------------------------------------------------

def test_the_calls_page_and_ask_only_what_is_documented(ca, ledger, inbox):
    with ArmEmulator(news(subscriptions=1), tls=ca, page_size=2) as emu:
        backfill(emu, ledger, keep_in(inbox), since=NOW - timedelta(days=7, hours=12))
    activity = [query for kind, query in emu.queries if kind == "activity log"]
    assert len(activity) == 3  # 6 records in the window (2 Service Health, 07, 3 administrative), 2 a page
    assert activity[0] == {"api-version": "2015-04-01", "$filter": "eventTimestamp ge '2027-01-13T12:00:00Z'"
                                                                  " and eventTimestamp le '2027-01-21T00:00:00Z'"}
    events = [query for kind, query in emu.queries if kind == "health events"]
    assert events[0] == {"api-version": "2025-05-01", "queryStartTime": "01/13/2027"}  # no $filter on eventType
    agents = {kind: " ".join(found) for kind, found in emu.agents.items()}
    assert "azsdk-python-mgmt-monitor/" in agents["activity log"]
    assert "azsdk-python-mgmt-resourcehealth/" in agents["health events"]


def test_a_dry_run_queues_nothing_and_moves_no_watermark(ca, ledger):
    with ArmEmulator(news(subscriptions=1), tls=ca) as emu:
        report = backfill(emu, ledger, None, since=WEEK)
    assert len(queued(report)) == 3
    assert ledger.watermark(watermark_name(emu.estate.subscriptions[0])) is None


def test_the_first_run_reads_a_day_and_never_past_the_retention(ca, ledger, inbox):
    with ArmEmulator(news(subscriptions=1), tls=ca) as emu:
        first = backfill(emu, ledger, keep_in(inbox))
        ancient = backfill(emu, ledger, keep_in(inbox), since=NOW - timedelta(days=400))
    assert first.subscriptions[0].start == NOW - timedelta(days=1)
    assert queued(first) == ["xy12-3zq/700000000000000002", "ab12-3cd/resourcehealth-active"]  # the last day's
    assert ancient.subscriptions[0].start == NOW - timedelta(days=90)
