"""One contract for every ledger: the embedded SQLite one and the Table Storage one (on Azurite)."""
import os
import random
import socket
import sqlite3
import string
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from relay.model import (
    Acknowledgement,
    Attempt,
    Criterion,
    Event,
    EventKind,
    Hold,
    MaintenanceState,
    Matcher,
    MonitorAlert,
    NoticeSnapshot,
    PriorNotice,
    ResourceHealthChange,
    SendResult,
    Silence,
    VmSnapshot,
    Window,
)
from relay.runtime.leases import this_process
from relay.store import CARD_MAX_BYTES, Seen
from relay.store.snapshots import encode
from relay.store.sqlite import SqliteLedger
from relay.store.tables import TableLedger

pytest_plugins = ["tests.azurite"]

T0 = datetime(2027, 1, 5, 2, 10, tzinfo=UTC)
LEASE = 60.0


def event(communication: str, stage: str, end_day: int = 20, at: datetime | None = T0,
          tracking_id: str = "XY12-3ZQ") -> Event:
    return Event(
        kind=EventKind.MAINTENANCE, schema="common", title="t", communication="c",
        tracking_id=tracking_id, communication_id=communication, stage=stage,
        window=Window(datetime(2027, 1, 6, tzinfo=UTC), datetime(2027, 2, end_day, tzinfo=UTC)), event_time=at,
    )


class Clock:
    def __init__(self):
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Store:
    """One ledger's storage; open() gives another ledger object on it, as another worker would have."""

    factory: object
    clock: Clock = field(default_factory=Clock)
    opened: list = field(default_factory=list)

    def open(self):
        ledger = self.factory(self.clock)
        self.opened.append(ledger)
        return ledger


@pytest.fixture(params=["sqlite", pytest.param("tables", marks=pytest.mark.integration)])  # Azurite
def store(request, tmp_path):
    if request.param == "sqlite":
        path = tmp_path / "ledger.sqlite"
        store = Store(lambda clock: SqliteLedger(path, clock=clock))
    else:
        connection_string = request.getfixturevalue("azurite")
        table = f"ledger{uuid.uuid4().hex[:16]}"
        store = Store(lambda clock: TableLedger.from_connection_string(connection_string, table, clock=clock))
    yield store
    for ledger in store.opened:
        ledger.close()


@pytest.fixture
def ledger(store):
    return store.open()


def in_threads(count: int, work) -> list:
    """Runs work(i) in `count` threads that start together; returns the results in order."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        results[i] = work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


# -- admission


def test_first_admission_is_new_and_has_no_prior(ledger):
    admission = ledger.admit(event("1", "Planned"), ["teams"], T0)
    assert admission.seen is Seen.NEW and admission.prior is None


def test_readmission_is_resumed_until_every_receiver_has_a_final_delivery(ledger):
    e = event("1", "Planned")
    ledger.admit(e, ["teams", "slack"], T0)
    assert ledger.admit(e, ["teams", "slack"], T0).seen is Seen.RESUMED  # nothing delivered yet
    ledger.record_delivery(e.dedup_key, "teams", SendResult.delivered(), 1)
    assert ledger.admit(e, ["teams", "slack"], T0).seen is Seen.RESUMED  # slack still missing
    ledger.record_delivery(e.dedup_key, "slack", SendResult.delivered(), 1)
    assert ledger.admit(e, ["teams", "slack"], T0).seen is Seen.DUPLICATE


def test_retryable_failure_is_not_final_but_permanent_failure_is(ledger):
    e = event("1", "Planned")
    ledger.admit(e, ["teams"], T0)
    ledger.record_delivery(e.dedup_key, "teams", SendResult.failed("503", retryable=True), 3)
    assert not ledger.delivered(e.dedup_key, "teams")
    ledger.record_delivery(e.dedup_key, "teams", SendResult.failed("400", retryable=False), 1)
    assert ledger.delivered(e.dedup_key, "teams")
    assert ledger.admit(e, ["teams"], T0).seen is Seen.DUPLICATE


def test_the_first_final_result_stays(ledger):
    ledger.record_delivery("k", "teams", SendResult.delivered(), 1)
    ledger.record_delivery("k", "teams", SendResult.failed("timeout", retryable=True), 6)  # a slower worker
    assert ledger.delivered("k", "teams")


def test_update_in_same_thread_knows_the_prior_stage_and_window(ledger):
    ledger.admit(event("1", "Planned", end_day=20), ["teams"], T0)
    later = event("2", "Rescheduled", end_day=27, at=T0 + timedelta(days=3))
    admission = ledger.admit(later, ["teams"], T0 + timedelta(days=3))
    assert admission.seen is Seen.NEW
    assert admission.prior.stage == "Planned"
    assert admission.prior.window.end == datetime(2027, 2, 20, tzinfo=UTC)
    assert admission.prior.sent_at == T0
    # a resumed update keeps the prior it had the first time, not itself
    assert ledger.admit(later, ["teams"], T0 + timedelta(days=4)).prior.stage == "Planned"


def test_the_prior_counts_the_rescheduled_communications_up_to_it(ledger):
    stages = ("Planned", "Rescheduled", "Rescheduled", "Canceled")
    priors = [ledger.admit(event(str(n), stage, at=T0 + timedelta(days=n)), ["teams"], T0 + timedelta(days=n)).prior
              for n, stage in enumerate(stages)]
    assert priors[0] is None
    assert [p.reschedules for p in priors[1:]] == [0, 1, 2]
    # what was counted at first admission stays, even once a newer one is in
    assert ledger.admit(event("2", "Rescheduled", at=T0 + timedelta(days=2)), ["teams"], T0).prior.reschedules == 1
    late = ledger.admit(event("9", "Rescheduled", at=T0 + timedelta(hours=30)), ["teams"], T0 + timedelta(days=5))
    assert late.prior.reschedules == 1  # only what came before it: Planned and the first Rescheduled


def test_the_revision_changes_with_what_the_calendar_reads_or_is_not_known(store):
    ledger, other = store.open(), store.open()
    first = ledger.revision()
    if first is None:  # Table Storage cannot tell without reading every communication
        return
    e = event("1", "Planned")
    other.admit(e, ["teams"], T0)  # another worker's change counts as much as its own
    admitted = ledger.revision()
    ledger.record_told(e.thread_key, "teams", NoticeSnapshot(e.dedup_key, T0, T0))
    told = ledger.revision()
    ledger.record_told(e.thread_key, "teams", NoticeSnapshot(e.dedup_key, T0, T0 + timedelta(hours=1)))  # again
    assert len({first, admitted, told, ledger.revision()}) == 4
    assert ledger.revision() == ledger.revision()


def test_a_late_communication_is_compared_with_what_came_before_it(ledger):
    ledger.admit(event("1", "Planned", at=T0), ["teams"], T0)
    ledger.admit(event("3", "Complete", at=T0 + timedelta(days=9)), ["teams"], T0 + timedelta(days=9))
    late = ledger.admit(event("2", "InProgress", at=T0 + timedelta(days=5)), ["teams"], T0 + timedelta(days=10))
    assert late.prior.stage == "Planned"
    assert late.superseded_by == "Complete"  # the story is further on: relaying it would roll it back


def test_news_in_order_is_not_superseded(ledger):
    assert ledger.admit(event("1", "Planned", at=T0), ["teams"], T0).superseded_by is None
    later = event("2", "Complete", at=T0 + timedelta(days=9))
    assert ledger.admit(later, ["teams"], T0).superseded_by is None
    assert ledger.admit(later, ["teams"], T0).superseded_by is None  # itself is not newer than itself


def test_threads_are_separate(ledger):
    ledger.admit(event("1", "Planned"), ["teams"], T0)
    other = ledger.admit(event("1", "Planned", tracking_id="AB34-5CD"), ["teams"], T0)
    assert other.seen is Seen.NEW and other.prior is None


def test_any_characters_in_keys(ledger):
    odd = "a/b\\c#d?e\tf'g\u3042" + "x" * 2000
    e = event(odd, "Planned", tracking_id=odd)
    assert ledger.admit(e, [odd], T0).seen is Seen.NEW
    assert ledger.claim(e.dedup_key, odd, "w1", LEASE)
    ledger.record_delivery(e.dedup_key, odd, SendResult.delivered(reference=odd), 1)
    assert ledger.admit(e, [odd], T0).seen is Seen.DUPLICATE
    ledger.remember_thread(e.thread_key, odd, odd)
    assert ledger.thread_reference(e.thread_key, odd) == odd


def test_what_was_recorded_survives_reopening(store):
    e = event("1", "Planned")
    first = store.open()
    first.admit(e, ["teams"], T0)
    first.record_delivery(e.dedup_key, "teams", SendResult.delivered(), 1)
    first.close()
    assert store.open().admit(e, ["teams"], T0).seen is Seen.DUPLICATE


def test_concurrent_admission_admits_once(store):
    e = event("1", "Planned")
    ledgers = [store.open() for _ in range(6)]
    seen = in_threads(6, lambda i: ledgers[i].admit(e, ["teams"], T0).seen)
    assert sorted(seen) == sorted([Seen.NEW] + [Seen.RESUMED] * 5)


# -- claims


def test_a_claim_excludes_other_holders_until_it_expires(store, ledger):
    assert ledger.claim("k", "teams", "w1", LEASE)
    assert not ledger.claim("k", "teams", "w2", LEASE)
    assert ledger.claim("k", "teams", "w1", LEASE)  # the holder itself may renew
    store.clock.now += LEASE + 1  # w1 died
    assert ledger.claim("k", "teams", "w2", LEASE)
    assert not ledger.claim("k", "teams", "w1", LEASE)


def test_a_claim_of_a_dead_process_of_this_machine_is_not_live(ledger):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = socket.gethostname()
    assert ledger.claim("k", "teams", f"{host}:{gone.stdout.strip()}:a1", LEASE)
    assert ledger.claim("k", "teams", this_process() + ":b2", LEASE)
    # a live process of this machine, and a process of another machine, keep their claims for the lease
    assert not ledger.claim("k", "teams", f"{host}:{os.getppid()}:c3", LEASE)
    assert ledger.claim("j", "teams", f"elsewhere:{gone.stdout.strip()}:d4", LEASE)
    assert not ledger.claim("j", "teams", this_process() + ":e5", LEASE)


def test_claims_are_per_receiver_and_notification(ledger):
    assert ledger.claim("k", "teams", "w1", LEASE)
    assert ledger.claim("k", "slack", "w2", LEASE)
    assert ledger.claim("other", "teams", "w2", LEASE)


def test_a_final_delivery_cannot_be_claimed(store, ledger):
    ledger.claim("k", "teams", "w1", LEASE)
    ledger.record_delivery("k", "teams", SendResult.delivered(), 1)
    store.clock.now += LEASE + 1
    assert not ledger.claim("k", "teams", "w1", LEASE)
    assert not ledger.claim("k", "teams", "w2", LEASE)
    ledger.record_delivery("k", "slack", SendResult.failed("404", retryable=False), 1)
    assert not ledger.claim("k", "slack", "w2", LEASE)


def test_a_retryable_failure_releases_the_claim(ledger):
    assert ledger.claim("k", "teams", "w1", LEASE)
    ledger.record_delivery("k", "teams", SendResult.failed("503", retryable=True), 6)
    assert ledger.claim("k", "teams", "w2", LEASE)


# -- attempts: a send begun and not marked


def test_an_attempt_is_kept_across_a_crash_and_a_new_claim_until_the_mark(store, ledger):
    attempt = Attempt.begin(T0)
    assert ledger.claim("k", "slack", "w1", LEASE)
    ledger.begin_attempt("k", "slack", attempt)
    later = store.open()  # the worker died; another takes over after the lease
    store.clock.now += LEASE + 1
    assert later.claim("k", "slack", "w2", LEASE)
    assert later.open_attempt("k", "slack") == attempt
    assert later.open_attempt("k", "teams") is None and later.open_attempt("other", "slack") is None
    later.record_delivery("k", "slack", SendResult.delivered("found"), 1)
    assert later.open_attempt("k", "slack") is None and later.delivered("k", "slack")


def test_an_unknown_outcome_keeps_the_attempt_and_a_known_failure_clears_it(ledger):
    first, second = Attempt.begin(T0), Attempt.begin(T0 + timedelta(minutes=6))
    ledger.claim("k", "graph", "w1", LEASE)
    ledger.begin_attempt("k", "graph", first)
    ledger.record_delivery("k", "graph", SendResult.failed("no answer in time", retryable=True, unknown=True), 1)
    assert ledger.open_attempt("k", "graph") == first
    ledger.claim("k", "graph", "w1", LEASE)
    ledger.begin_attempt("k", "graph", second)  # the destination said it does not have the first
    assert ledger.open_attempt("k", "graph") == second
    ledger.record_delivery("k", "graph", SendResult.failed("503", retryable=True), 2)
    assert ledger.open_attempt("k", "graph") is None and not ledger.delivered("k", "graph")


def test_an_attempt_works_for_any_characters(ledger):
    key, receiver = "k/with\\odd#chars?" + "é" * 40, "team ops/東京"
    attempt = Attempt.begin(T0)
    ledger.begin_attempt(key, receiver, attempt)
    assert ledger.open_attempt(key, receiver) == attempt


def test_of_two_racing_holders_exactly_one_wins(store):
    ledgers = [store.open(), store.open()]
    for n in range(5):
        key = f"k{n}"
        if n % 2:  # also race over a delivery that failed before (an existing, unclaimed record)
            ledgers[0].record_delivery(key, "teams", SendResult.failed("503", retryable=True), 1)
        won = in_threads(2, lambda i, key=key: ledgers[i].claim(key, "teams", f"w{i}", LEASE))
        assert sorted(won) == [False, True], n


def test_of_two_holders_racing_for_an_expired_claim_exactly_one_wins(store):
    ledgers = [store.open(), store.open()]
    ledgers[0].claim("k", "teams", "dead", LEASE)
    store.clock.now += LEASE + 1
    won = in_threads(2, lambda i: ledgers[i].claim("k", "teams", f"w{i}", LEASE))
    assert sorted(won) == [False, True]


# -- threads


def test_thread_reference_is_per_receiver_and_the_first_one_stays(ledger):
    assert ledger.thread_reference("XY12-3ZQ", "slack") is None
    ledger.remember_thread("XY12-3ZQ", "slack", "C1:1700000000.000100")
    ledger.remember_thread("XY12-3ZQ", "slack", "C1:1700000099.000100")
    assert ledger.thread_reference("XY12-3ZQ", "slack") == "C1:1700000000.000100"
    assert ledger.thread_reference("XY12-3ZQ", "slack-2") is None
    assert ledger.thread_reference("AB34-5CD", "slack") is None


# -- what the backfill asks


def test_a_communication_is_settled_once_admitted_and_nothing_is_left_to_retry(ledger):
    planned, rescheduled = event("1", "Planned"), event("2", "Rescheduled")
    assert not ledger.settled(planned) and not ledger.knows_thread(planned.thread_key)
    ledger.admit(planned, ["teams", "slack"], T0)
    assert ledger.settled(planned)
    assert not ledger.settled(rescheduled)  # the same thread, another communication
    assert ledger.knows_thread(rescheduled.thread_key)
    assert not ledger.knows_thread("AB34-5CD")
    ledger.record_delivery(planned.dedup_key, "teams", SendResult.delivered("ok"), 1)
    ledger.record_delivery(planned.dedup_key, "slack", SendResult.failed("HTTP 503", retryable=True), 6)
    assert not ledger.settled(planned)  # a delivery worth retrying: the backfill queues it again
    ledger.record_delivery(planned.dedup_key, "slack", SendResult.delivered("ok"), 1)
    assert ledger.settled(planned)


def test_knowing_works_for_any_characters(ledger):
    odd = "a/b\\c#d?e\tf'g\u3042" + "x" * 2000
    e = event(odd, "Planned", tracking_id=odd)
    ledger.admit(e, ["teams"], T0)
    assert ledger.settled(e) and ledger.knows_thread(e.thread_key)


def test_a_watermark_only_moves_forward(ledger):
    name = "backfill/0a1b2c3d-1111-2222-3333-444455556666"
    assert ledger.watermark(name) is None
    ledger.advance_watermark(name, T0)
    assert ledger.watermark(name) == T0
    ledger.advance_watermark(name, T0 - timedelta(microseconds=1))  # a slower run that started earlier
    assert ledger.watermark(name) == T0
    later = T0 + timedelta(minutes=15, microseconds=500)
    ledger.advance_watermark(name, later.astimezone(timezone(timedelta(hours=9))))  # any zone: the same instant
    assert ledger.watermark(name) == later
    assert ledger.watermark("backfill/other") is None


def test_a_watermark_survives_reopening(store):
    store.open().advance_watermark("w", T0)
    assert store.open().watermark("w") == T0


def test_of_racing_watermarks_the_latest_stays(store):
    ledgers = [store.open() for _ in range(4)]
    in_threads(4, lambda i: ledgers[i].advance_watermark("w", T0 + timedelta(minutes=i)))
    assert ledgers[0].watermark("w") == T0 + timedelta(minutes=3)


# -- what the digest asks


def test_maintenance_threads_give_back_each_event_without_its_text(ledger):
    planned = replace(event("1", "Planned"), title="計画メンテナンス: Virtual Machines", level="Warning",
                      services=("Virtual Machines",), regions=("Japan East", "Japan West"),
                      subscription_ids=("11111111-2222-3333-4444-555555555555",), alert_id="/a/1", status="Active")
    ledger.admit(planned, ["mail"], T0)
    ledger.admit(event("2", "Rescheduled", end_day=27, at=T0 + timedelta(days=3)), ["mail"], T0 + timedelta(days=3))
    ledger.admit(replace(event("1", "Active", tracking_id="INC1-ABC"), kind=EventKind.INCIDENT), ["mail"], T0)
    [thread] = ledger.maintenance_threads(T0)
    assert [c.event.stage for c in thread] == ["Planned", "Rescheduled"]
    assert [c.admitted_at for c in thread] == [T0, T0 + timedelta(days=3)]
    assert thread[0].event == replace(planned, communication="")
    assert thread[1].event.window.end == datetime(2027, 2, 27, tzinfo=UTC)


def test_a_thread_over_before_the_digest_is_left_out(ledger):
    ended = datetime(2027, 2, 20, tzinfo=UTC)
    ledger.admit(event("1", "Planned", tracking_id="OLD1-AAA"), ["mail"], T0)
    assert [t[0].event.thread_key for t in ledger.maintenance_threads(ended)] == ["OLD1-AAA"]
    assert ledger.maintenance_threads(ended + timedelta(seconds=1)) == []
    # news of it after that brings it back: it completed since the last digest
    late = ended + timedelta(days=2)
    ledger.admit(event("2", "Complete", at=late, tracking_id="OLD1-AAA"), ["mail"], late)
    [thread] = ledger.maintenance_threads(late - timedelta(hours=1))
    assert [c.event.stage for c in thread] == ["Planned", "Complete"]


def test_a_maintenance_without_an_end_is_never_over(ledger):
    open_ended = replace(event("1", "Planned"), window=Window(datetime(2027, 1, 6, tzinfo=UTC), None))
    ledger.admit(open_ended, ["mail"], T0)
    assert len(ledger.maintenance_threads(T0 + timedelta(days=400))) == 1


def test_maintenance_threads_survive_reopening_and_any_characters(store):
    odd = "a/b\\c#d?e\tf'g\u3042" + "x" * 2000
    store.open().admit(replace(event(odd, "Planned", tracking_id=odd), title=odd * 20), ["mail"], T0)
    [thread] = store.open().maintenance_threads(T0)
    assert thread[0].event.tracking_id == odd and thread[0].event.title == (odd * 20)[:500]


def test_alerts_since_give_back_each_alert_of_the_day_with_what_routing_reads(ledger):
    def alert(n: int, condition: str = "Fired") -> Event:
        facts = MonitorAlert(severity=f"Sev{n}", monitor_condition=condition, service="Platform", signal="Metric",
                             rule=f"rule-{n}", targets=tuple(f"/subscriptions/s/resourceGroups/rg/providers/A.B/c/{i}"
                                                             for i in range(9)), target_type="A.B/c", target_group="rg",
                             fired=T0, criteria=(Criterion(metric="m", value="1"),), facts=(("caller", "x"),))
        return Event(kind=EventKind.ALERT, schema="common", title=f"rule-{n}", communication="c", stage=condition,
                     alert_id=f"/subscriptions/s/providers/Microsoft.AlertsManagement/alerts/{n}", alert=facts)

    ledger.admit(alert(1), ["chat"], T0 - timedelta(days=1, seconds=1))
    ledger.admit(alert(2), ["chat"], T0 - timedelta(hours=2))
    ledger.admit(alert(2, "Resolved"), ["chat"], T0)
    ledger.admit(event("1", "Planned"), ["chat"], T0)
    found = ledger.alerts_since(T0 - timedelta(days=1))
    assert [(c.event.alert.rule, c.event.stage, c.admitted_at) for c in found] == [
        ("rule-2", "Fired", T0 - timedelta(hours=2)), ("rule-2", "Resolved", T0)]
    kept = found[0].event.alert
    assert (kept.severity, kept.service, kept.signal, kept.target_type, kept.target_group, kept.fired) == (
        "Sev2", "Platform", "Metric", "A.B/c", "rg", T0)
    assert len(kept.targets) == 5 and kept.criteria == () and kept.facts == ()  # what routing reads, no more


# -- what each receiver was told of its VMs


def told(communication: str, vms: int = 2, at: datetime | None = T0, read_at: datetime = T0,
         names: str = "vm-{:05d}") -> NoticeSnapshot:
    """A notice of communication `communication` of XY12-3ZQ as it told one receiver of `vms` VMs."""
    return NoticeSnapshot(f"xy12-3zq/{communication}", at, read_at, tuple(
        VmSnapshot(f"/subscriptions/11111111-2222-3333-4444-555555555555/resourcegroups/rg-{i % 7}/providers/"
                   f"microsoft.compute/virtualmachines/{names.format(i).lower()}", names.format(i),
                   list(MaintenanceState)[i % len(MaintenanceState)],
                   Window(datetime(2027, 1, 6, tzinfo=UTC), datetime(2027, 2, 10 + i % 9, tzinfo=UTC)),
                   Window(datetime(2027, 2, 12, 15, tzinfo=UTC) + timedelta(days=i % 5, minutes=i % 3), None if i % 11 == 0
                          else datetime(2027, 2, 13, 15, tzinfo=UTC) + timedelta(days=i % 5)))
        for i in range(vms)))


def test_nothing_was_told_before_the_first_notice(ledger):
    assert ledger.last_told("XY12-3ZQ", "teams", other_than="xy12-3zq/1") is None


def test_what_was_told_comes_back_as_it_was_for_that_receiver_only(ledger):
    planned = told("1", vms=3)
    ledger.record_told("XY12-3ZQ", "teams", planned)
    assert ledger.last_told("XY12-3ZQ", "teams", other_than="xy12-3zq/2") == planned
    assert ledger.last_told("XY12-3ZQ", "slack", other_than="xy12-3zq/2") is None
    assert ledger.last_told("AB34-5CD", "teams", other_than="xy12-3zq/2") is None


def test_a_notice_is_never_compared_with_itself(ledger):
    planned, rescheduled = told("1"), told("2", vms=1, at=T0 + timedelta(days=14))
    ledger.record_told("XY12-3ZQ", "teams", planned)
    ledger.record_told("XY12-3ZQ", "teams", rescheduled)
    assert ledger.last_told("XY12-3ZQ", "teams", other_than="xy12-3zq/2") == planned  # a redelivery of 2
    assert ledger.last_told("XY12-3ZQ", "teams", other_than="xy12-3zq/3") == rescheduled
    assert ledger.last_told("XY12-3ZQ", "teams", other_than="xy12-3zq/1") == rescheduled


def test_the_last_told_is_the_latest_communication_then_the_latest_read(ledger):
    later = told("3", vms=1, at=T0 + timedelta(days=20))
    ledger.record_told("XY12-3ZQ", "teams", later)
    ledger.record_told("XY12-3ZQ", "teams", told("2", vms=2, at=T0 + timedelta(days=10), read_at=T0 + timedelta(days=30)))
    ledger.record_told("XY12-3ZQ", "teams", told("0", vms=4, at=None, read_at=T0 + timedelta(days=40)))  # no time: oldest
    assert ledger.last_told("XY12-3ZQ", "teams", other_than="xy12-3zq/9") == later
    reread = told("4", vms=5, at=T0 + timedelta(days=20), read_at=T0 + timedelta(seconds=1))  # same event time
    ledger.record_told("XY12-3ZQ", "teams", reread)
    assert ledger.last_told("XY12-3ZQ", "teams", other_than="xy12-3zq/9") == reread


def test_the_same_notice_told_again_replaces_what_was_kept(store):
    big, small = told("1", vms=3000, names="vm-{:05d}-" + uuid.uuid4().hex), told("1", vms=1)
    store.open().record_told("XY12-3ZQ", "teams", big)
    store.open().record_told("XY12-3ZQ", "teams", small)
    assert store.open().last_told("XY12-3ZQ", "teams", other_than="xy12-3zq/2") == small


def test_ten_thousand_vms_are_kept_and_survive_reopening(store):
    fleet = told("1", vms=10_000)
    store.open().record_told("XY12-3ZQ", "teams", fleet)
    assert store.open().last_told("XY12-3ZQ", "teams", other_than="xy12-3zq/2") == fleet


def test_a_snapshot_larger_than_an_entity_is_kept_whole(store):
    """Random names, which do not compress: more than the 1 MiB that one Table Storage entity holds."""
    rng = random.Random(7)
    fleet = told("1", vms=40_000)
    fleet = replace(fleet, vms=tuple(replace(vm, name="".join(rng.choices(string.ascii_letters + string.digits, k=48)))
                                     for vm in fleet.vms))
    assert len(encode(fleet)) > 1024 * 1024
    store.open().record_told("XY12-3ZQ", "teams", fleet)
    assert store.open().last_told("XY12-3ZQ", "teams", other_than="xy12-3zq/2") == fleet


def test_what_was_told_works_for_any_characters(ledger):
    odd = "a/b\\c#d?e\tf'g\u3042" + "x" * 2000
    kept = replace(told("1", vms=1, names=odd + "{}"), notification_key=odd)
    ledger.record_told(odd, odd, kept)
    assert ledger.last_told(odd, odd, other_than="other") == kept
    assert ledger.last_told(odd, odd, other_than=odd) is None


# -- silences and what is held back


def silence(silence_id: str, starts: datetime = T0, hours: int = 2) -> Silence:
    return Silence(silence_id, (Matcher("resource_group", "rg-web"), Matcher("tag", "^prod", regex=True, tag="env")),
                   starts, starts + timedelta(hours=hours), "sato", "patching the web tier", T0 - timedelta(minutes=5))


def test_silences_are_kept_replaced_and_listed_by_their_start(ledger):
    assert ledger.silences() == []
    later, sooner = silence("b1", T0 + timedelta(days=1)), silence("a2", T0)
    ledger.add_silence(later)
    ledger.add_silence(sooner)
    assert ledger.silences() == [sooner, later]
    longer = replace(later, ends=later.ends + timedelta(days=2), comment="two more days")
    ledger.add_silence(longer)
    assert ledger.silences() == [sooner, longer]


def test_expiring_a_silence_moves_its_end_to_now_never_later(ledger):
    ledger.add_silence(silence("a1"))
    ledger.add_silence(silence("b2"))
    ended = ledger.expire_silence("a1", T0 + timedelta(minutes=30))
    assert ended == replace(silence("a1"), ends=T0 + timedelta(minutes=30))
    assert ledger.expire_silence("a1", T0 + timedelta(hours=1)) == ended  # ended already: it stays so
    assert ledger.expire_silence("b2", T0 + timedelta(hours=5)) == silence("b2")  # its end passed before
    assert ledger.silences() == [ended, silence("b2")]
    assert ledger.expire_silence("c3", T0) is None


def test_expiring_a_pending_silence_leaves_it_holding_nothing(ledger):
    pending = replace(silence("p1"), starts=T0 + timedelta(days=1), ends=T0 + timedelta(days=2))
    ledger.add_silence(pending)
    ended = ledger.expire_silence("p1", T0)
    assert (ended.starts, ended.ends) == (T0, T0) and not ended.active(T0)


def test_silences_survive_reopening_with_any_characters(store):
    odd = replace(silence("a/b\\c#d?e\tf'g\u3042"), comment="メンテナンス中 / 'quiet' #1",
                  matchers=(Matcher("tag", "a/b\\c#d?", tag="オーナー"),))
    store.open().add_silence(odd)
    assert store.open().silences() == [odd]
    assert store.open().expire_silence(odd.id, T0).ends == T0


def held(communication: str, at: datetime | None = T0, since: datetime = T0, thread: str = "XY12-3ZQ",
         receiver: str = "teams", **changes) -> Hold:
    """Communication `communication` of maintenance `thread` held for `receiver` in its quiet hours."""
    e = event(communication, "Planned", at=at, tracking_id=thread)
    return replace(Hold(e.thread_key, receiver, "quiet_hours", since, e, until=since + timedelta(hours=8)), **changes)


def test_a_hold_merges_with_what_is_held_for_the_thread_and_receiver(ledger):
    first = held("1", since=T0)
    assert ledger.hold(first) == first
    prior = PriorNotice("Planned", Window(datetime(2027, 1, 6, tzinfo=UTC), datetime(2027, 2, 20, tzinfo=UTC)), T0)
    newer = held("2", at=T0 + timedelta(days=1), since=T0 + timedelta(hours=1), prior=prior, reason="silence",
                 silence_id="a1", until=T0 + timedelta(days=2))
    assert ledger.hold(newer) == replace(newer, since=T0, held=2)
    late = held("0", at=T0 - timedelta(days=1), since=T0 + timedelta(hours=2))  # older news, come late
    latest = replace(newer, since=T0, held=3, reason="quiet_hours", silence_id=None, until=late.until)
    assert ledger.hold(late) == latest  # counted; the latest communication stays, with its prior
    again = replace(newer, since=T0 + timedelta(hours=3))
    assert ledger.hold(again) == replace(newer, since=T0, held=3)  # the same communication is not counted twice
    tie = held("3", at=T0 + timedelta(days=1), since=T0 + timedelta(hours=4))
    assert ledger.hold(tie) == replace(tie, since=T0, held=4)  # the same event time: the newest call's
    assert ledger.holds() == [replace(tie, since=T0, held=4)]


def test_a_communication_without_an_event_time_counts_as_the_oldest(ledger):
    ledger.hold(held("1", at=None))
    assert ledger.hold(held("2")).event.communication_id == "2"
    assert ledger.hold(held("3", at=None)).event.communication_id == "2"


def test_holds_are_per_thread_and_receiver_oldest_first_until_dropped(ledger):
    middle, oldest = held("1", since=T0 + timedelta(hours=1)), held("1", since=T0, receiver="slack")
    newest = held("1", since=T0 + timedelta(hours=2), thread="AB34-5CD")
    for hold in (middle, newest, oldest):
        ledger.hold(hold)
    assert ledger.holds() == [oldest, middle, newest]
    ledger.drop_hold("XY12-3ZQ", "teams")
    ledger.drop_hold("XY12-3ZQ", "teams")  # gone already: nothing to do
    assert ledger.holds() == [oldest, newest]
    assert ledger.hold(middle) == middle  # held afresh, counted from one
    assert ledger.holds() == [oldest, middle, newest]


def test_a_released_hold_is_dropped_only_while_nothing_was_merged_into_it(store):
    ledger = store.open()
    ledger.hold(held("1"))
    (released,) = ledger.holds()  # what a release pass read and sent
    ledger.hold(held("2", at=T0 + timedelta(hours=1)))  # came while the release was being sent
    store.open().drop_hold("XY12-3ZQ", "teams", released=released)
    (still,) = ledger.holds()
    assert (still.event.communication_id, still.held) == ("2", 2)
    store.open().drop_hold("XY12-3ZQ", "teams", released=still)
    assert ledger.holds() == []


def test_a_hold_keeps_the_whole_event_for_any_characters_and_survives_reopening(store):
    odd = "a/b\\c#d?e\tf'g\u3042" + "x" * 2000
    resource = ResourceHealthChange("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/"
                                    "vm-1", "Unavailable", "Available", "PlatformInitiated", "Downtime", "再起動")
    kept = replace(held("1", thread=odd, receiver=odd), event=replace(
        event("1", "Planned", tracking_id=odd), communication="本文\n" * 3000, resource=resource))
    store.open().hold(kept)
    [back] = store.open().holds()
    assert back == replace(kept, event=replace(kept.event, communication=kept.event.communication[:8000]))
    store.open().drop_hold(kept.thread_key, odd)
    assert store.open().holds() == []


def test_a_hold_as_large_as_a_record_may_be_is_kept(ledger):
    """Its text cut to what fits beside the rest of the event."""
    big = replace(held("1"), event=replace(event("1", "Planned"), regions=tuple("r" * 500 for _ in range(45)),
                                           communication="\U0001f6a7" * 8000))
    kept = ledger.hold(big)
    assert 0 < len(kept.event.communication) < 8000 and ledger.holds() == [kept]


def test_holds_at_once_of_one_thread_and_receiver_are_all_counted(store):
    ledgers = [store.open() for _ in range(3)]
    for n in range(6):
        thread = f"TH{n}-RACE"
        in_threads(3, lambda i, thread=thread: ledgers[i].hold(held(str(i), thread=thread, at=T0 + timedelta(days=i))))
        [kept] = [h for h in ledgers[0].holds() if h.thread_key == thread]
        assert kept.held == 3 and kept.event.communication_id == "2", n


def test_an_existing_sqlite_ledger_gains_what_was_told(tmp_path):
    """A ledger file written before the relay kept what it told: opening it adds the table, nothing is lost."""
    path = tmp_path / "ledger.sqlite"
    old = sqlite3.connect(path)
    old.executescript("CREATE TABLE communications (dedup_key TEXT PRIMARY KEY, thread_key TEXT NOT NULL, stage TEXT,"
                      " window_start TEXT, window_end TEXT, event_time TEXT, admitted_at TEXT NOT NULL,"
                      " prior_stage TEXT, prior_start TEXT, prior_end TEXT, prior_sent TEXT);"
                      " INSERT INTO communications (dedup_key, thread_key, admitted_at)"
                      " VALUES ('xy12-3zq/1', 'XY12-3ZQ', '2027-01-05T02:10:00+00:00');")
    old.close()
    ledger = SqliteLedger(path)
    try:
        assert ledger.settled(event("1", "Planned"))
        ledger.record_told("XY12-3ZQ", "teams", told("1"))
        assert ledger.last_told("XY12-3ZQ", "teams", other_than="xy12-3zq/2") == told("1")
        assert ledger.silences() == [] and ledger.holds() == []  # and the silences and holds
        assert ledger.acknowledgements("XY12-3ZQ", "teams") == []  # and who is on what
        assert ledger.acknowledge("XY12-3ZQ", "teams", ack("u-1", "Aiko", 1))
    finally:
        ledger.close()


# -- who is on a thread (the Teams bot's 対応します / I'm on it)


def ack(user_id: str, name: str, minutes: int) -> Acknowledgement:
    return Acknowledgement(user_id, name, T0 + timedelta(minutes=minutes))


def test_acknowledgements_are_kept_first_first_and_once_a_person(ledger):
    assert ledger.acknowledgements("XY12-3ZQ", "teams-bot") == []
    assert ledger.acknowledge("XY12-3ZQ", "teams-bot", ack("u-2", "Ken Sato", 5))
    assert ledger.acknowledge("XY12-3ZQ", "teams-bot", ack("u-1", "Aiko Tanaka", 1))  # earlier, though kept later
    assert not ledger.acknowledge("XY12-3ZQ", "teams-bot", ack("u-2", "Ken S.", 9))  # again: the first time stays
    assert ledger.acknowledgements("XY12-3ZQ", "teams-bot") == [ack("u-1", "Aiko Tanaka", 1), ack("u-2", "Ken Sato", 5)]


def test_acknowledgements_are_per_thread_and_receiver(ledger):
    ledger.acknowledge("XY12-3ZQ", "teams-bot", ack("u-1", "Aiko Tanaka", 1))
    assert ledger.acknowledge("XY12-3ZQ", "platform-bot", ack("u-1", "Aiko Tanaka", 2))
    assert ledger.acknowledge("AB34-5CD", "teams-bot", ack("u-1", "Aiko Tanaka", 3))
    assert ledger.acknowledgements("XY12-3ZQ", "platform-bot") == [ack("u-1", "Aiko Tanaka", 2)]
    assert ledger.acknowledgements("AB34-5CD", "teams-bot") == [ack("u-1", "Aiko Tanaka", 3)]
    assert ledger.acknowledgements("XY12-3ZQ", "teams-bot") == [ack("u-1", "Aiko Tanaka", 1)]
    assert ledger.acknowledgements("XY12-3ZQ", "nobody") == []


def test_acknowledgements_survive_reopening_with_any_characters(store):
    odd = "a/b\\c#d?e\tf'g\u3042" + "x" * 2000
    first = store.open()
    assert first.acknowledge(odd, odd, ack(odd, odd, 1))
    first.close()
    again = store.open()
    assert not again.acknowledge(odd, odd, ack(odd, "someone else", 2))
    assert again.acknowledgements(odd, odd) == [ack(odd, odd, 1)]


def test_of_one_person_pressing_at_once_on_several_workers_one_is_kept(store):
    ledgers = [store.open() for _ in range(4)]
    added = in_threads(4, lambda i: ledgers[i].acknowledge("XY12-3ZQ", "teams-bot", ack("u-1", f"Aiko {i}", i)))
    assert sorted(added) == [False, False, False, True]
    [kept] = ledgers[0].acknowledgements("XY12-3ZQ", "teams-bot")
    assert kept == ack("u-1", f"Aiko {added.index(True)}", added.index(True))


# -- the card a thread's first message shows (the Teams bot's, kept to show again with who is on it)


def test_no_card_is_kept_before_one_is_given(ledger):
    assert ledger.kept_card("XY12-3ZQ", "teams-bot") is None


def test_the_last_card_given_is_kept_per_thread_and_receiver(ledger):
    ledger.keep_card("XY12-3ZQ", "teams-bot", b'{"card": "Planned"}')
    ledger.keep_card("XY12-3ZQ", "platform-bot", b'{"card": "Planned, for the platform"}')
    ledger.keep_card("XY12-3ZQ", "teams-bot", b'{"card": "Rescheduled"}')  # the first card updated: this one now
    assert ledger.kept_card("XY12-3ZQ", "teams-bot") == b'{"card": "Rescheduled"}'
    assert ledger.kept_card("XY12-3ZQ", "platform-bot") == b'{"card": "Planned, for the platform"}'
    assert ledger.kept_card("AB34-5CD", "teams-bot") is None and ledger.kept_card("XY12-3ZQ", "nobody") is None


def test_a_kept_card_survives_reopening_with_any_characters(store):
    odd = "a/b\\c#d?e\tf'g\u3042" + "x" * 2000
    card = ("【要対応 2 台】東日本 VM 再起動 " + odd).encode()
    store.open().keep_card(odd, odd, card)
    assert store.open().kept_card(odd, odd) == card
    assert store.open().kept_card(odd, "other") is None


def test_a_card_as_large_as_teams_takes_is_kept_even_when_it_does_not_compress(store):
    rng = random.Random(11)
    noise = bytes(rng.getrandbits(8) for _ in range(28 * 1024))  # no card is this bad: the worst case
    store.open().keep_card("XY12-3ZQ", "teams-bot", noise)
    assert store.open().kept_card("XY12-3ZQ", "teams-bot") == noise
    largest = bytes(rng.getrandbits(8) for _ in range(CARD_MAX_BYTES))
    store.open().keep_card("XY12-3ZQ", "teams-bot", largest)
    assert store.open().kept_card("XY12-3ZQ", "teams-bot") == largest


def test_a_card_larger_than_the_ledger_keeps_is_refused_and_the_kept_one_stays(ledger):
    ledger.keep_card("XY12-3ZQ", "teams-bot", b"{}")
    with pytest.raises(ValueError, match="more than the ledger keeps"):
        ledger.keep_card("XY12-3ZQ", "teams-bot", b" " * (CARD_MAX_BYTES + 1))
    assert ledger.kept_card("XY12-3ZQ", "teams-bot") == b"{}"


def test_an_existing_sqlite_ledger_gains_the_cards(tmp_path):
    path = tmp_path / "ledger.sqlite"
    SqliteLedger(path).close()
    old = sqlite3.connect(path)
    old.execute("DROP TABLE cards")  # as a file written before cards were kept
    old.commit()
    old.close()
    ledger = SqliteLedger(path)
    try:
        assert ledger.kept_card("XY12-3ZQ", "teams-bot") is None
        ledger.keep_card("XY12-3ZQ", "teams-bot", b"{}")
        assert ledger.kept_card("XY12-3ZQ", "teams-bot") == b"{}"
    finally:
        ledger.close()
