from relay.channels import RateLimit
from relay.channels.pacing import Pacer


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
