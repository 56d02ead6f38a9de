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
