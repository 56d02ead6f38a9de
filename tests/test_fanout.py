"""An alert's receivers are served at once, each on its own lane: a failing or hanging destination delays only
itself, its retries wait on its own schedule, and once given up on it fails fast until the alert's next try.
The worker starts items without waiting for their deliveries and finishes each when its last one is done.

What runs when is observed through events the fake channels and sinks set (a hanging destination answers
only once the test saw the healthy delivery), never by measuring time."""
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from relay.alerts import parse_alert
from relay.channels import RateLimit
from relay.channels.pacing import Pacer
from relay.config import default_config, parse_config
from relay.hosts.wiring import Paths, open_relay
from relay.hosts.worker import handle_next, start_next
from relay.inbox.retry import MAX_TRIES
from relay.inbox.sqlite import LEASE_SECONDS, SqliteInbox
from relay.model import SendResult
from relay.pipeline import FAILING_HOLD_SECONDS, MAX_BACKOFF_SECONDS, process_event, start
from tests.polling import wait_for
from tests.sinks.teams import TeamsSink

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NOW = datetime(2027, 1, 12, tzinfo=UTC)
WAIT = 10.0  # seconds an event may take before the test fails; never reached when the code works
RECEIVERS = ("teams", "slack", "email")  # the default config's, in its order: teams is served first


def alert(name: str) -> bytes:
    return next((EXAMPLES / "alerts").glob(f"{name}*.json")).read_bytes()


def process(relay, name: str):
    return process_event(parse_alert(alert(name)), relay)


DELIVERED, FAILED = SendResult.delivered(), SendResult.failed("HTTP 503", retryable=True)


class Channel:
    """A fake channel: records what it is sent and answers `result`; with `gate`, its first send waits until
    the test sets it. `arrived` is set once `expect` messages came."""

    def __init__(self, result: SendResult = DELIVERED, gate: bool = False, expect: int = 1,
                 limit: RateLimit | None = None):
        self.result, self.expect, self.limit = result, expect, limit
        self.gate = threading.Event()
        self.calling = threading.Event()  # the first send is under way
        self.arrived = threading.Event()
        self.sent: list = []
        if not gate:
            self.gate.set()

    def send(self, message):
        if not self.calling.is_set():
            self.calling.set()
            self.gate.wait(WAIT)
        self.sent.append(message)
        if len(self.sent) >= self.expect:
            self.arrived.set()
        return self.result


@pytest.fixture
def relay(tmp_path):
    relay = open_relay(default_config(), Paths(EXAMPLES / "inventory.json", tmp_path / "ledger.sqlite",
                                               tmp_path / "outbox"), now=NOW)
    relay.sleep = lambda seconds: None
    yield relay
    relay.lanes.shutdown(timeout=0)
    relay.ledger.close()


def serve(relay, **channels: Channel) -> None:
    relay.channel_for = lambda receiver: channels[receiver.name]


def test_a_hanging_receiver_does_not_hold_up_the_others(relay):
    teams, others = Channel(FAILED, gate=True), Channel(expect=2)
    serve(relay, teams=teams, slack=others, email=others)
    relay.max_attempts = 1
    started = start(alert("01"), relay)
    try:
        assert others.arrived.wait(WAIT), "slack and email waited for teams"
        assert teams.calling.wait(WAIT) and not started.done()  # its lane may start after theirs
    finally:
        teams.gate.set()
    outcome = started.result(WAIT)
    assert {d.receiver: d.result.ok for d in outcome.deliveries} == {"teams": False, "slack": True, "email": True}
    assert outcome.retryable and outcome.why_retry == "not delivered to teams"


def test_process_event_returns_with_every_delivery_done(relay):
    teams, others = Channel(gate=True), Channel(expect=2)
    serve(relay, teams=teams, slack=others, email=others)
    opener = threading.Thread(target=lambda: others.arrived.wait(WAIT) and teams.gate.set())
    opener.start()
    outcome = process(relay, "01")
    opener.join(WAIT)
    assert outcome.ok and len(teams.sent) == 1
    assert [d.receiver for d in outcome.deliveries] == list(RECEIVERS)
    assert all(relay.ledger.delivered(outcome.event.dedup_key, name) for name in RECEIVERS)


def test_a_receiver_gets_its_messages_in_the_order_of_their_alerts(relay):
    teams, others = Channel(gate=True), Channel(expect=4)
    serve(relay, teams=teams, slack=others, email=others)
    first, second = start(alert("01"), relay), start(alert("06"), relay)
    try:
        assert others.arrived.wait(WAIT)  # both alerts went out to slack and email: both were started
        assert not teams.arrived.wait(0.2), "the second alert went out to teams while the first was held"
    finally:
        teams.gate.set()
    assert first.result(WAIT).ok and second.result(WAIT).ok
    keys = [first.result().event.dedup_key, second.result().event.dedup_key]
    assert [m.notification_key for m in teams.sent] == keys


# -- failing fast


def paced(result: SendResult, gate: bool = False) -> Channel:
    return Channel(result, gate=gate, limit=RateLimit("teams-hook", per_second=1000))


def test_a_destination_given_up_on_fails_at_once_until_the_next_try(relay):
    clock = {"now": 0.0}
    relay.monotonic = lambda: clock["now"]
    relay.sleep = lambda seconds: clock.__setitem__("now", clock["now"] + seconds)  # only the teams lane waits
    relay.pacer = Pacer(relay.monotonic, relay.sleep)
    teams, others = paced(FAILED), Channel()
    serve(relay, teams=teams, slack=others, email=others)
    first = process(relay, "01")
    (gave_up,) = [d for d in first.deliveries if d.receiver == "teams"]
    assert gave_up.attempts == relay.max_attempts and "gave up" in gave_up.result.detail
    clock["now"] += 2 * MAX_BACKOFF_SECONDS  # past any retry's own wait, not past the hold-off
    second = process(relay, "06")
    (held,) = [d for d in second.deliveries if d.receiver == "teams"]
    assert (held.attempts, held.result.ok, held.result.retryable) == (0, False, True)
    assert "not tried" in held.result.detail and "the next try" in held.result.detail
    assert len(teams.sent) == relay.max_attempts  # the second alert never reached it
    assert second.retryable and [d.result.ok for d in second.deliveries if d.receiver != "teams"] == [True, True]

    clock["now"] += FAILING_HOLD_SECONDS  # the hold-off is over: the next alert tries teams once, not six times
    (probe,) = [d for d in process(relay, "03").deliveries if d.receiver == "teams"]
    assert probe.attempts == 1 and len(teams.sent) == relay.max_attempts + 1
    clock["now"] += FAILING_HOLD_SECONDS
    teams.result = DELIVERED
    (again,) = [d for d in process(relay, "06").deliveries if d.receiver == "teams"]  # the alert's next try
    assert again.result.ok and again.attempts == 1
    teams.result = FAILED  # it answered well since: a new failure is retried in full again
    (failed,) = [d for d in process(relay, "07").deliveries if d.receiver == "teams"]
    assert failed.attempts == relay.max_attempts


def test_what_queued_behind_a_delivery_that_gives_up_is_not_sent_after_it(relay):
    teams, others = paced(FAILED, gate=True), Channel(expect=4)
    serve(relay, teams=teams, slack=others, email=others)
    first = start(alert("01"), relay)
    assert teams.calling.wait(WAIT)  # its first attempt is under way: the destination is not failing yet
    second = start(alert("06"), relay)
    assert others.arrived.wait(WAIT)
    teams.gate.set()
    (queued,) = [d for d in second.result(WAIT).deliveries if d.receiver == "teams"]
    assert queued.attempts == 0 and f"held off for {FAILING_HOLD_SECONDS:.0f} s more" in queued.result.detail
    assert first.result(WAIT).retryable and len(teams.sent) == relay.max_attempts


def test_what_comes_for_a_destination_given_up_on_does_not_wait_in_its_lane(relay):
    teams, others = paced(FAILED), Channel()
    serve(relay, teams=teams, slack=others, email=others)
    process(relay, "01")  # gives teams up
    lane_free = threading.Event()
    relay.lanes.submit("teams", lane_free.wait)  # whatever queues there waits for the test
    try:
        second = start(alert("06"), relay).result(WAIT)
    finally:
        lane_free.set()
    (held,) = [d for d in second.deliveries if d.receiver == "teams"]
    assert held.attempts == 0 and "held off" in held.result.detail and len(teams.sent) == relay.max_attempts


# -- the worker


@pytest.mark.parametrize(("answer", "tries_before", "left"), [
    (DELIVERED, 0, {}),
    (FAILED, 0, {"waiting": 1}),
    (FAILED, MAX_TRIES - 1, {"dead": 1}),
])
def test_the_worker_finishes_an_item_when_its_last_delivery_is_done(relay, answer, tries_before, left):
    teams, others = Channel(answer, gate=True), Channel()
    serve(relay, teams=teams, slack=others, email=others)
    relay.max_attempts = 1
    inbox = SqliteInbox()
    item = inbox.put(alert("01"))
    inbox._db.execute("UPDATE inbox SET attempts = ? WHERE id = ?", (tries_before, item))
    finished = start_next(inbox, relay)
    try:
        assert teams.calling.wait(WAIT)
        assert inbox.counts() == {"taken": 1} and not finished.done()  # started, not waited for
    finally:
        teams.gate.set()
    outcome = finished.result(WAIT)
    assert outcome is not None and outcome.ok == answer.ok
    assert inbox.counts() == left
    if left == {"dead": 1}:
        told = [m for m in others.sent if "poison-" in m.thread_key]
        assert len(told) == 2 and inbox.parked()[0].reason == "not delivered to teams"  # slack and email told


def test_an_item_taken_again_after_its_lease_is_sent_once_and_finished_once(relay):
    clock = {"now": 1000.0}
    inbox = SqliteInbox(clock=lambda: clock["now"])
    inbox.put(alert("01"))
    teams, others = Channel(gate=True), Channel()
    serve(relay, teams=teams, slack=others, email=others)
    first = start_next(inbox, relay)
    try:
        assert teams.calling.wait(WAIT)
        clock["now"] += LEASE_SECONDS + 1  # its delivery to teams is still in the lane
        second = start_next(inbox, relay)
        assert second is not None and inbox.counts() == {"taken": 1}
    finally:
        teams.gate.set()
    assert first.result(WAIT).ok and second.result(WAIT).ok
    assert len(teams.sent) == 1 and [d.skipped for d in second.result().deliveries if d.receiver == "teams"] == [True]
    assert inbox.counts() == {} and handle_next(inbox, relay) is None


# -- against loopback sinks


def test_a_hanging_sink_does_not_hold_up_the_healthy_one_and_is_then_held_off(tmp_path):
    answer = threading.Event()
    with TeamsSink() as down, TeamsSink() as healthy:
        down.server.fail_always(503, hold=answer)
        config = parse_config({"receivers": [
            {"name": "down", "channel": "teams", "destination": "DOWN_URL", "max_per_second": 100},
            {"name": "healthy", "channel": "teams", "destination": "HEALTHY_URL", "max_per_second": 100}]})
        relay = open_relay(config, Paths(EXAMPLES / "inventory.json", tmp_path / "ledger.sqlite", tmp_path / "out"),
                           now=NOW, environ={"DOWN_URL": down.url, "HEALTHY_URL": healthy.url})
        relay.sleep = lambda seconds: None
        inbox = SqliteInbox()
        for name in ("01", "06"):
            inbox.put(alert(name))
        try:
            finished = start_next(inbox, relay)
            assert wait_for(lambda: len(healthy.cards) == 1), "the healthy sink waited for the one that hangs"
            assert len(down.requests) == 1 and not finished.done()
            answer.set()
            first = finished.result(WAIT)
            later = handle_next(inbox, relay)
        finally:
            answer.set()
            relay.lanes.shutdown(timeout=0)
            relay.ledger.close()
    assert {d.receiver: d.result.ok for d in first.deliveries} == {"down": False, "healthy": True}
    assert {d.receiver: d.attempts for d in later.deliveries} == {"down": 0, "healthy": 1}
    assert len(down.requests) == relay.max_attempts and len(healthy.cards) == 2
    assert inbox.counts() == {"waiting": 2}
