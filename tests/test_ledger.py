from datetime import UTC, datetime, timedelta

from relay.model import Event, EventKind, SendResult, Window
from relay.store import Seen
from relay.store.sqlite import SqliteLedger

T0 = datetime(2027, 1, 5, 2, 10, tzinfo=UTC)


def event(communication: str, stage: str, end_day: int = 20, at: datetime = T0) -> Event:
    return Event(
        kind=EventKind.MAINTENANCE, schema="common", title="t", communication="c",
        tracking_id="XY12-3ZQ", communication_id=communication, stage=stage,
        window=Window(datetime(2027, 1, 6, tzinfo=UTC), datetime(2027, 2, end_day, tzinfo=UTC)), event_time=at,
    )


def test_first_admission_is_new_and_has_no_prior():
    ledger = SqliteLedger()
    admission = ledger.admit(event("1", "Planned"), ["teams"], T0)
    assert admission.seen is Seen.NEW and admission.prior is None


def test_redelivery_after_full_delivery_is_duplicate():
    ledger = SqliteLedger()
    e = event("1", "Planned")
    ledger.admit(e, ["teams", "slack"], T0)
    ledger.record_delivery(e.dedup_key, "teams", SendResult.delivered(), 1)
    assert ledger.admit(e, ["teams", "slack"], T0).seen is Seen.RESUMED  # slack still missing
    ledger.record_delivery(e.dedup_key, "slack", SendResult.delivered(), 1)
    assert ledger.admit(e, ["teams", "slack"], T0).seen is Seen.DUPLICATE


def test_retryable_failure_is_not_final_but_permanent_failure_is():
    ledger = SqliteLedger()
    e = event("1", "Planned")
    ledger.admit(e, ["teams"], T0)
    ledger.record_delivery(e.dedup_key, "teams", SendResult.failed("503", retryable=True), 3)
    assert not ledger.delivered(e.dedup_key, "teams")
    ledger.record_delivery(e.dedup_key, "teams", SendResult.failed("400", retryable=False), 1)
    assert ledger.delivered(e.dedup_key, "teams")


def test_update_in_same_thread_knows_the_prior_stage_and_window():
    ledger = SqliteLedger()
    ledger.admit(event("1", "Planned", end_day=20), ["teams"], T0)
    later = event("2", "Rescheduled", end_day=27, at=T0 + timedelta(days=3))
    admission = ledger.admit(later, ["teams"], T0 + timedelta(days=3))
    assert admission.seen is Seen.NEW
    assert admission.prior.stage == "Planned"
    assert admission.prior.window.end == datetime(2027, 2, 20, tzinfo=UTC)
    # a resumed update keeps the prior it had the first time, not itself
    assert ledger.admit(later, ["teams"], T0 + timedelta(days=4)).prior.stage == "Planned"


def test_ledger_survives_reopening(tmp_path):
    path = tmp_path / "ledger.sqlite"
    e = event("1", "Planned")
    first = SqliteLedger(path)
    first.admit(e, ["teams"], T0)
    first.record_delivery(e.dedup_key, "teams", SendResult.delivered(), 1)
    first.close()
    again = SqliteLedger(path)
    assert again.admit(e, ["teams"], T0).seen is Seen.DUPLICATE
