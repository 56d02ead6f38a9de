"""Lanes: work on one lane runs in the order it was submitted, lanes do not wait for each other, and a
shutdown cancels what waits. Observed through events the work sets, never through time."""
import threading
from concurrent.futures import CancelledError, Future

import pytest

from relay.channels.lanes import Lanes, gather

WAIT = 10.0  # seconds an event may take before the test fails; never reached when the code works


@pytest.fixture
def lanes():
    lanes = Lanes()
    yield lanes
    lanes.shutdown(timeout=WAIT)


def blocked(lanes: Lanes, lane: str) -> tuple[threading.Event, threading.Event]:
    """Submit work that holds the lane until released; (started, release)."""
    started, release = threading.Event(), threading.Event()
    lanes.submit(lane, lambda: (started.set(), release.wait(WAIT)))
    assert started.wait(WAIT)
    return started, release


def test_a_lane_runs_its_work_in_the_order_submitted(lanes):
    _, release = blocked(lanes, "slack")
    done = []
    futures = [lanes.submit("slack", lambda n=n: done.append(n) or n) for n in range(5)]
    release.set()
    assert [f.result(WAIT) for f in futures] == [0, 1, 2, 3, 4] and done == [0, 1, 2, 3, 4]


def test_a_held_lane_does_not_hold_another(lanes):
    _, release = blocked(lanes, "teams")
    try:
        assert lanes.submit("slack", lambda: "sent").result(WAIT) == "sent"
    finally:
        release.set()


def test_shutdown_cancels_what_waits_and_refuses_more():
    lanes = Lanes()
    _, release = blocked(lanes, "teams")
    waiting = lanes.submit("teams", lambda: "never")
    lanes.shutdown(timeout=0)  # what runs is not waited for
    release.set()
    assert waiting.cancelled()
    with pytest.raises(CancelledError):
        waiting.result()
    with pytest.raises(RuntimeError, match="shut down"):
        lanes.submit("slack", lambda: None)


def done(value) -> Future:
    future = Future()
    future.set_result(value)
    return future


def test_gather_combines_the_results_in_order_once_all_are_done():
    late = Future()
    gathered = gather([done(1), late, done(3)], sum)
    assert not gathered.done()
    late.set_result(2)
    assert gathered.result() == 6
    assert gather([], list).result() == []


def test_gather_holds_the_first_exception_or_the_cancellation():
    failed = Future()
    failed.set_exception(ValueError("no"))
    with pytest.raises(ValueError):
        gather([done(1), failed], list).result()
    cancelled = Future()
    cancelled.cancel()
    assert gather([failed, cancelled], list).cancelled()
