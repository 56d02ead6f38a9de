import pytest

from relay.channels import RateLimit
from relay.channels.pacing import HeldOff, Pacer


class FakeTime:
    def __init__(self):
        self.now = 100.0
        self.slept = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(round(seconds, 6))
        self.now += seconds


def test_calls_to_one_destination_are_spaced_by_its_rate():
    t = FakeTime()
    pacer = Pacer(t.clock, t.sleep)
    limit = RateLimit("hook", per_second=4)
    for _ in range(5):
        pacer.wait(limit)
    assert t.slept == [0.25, 0.25, 0.25, 0.25]


def test_destinations_do_not_wait_for_each_other():
    t = FakeTime()
    pacer = Pacer(t.clock, t.sleep)
    pacer.wait(RateLimit("a", 1))
    pacer.wait(RateLimit("b", 1))
    assert t.slept == []


def test_retry_after_holds_off_the_destination():
    t = FakeTime()
    pacer = Pacer(t.clock, t.sleep)
    limit = RateLimit("hook", per_second=10)
    pacer.wait(limit)
    pacer.hold_off(limit, 3)
    assert pacer.wait(limit) == 3
    assert pacer.wait(RateLimit("other", 1)) == 0


def test_no_limit_never_waits():
    t = FakeTime()
    assert Pacer(t.clock, t.sleep).wait(None) == 0


def test_a_wait_longer_than_the_caller_may_wait_is_refused_and_books_nothing():
    t = FakeTime()
    pacer = Pacer(t.clock, t.sleep)
    limit = RateLimit("hook", per_second=10)
    pacer.hold_off(limit, 300)  # a Retry-After
    assert pacer.held_off(limit, most=120) == 300 and pacer.held_off(limit, most=300) == 0
    with pytest.raises(HeldOff) as held:
        pacer.wait(limit, most=120)
    assert held.value.seconds == 300 and t.slept == []
    assert pacer.wait(limit, most=300) == 300  # nothing was booked in between


def test_a_destination_given_up_on_is_held_off_and_known_until_it_answers():
    t = FakeTime()
    pacer = Pacer(t.clock, t.sleep)
    limit = RateLimit("hook", per_second=10)
    pacer.give_up(limit, 300)
    assert pacer.given_up(limit) and not pacer.given_up(RateLimit("other", 1))
    t.now += 250
    assert pacer.held_off(limit, most=120) == 50  # not waited for, though the wait would fit
    with pytest.raises(HeldOff):
        pacer.wait(limit, most=120)
    t.now += 50
    assert pacer.held_off(limit, most=120) == 0 and pacer.wait(limit) == 0  # its one try
    assert pacer.held_off(limit, most=120) == pytest.approx(0.1)  # a second call waits for what the try comes to
    pacer.answered(limit)
    assert not pacer.given_up(limit) and pacer.held_off(limit, most=120) == 0


def paced() -> tuple[FakeTime, Pacer]:
    t = FakeTime()
    return t, Pacer(clock=t.clock, sleep=t.sleep)


def test_no_window_of_a_limit_ever_holds_more_than_its_count():
    t, pacer = paced()
    limit = RateLimit("bot", per_second=7.0, windows=((8, 2.0), (60, 30.0)))
    slots = []
    for _ in range(130):
        pacer.wait(limit)
        slots.append(t.now)
    for count, seconds in ((8, 2.0), (60, 30.0)):
        assert max(sum(1 for t in slots if start <= t < start + seconds - 1e-9) for start in slots) <= count
    assert slots[59] - slots[0] < 30 and slots[60] - slots[0] >= 30  # as fast as the windows allow, no slower
    assert slots[-1] - slots[0] < 2 * 30 + 10


def test_a_full_window_longer_than_the_caller_may_wait_is_refused_and_books_nothing():
    t, pacer = paced()
    limit = RateLimit("bot", per_second=100.0, windows=((2, 60.0),))
    pacer.wait(limit)
    pacer.wait(limit)
    with pytest.raises(HeldOff):
        pacer.wait(limit, most=10.0)
    assert pacer.wait(limit) == pytest.approx(60.0 - 0.01, abs=0.02)  # the refused call took no room
