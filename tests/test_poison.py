"""Alerts the relay gives up on: parked in the inbox, the operations receivers told once, and
`relay poison list|replay` showing them and putting them back — on the SQLite inbox and on the
Storage poison queue (Azurite)."""
import base64
import json
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient

from relay.config import ConfigError, parse_config
from relay.hosts.parked import announce_parked
from relay.hosts.serve import RelayServer
from relay.hosts.wiring import Paths, open_relay
from relay.hosts.worker import handle_next
from relay.inbox.retry import MAX_TRIES
from relay.inbox.sqlite import SqliteInbox
from relay.inbox.storage import QUEUE, StorageQueueInbox
from relay.model import SendResult
from relay.notices.parked import describe
from tests.polling import wait_for

pytest_plugins = ["tests.azurite"]

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
PLANNED = (EXAMPLES / "alerts" / "01-planned.json").read_bytes()
NOW = datetime(2027, 1, 12, tzinfo=UTC)


def config(tmp_path: Path, operations: list[str] | None = None):
    receivers = [{"name": name, "channel": "outbox", "format": fmt}
                 for name, fmt in (("platform", "teams"), ("oncall", "slack"), ("managers", "email"))]
    receivers[2]["kinds"] = ["maintenance"]
    data = {"receivers": receivers, "outbox": str(tmp_path / "out")}
    if operations is not None:
        data["operations"] = operations
    return parse_config(data)


class RefusesAlerts:
    """A destination that is down for alerts; the relay's notice about itself gets through."""

    def __init__(self, working):
        self.working = working

    def send(self, message):
        if "poison-" in message.thread_key:
            return self.working.send(message)
        return SendResult.failed("HTTP 503", retryable=True)


def broken_relay(tmp_path: Path, operations: list[str] | None):
    relay = open_relay(config(tmp_path, operations), Paths(EXAMPLES / "inventory.json", tmp_path / "ledger.sqlite"),
                       now=NOW)
    working = relay.channel_for
    relay.channel_for, relay.max_attempts = (lambda receiver: RefusesAlerts(working(receiver))), 1
    return relay


def sent(tmp_path: Path) -> dict[str, int]:
    out = tmp_path / "out"
    return {folder.name: len(list(folder.iterdir())) for folder in sorted(out.iterdir())} if out.exists() else {}


def run_until_parked(inbox: SqliteInbox, relay) -> None:
    for _ in range(MAX_TRIES):
        assert handle_next(inbox, relay) is not None
        inbox._db.execute("UPDATE inbox SET due = 0 WHERE state = 'waiting'")  # no waiting out the backoff


# -- the worker of relay serve


def test_the_last_try_parks_the_item_and_tells_only_the_operations_receivers(tmp_path):
    inbox = SqliteInbox(tmp_path / "inbox.sqlite")
    item_id = inbox.put(PLANNED)
    relay = broken_relay(tmp_path, operations=["oncall"])
    run_until_parked(inbox, relay)
    assert inbox.counts() == {"dead": 1}
    (parked,) = inbox.parked()
    assert (parked.id, parked.body, parked.attempts) == (item_id, PLANNED, MAX_TRIES)
    assert parked.reason == "not delivered to managers, oncall, platform"
    assert sent(tmp_path) == {"oncall": 1}
    notice = json.dumps(json.loads(next((tmp_path / "out" / "oncall").iterdir()).read_bytes()), ensure_ascii=False)
    for words in (f"relay poison replay {item_id}", "通知できなかったアラート", "could not be relayed",
                  "XY12-3ZQ", "not delivered to managers, oncall, platform", f"{MAX_TRIES} 回"):
        assert words in notice


def test_without_named_operations_receivers_every_receiver_is_told_whatever_kinds_it_takes(tmp_path):
    inbox = SqliteInbox()
    inbox.put(PLANNED)
    run_until_parked(inbox, broken_relay(tmp_path, operations=None))
    assert sent(tmp_path) == {"managers": 1, "oncall": 1, "platform": 1}


def test_an_unreadable_item_is_parked_at_once_and_said_to_be_unreadable(tmp_path):
    inbox = SqliteInbox()
    inbox.put(b"{not json")
    assert handle_next(inbox, broken_relay(tmp_path, ["oncall"])) is None
    assert inbox.counts() == {"dead": 1}
    assert inbox.parked()[0].reason.startswith("invalid payload")
    notice = next((tmp_path / "out" / "oncall").iterdir()).read_text(encoding="utf-8")
    assert "内容を読み取れないアラート" in notice and "an alert whose body could not be read" in notice


def test_an_item_parked_by_a_worker_killed_before_telling_is_announced_when_serve_starts(tmp_path):
    inbox = SqliteInbox(tmp_path / "inbox.sqlite")
    item_id = inbox.put(PLANNED)
    inbox.give_up(inbox.take().id, "not delivered to oncall")  # and killed before tell_operations
    relay = broken_relay(tmp_path, operations=["oncall"])
    server = RelayServer(("127.0.0.1", 0), relay, inbox)
    try:
        server.start_worker()
        assert wait_for(lambda: sent(tmp_path) == {"oncall": 1}), sent(tmp_path)
    finally:
        server.server_close()
    notice = next((tmp_path / "out" / "oncall").iterdir()).read_text(encoding="utf-8")
    assert f"relay poison replay {item_id}" in notice and "not delivered to oncall" in notice
    assert announce_parked(inbox, relay) == []  # announced once: the next start says nothing
    assert sent(tmp_path) == {"oncall": 1}


def test_operations_must_name_receivers_of_the_config(tmp_path):
    with pytest.raises(ConfigError, match="operations: no receiver is named 'ops'; there are: platform, oncall"):
        config(tmp_path, ["ops"])
    with pytest.raises(ConfigError, match="operations: a list of receiver names"):
        config(tmp_path, "oncall")


def test_describe_names_the_alert_or_says_it_cannot():
    assert describe(PLANNED).startswith("maintenance · XY12-3ZQ · Planned · ")
    assert describe(b"[]") is None


# -- the SQLite inbox


def test_replay_puts_a_parked_item_back_as_a_new_one(tmp_path):
    inbox = SqliteInbox()
    inbox.put(b"a")
    inbox.give_up(inbox.take().id, "bad")
    old = inbox.parked()[0].id
    new = inbox.replay(old)
    assert new and new != old
    assert inbox.parked() == [] and inbox.replay(old) is None
    item = inbox.take()
    assert (item.id, item.body, item.attempts) == (new, b"a", 0)


@pytest.mark.integration
def test_the_intake_waits_out_the_relaying_process_holding_the_write_lock(tmp_path):
    path = tmp_path / "inbox.sqlite"
    intake, relaying = SqliteInbox(path, role="intake"), SqliteInbox(path, role="relaying")
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    threading.Timer(0.2, lambda: holder.execute("COMMIT")).start()
    intake.put(b"a")  # would raise "database is locked" at once without its own wait (busy_timeout is 0)
    assert relaying.take().body == b"a"
    holder.close()


def test_an_item_taken_by_a_killed_process_is_taken_up_at_once(tmp_path):
    path = tmp_path / "inbox.sqlite"
    SqliteInbox(path).put(b"a")
    taker = ("import sys; sys.path.insert(0, sys.argv[2]); from relay.inbox.sqlite import SqliteInbox;"
             " print(SqliteInbox(sys.argv[1]).take().id)")
    subprocess.run([sys.executable, "-c", taker, str(path), str(ROOT)], check=True, capture_output=True)
    inbox = SqliteInbox(path)
    assert inbox.take() is None  # leased to the process that is gone
    assert inbox.release_orphans() == 1
    assert inbox.take().body == b"a"


def test_an_item_taken_by_a_killed_process_not_yet_reaped_is_taken_up_at_once(tmp_path):
    # relay serve's relaying process, killed with its parent, stays a zombie until PID 1 reaps it
    path = tmp_path / "inbox.sqlite"
    SqliteInbox(path).put(b"a")
    taker = ("import sys, time; sys.path.insert(0, sys.argv[2]); from relay.inbox.sqlite import SqliteInbox;"
             " print(SqliteInbox(sys.argv[1]).take().id, flush=True); time.sleep(60)")
    process = subprocess.Popen([sys.executable, "-c", taker, str(path), str(ROOT)], stdout=subprocess.PIPE)
    try:
        process.stdout.readline()
        assert SqliteInbox(path).release_orphans() == 0  # alive
        process.kill()
        assert wait_for(lambda: Path(f"/proc/{process.pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z")
        assert SqliteInbox(path).release_orphans() == 1  # not reaped: this test is its parent and has not waited
    finally:
        process.kill()
        process.wait()


def test_an_item_taken_by_a_live_process_stays_leased(tmp_path):
    inbox = SqliteInbox(tmp_path / "inbox.sqlite")
    inbox.put(b"a")
    inbox.take()
    assert SqliteInbox(tmp_path / "inbox.sqlite").release_orphans() == 0


# -- relay poison, as a user runs it


def relay(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "relay", *args], capture_output=True, text=True, cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", **(env or {})}, timeout=120)


def test_poison_list_and_replay_on_the_inbox_of_relay_serve(tmp_path):
    path = tmp_path / "inbox.sqlite"
    inbox = SqliteInbox(path)
    for body in (PLANNED, b"{not json"):
        inbox.put(body)
        inbox.give_up(inbox.take().id, "not delivered to teams")
    first, second = (p.id for p in inbox.parked())
    listed = relay("poison", "list", "--inbox", str(path))
    assert listed.returncode == 0, listed.stderr
    assert first in listed.stdout and "XY12-3ZQ" in listed.stdout and "(unreadable alert)" in listed.stdout
    assert "reason: not delivered to teams" in listed.stdout and "2 parked in" in listed.stdout
    as_json = json.loads(relay("poison", "list", "--format", "json", "--inbox", str(path)).stdout)
    assert [row["id"] for row in as_json] == [first, second]

    replayed = relay("poison", "replay", first, "nonexistent", "--inbox", str(path))
    assert replayed.returncode == 1
    assert f"{first}: back in the inbox as" in replayed.stdout and "nonexistent: not parked" in replayed.stdout
    assert [p.id for p in inbox.parked()] == [second] and inbox.counts() == {"waiting": 1, "dead": 1}
    assert relay("poison", "replay", "--all", "--inbox", str(path)).returncode == 0
    assert inbox.counts() == {"waiting": 2}
    assert "nothing parked" in relay("poison", "list", "--inbox", str(path)).stdout
    assert relay("poison", "replay", "--inbox", str(path)).returncode == 2


@pytest.fixture
def storage(azurite):
    clients = [QueueClient.from_connection_string(azurite, name) for name in (QUEUE, f"{QUEUE}-poison")]
    for client in clients:
        try:
            client.create_queue()
        except ResourceExistsError:
            pass
        client.clear_messages()
    yield clients
    for client in clients:
        client.close()


def test_poison_list_and_replay_on_the_storage_poison_queue(azurite, storage):
    main, poison = storage
    for body in (PLANNED, b"{\"a\": 1}", b"{\"b\": 2}"):  # as the Functions host moves them: base64, unchanged
        poison.send_message(base64.b64encode(body).decode())
    env = {"AzureWebJobsStorage": azurite}
    listed = relay("poison", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "XY12-3ZQ" in listed.stdout and "3 parked in the Storage Queue relay-inbox-poison" in listed.stdout
    assert "not recorded here" in listed.stdout  # the host does not say why
    assert azurite.split("AccountKey=")[1].split(";")[0] not in listed.stdout + listed.stderr
    middle = json.loads(relay("poison", "list", "--format", "json", env=env).stdout)[1]["id"]

    missing = relay("poison", "replay", "no-such-id", env=env)
    assert missing.returncode == 1 and "no-such-id: not parked" in missing.stdout
    assert len(poison.peek_messages(max_messages=32)) == 3
    assert relay("poison", "replay", middle, env=env).returncode == 0
    (back,) = main.peek_messages()
    assert base64.b64decode(back.content) == b"{\"a\": 1}"
    assert len(poison.peek_messages(max_messages=32)) == 2  # the ones passed over are visible again at once

    assert relay("poison", "replay", "--all", env=env).returncode == 0
    assert poison.peek_messages() == [] and len(main.peek_messages(max_messages=32)) == 3
    assert StorageQueueInbox.from_connection_string(azurite).take().body in (PLANNED, b"{\"a\": 1}", b"{\"b\": 2}")
