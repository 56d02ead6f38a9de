"""The whole pipeline over the bundled examples, with the real ledger, inventory, renderers and outbox."""
from datetime import UTC, datetime
from pathlib import Path

import pytest

from relay.hosts.wiring import Paths, open_relay
from relay.config import default_config
from relay.model import SendResult
from relay.pipeline import process
from relay.store import Seen

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NOW = datetime(2027, 1, 12, tzinfo=UTC)


def alert(name: str) -> bytes:
    return next((EXAMPLES / "alerts").glob(f"{name}*.json")).read_bytes()


@pytest.fixture
def relay(tmp_path):
    relay = open_relay(default_config(), Paths(EXAMPLES / "inventory.json", tmp_path / "ledger.sqlite",
                                               tmp_path / "outbox"), now=NOW)
    relay.sleep = lambda seconds: None
    yield relay
    relay.ledger.close()


def files(tmp_path) -> list[str]:
    return sorted(str(p.relative_to(tmp_path / "outbox")) for p in (tmp_path / "outbox").glob("*/*"))


def test_planned_maintenance_reaches_every_channel_once(relay, tmp_path):
    first = process(alert("01"), relay)
    assert first.seen is Seen.NEW and first.ok
    assert first.vm_count > 0
    written = files(tmp_path)
    assert [f.split("/")[0] for f in written] == ["email", "slack", "teams"]
    assert written[0].endswith("-XY12-3ZQ-Planned.eml") and written[2].endswith("-XY12-3ZQ-Planned.json")

    again = process(alert("02"), relay)  # the Action Group redelivers the same communication
    assert again.status == "duplicate" and again.deliveries == ()
    assert files(tmp_path) == written


def test_rescheduled_is_an_update_of_the_planned_thread(relay, tmp_path):
    process(alert("01"), relay)
    update = process(alert("03"), relay)
    assert update.seen is Seen.NEW and update.ok
    teams = sorted((tmp_path / "outbox" / "teams").glob("*Rescheduled.json"))
    assert len(teams) == 1
    body = teams[0].read_text(encoding="utf-8")
    assert "2027" in body and "Rescheduled" not in files(tmp_path)[0]


def test_a_late_communication_never_rolls_the_story_back(relay, tmp_path):
    process(alert("01"), relay)
    process(alert("05"), relay)  # Complete
    written = files(tmp_path)
    late = process(alert("03"), relay)  # Rescheduled, delivered after Complete
    assert late.status == "superseded" and late.superseded_by == "Complete" and late.ok
    assert late.deliveries == () and files(tmp_path) == written


class Flaky:
    """A channel adapter that fails a given number of times first."""

    def __init__(self, failures: int, retryable: bool = True, retry_after: float | None = None):
        self.failures, self.retryable, self.retry_after, self.sent = failures, retryable, retry_after, []

    def send(self, message):
        if self.failures:
            self.failures -= 1
            return SendResult.failed("HTTP 503", retryable=self.retryable, retry_after=self.retry_after)
        self.sent.append(message)
        return SendResult.delivered()


def test_retries_honour_retry_after_and_then_deliver(relay):
    flaky, waits = Flaky(failures=2, retry_after=7), []
    relay.channel_for = lambda receiver: flaky
    relay.sleep = waits.append
    outcome = process(alert("01"), relay)
    assert outcome.ok and waits == [7, 7]
    assert {d.attempts for d in outcome.deliveries} == {3, 1}


def test_a_cut_off_delivery_is_resumed_without_resending_the_rest(relay):
    flaky = Flaky(failures=99)
    good = Flaky(failures=0)
    relay.channel_for = lambda receiver: flaky if receiver.name == "slack" else good
    first = process(alert("01"), relay)
    assert not first.ok and first.retryable
    assert len(good.sent) == 2

    flaky.failures = 0  # Slack is back; the Action Group (or the queue) delivers the alert again
    second = process(alert("01"), relay)
    assert second.seen is Seen.RESUMED and second.ok
    assert [d.receiver for d in second.deliveries if d.skipped] == ["teams", "email"]
    assert len(flaky.sent) == 1 and len(good.sent) == 2
    assert process(alert("01"), relay).status == "duplicate"


def test_a_permanent_failure_is_not_retried(relay):
    broken = Flaky(failures=99, retryable=False)
    relay.channel_for = lambda receiver: broken
    outcome = process(alert("06"), relay)
    assert not outcome.ok and not outcome.retryable
    assert {d.attempts for d in outcome.deliveries} == {1}


class Throttled(Flaky):
    """A paced channel: the pipeline must wait through its pacer, not by sleeping itself."""

    def __init__(self, failures: int, retry_after: float):
        super().__init__(failures, retry_after=retry_after)
        from relay.channels import RateLimit

        self.limit = RateLimit("sink", per_second=1000)


def test_a_retry_budget_bounds_the_time_spent_and_the_failure_is_kept(relay):
    clock = {"now": 0.0}
    relay.monotonic = lambda: clock["now"]
    relay.sleep = lambda seconds: clock.__setitem__("now", clock["now"] + seconds)
    relay.pacer = None
    relay.__post_init__()
    relay.budget_seconds = 100
    always_429 = Throttled(failures=999, retry_after=30)
    relay.channel_for = lambda receiver: always_429
    outcome = process(alert("01"), relay)
    assert not outcome.ok and outcome.retryable
    attempts = {d.attempts for d in outcome.deliveries}
    assert attempts == {4}  # at 0, 30, 60, 90 s; one more wait would pass 100 s
    assert all("gave up after 4 attempt(s)" in d.result.detail for d in outcome.deliveries)
    assert not relay.ledger.delivered(outcome.event.dedup_key, "teams")
