from relay.inbox.sqlite import LEASE_SECONDS, SqliteInbox


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_put_take_done():
    inbox = SqliteInbox(clock=Clock())
    item_id = inbox.put(b"{}")
    item = inbox.take()
    assert (item.id, item.body, item.attempts) == (item_id, b"{}", 0)
    assert inbox.take() is None  # leased
    inbox.done(item_id)
    assert inbox.counts() == {}


def test_retry_later_waits_and_counts_attempts():
    clock = Clock()
    inbox = SqliteInbox(clock=clock)
    inbox.put(b"a")
    inbox.retry_later(inbox.take().id, 30)
    assert inbox.take() is None
    clock.now += 30
    assert inbox.take().attempts == 1


def test_a_taken_item_of_a_dead_worker_comes_back_after_the_lease(tmp_path):
    clock = Clock()
    path = tmp_path / "inbox.sqlite"
    SqliteInbox(path, clock=clock).put(b"a")
    assert SqliteInbox(path, clock=clock).take() is not None
    clock.now += LEASE_SECONDS
    assert SqliteInbox(path, clock=clock).take().body == b"a"


def test_given_up_items_stay_visible():
    inbox = SqliteInbox(clock=Clock())
    inbox.put(b"a")
    inbox.give_up(inbox.take().id, "bad")
    assert inbox.take() is None
    assert inbox.counts() == {"dead": 1}
