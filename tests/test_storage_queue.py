"""The Storage Queue inbox and the Function App's queue path, against Azurite: the HTTP trigger puts each
alert on the queue, and the queue trigger is called with the messages read back as the host hands them
over (base64 decoded, with their dequeue count)."""
import base64
import email
import email.policy
import json
import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.functions.queue import QueueMessage  # what the Python worker builds from the host's message
from azure.storage.queue import QueueClient

from relay.hosts.queue import NotRelayed
from relay.inbox.retry import MAX_TRIES, RETRY_SECONDS
from relay.inbox.storage import MAX_BODY_BYTES, QUEUE, StorageQueueInbox
from relay.model import SendResult
from tests.functions import FunctionApp

pytest_plugins = ["tests.azurite"]

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
PLANNED = (EXAMPLES / "alerts" / "01-planned.json").read_bytes()
REDELIVERED = (EXAMPLES / "alerts" / "02-planned-redelivered.json").read_bytes()


def raw_queue(connection_string: str, name: str) -> QueueClient:
    """The queue without the SDK's decoding: what is stored, as the host reads it."""
    return QueueClient.from_connection_string(connection_string, name)


@pytest.fixture
def queues(azurite):
    """The relay's queue and its poison queue, empty."""
    clients = [raw_queue(azurite, QUEUE), raw_queue(azurite, f"{QUEUE}-poison")]
    for client in clients:
        try:
            client.create_queue()
        except ResourceExistsError:  # from an earlier test
            pass
        client.clear_messages()
    yield clients
    for client in clients:
        client.close()


@pytest.fixture
def inbox(azurite, queues):
    inbox = StorageQueueInbox.from_connection_string(azurite)
    yield inbox
    inbox.close()


# -- the inbox


def test_put_stores_base64_text_that_never_expires(inbox, queues):
    body = "{\"title\": \"メンテナンス\"}".encode()
    item_id = inbox.put(body)
    (stored,) = queues[0].peek_messages(max_messages=5)
    assert stored.id == item_id
    assert base64.b64decode(stored.content) == body
    assert stored.expires_on.year == 9999


def test_put_take_done(inbox, queues):
    item_id = inbox.put(b"\xef\xbb\xbf{}")  # a byte order mark and all
    item = inbox.take()
    assert (item.id, item.body, item.attempts) == (item_id, b"\xef\xbb\xbf{}", 0)
    assert inbox.take() is None  # hidden while taken
    inbox.done(item_id)
    assert queues[0].peek_messages() == []


def test_retry_later_hides_the_item_for_the_delay(inbox):
    inbox.put(b"a")
    inbox.retry_later(inbox.take().id, 30)
    assert inbox.take() is None


def test_an_item_retried_at_once_comes_back_with_one_more_attempt(inbox):
    inbox.put(b"a")
    inbox.retry_later(inbox.take().id, 0)
    again = inbox.take()
    assert (again.body, again.attempts) == (b"a", 1)


def test_give_up_moves_the_message_to_the_poison_queue_as_the_host_does(inbox, queues, caplog):
    inbox.put(b"{\"a\": 1}")
    inbox.give_up(inbox.take().id, "invalid payload")
    assert queues[0].peek_messages() == []
    (parked,) = queues[1].peek_messages()
    assert base64.b64decode(parked.content) == b"{\"a\": 1}"
    assert "invalid payload" in caplog.text and f"{QUEUE}-poison" in caplog.text


def test_the_queue_is_created_on_first_put_and_take_waits_for_it(azurite):
    inbox = StorageQueueInbox.from_connection_string(azurite, queue="fresh-inbox")
    assert inbox.take() is None
    inbox.put(b"x")
    assert inbox.take().body == b"x"
    raw_queue(azurite, "fresh-inbox").delete_queue()


def test_a_body_over_what_a_message_holds_is_refused(inbox):
    inbox.put(b"x" * MAX_BODY_BYTES)  # 64 KiB once in base64: the most a message holds
    with pytest.raises(ValueError, match="queue message"):
        inbox.put(b"x" * (MAX_BODY_BYTES + 1))


# -- the Function App's queue path


class Failing:
    def send(self, message):
        return SendResult.failed("HTTP 503", retryable=True)


class FailingAlerts:
    """A receiver whose destination refuses alerts, but takes the relay's notices about itself."""

    def __init__(self, working):
        self.working = working

    def send(self, message):
        return self.working.send(message) if "poison-" in message.thread_key else Failing().send(message)


@pytest.fixture
def app(azurite, queues, tmp_path):
    """The Function App with a Storage Queue; its outbox is tmp_path/out."""
    app = FunctionApp({"AzureWebJobsStorage": azurite, "RELAY_INVENTORY": str(EXAMPLES / "inventory.json"),
                       "RELAY_LEDGER": str(tmp_path / "ledger.sqlite"), "RELAY_OUTBOX": str(tmp_path / "out")})
    yield app
    app.close()


@pytest.fixture
def outbox(app, tmp_path) -> Path:
    return tmp_path / "out"


def receive(queue: QueueClient) -> QueueMessage:
    """The next message as the Functions host gives it to Python: base64 decoded, with its dequeue count."""
    message = queue.receive_message(visibility_timeout=600)
    return QueueMessage(id=message.id, body=base64.b64decode(message.content),
                        dequeue_count=message.dequeue_count, pop_receipt=message.pop_receipt)


def trigger(app: FunctionApp, queue: QueueClient, message: QueueMessage) -> None:
    """Calls the queue trigger, then does what the host does: deletes the message when the function returns,
    makes it visible again when it raises (after visibilityTimeout; at once here)."""
    try:
        app["process"](message)
    except Exception:
        queue.update_message(message.id, pop_receipt=message.pop_receipt, visibility_timeout=0)
        raise
    queue.delete_message(message.id, pop_receipt=message.pop_receipt)


def files(outbox: Path) -> list[Path]:
    return sorted(outbox.glob("*/*"))


def readable(path: Path) -> str:
    """A message file's text as people read it: JSON unescaped, email parts decoded."""
    if path.suffix == ".json":
        return json.dumps(json.loads(path.read_bytes()), ensure_ascii=False)
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    return "\n".join(part.get_content() for part in message.walk() if part.get_content_maintype() == "text")


def test_the_intake_queues_and_the_queue_trigger_relays(app, outbox, queues):
    response = app.post(PLANNED)
    assert response.status_code == 202, response.get_body()
    assert files(outbox) == []  # nothing relayed inside the HTTP call
    message = receive(queues[0])
    assert message.get_body() == PLANNED and message.dequeue_count == 1
    assert json.loads(response.get_body())["id"] == message.id
    trigger(app, queues[0], message)
    assert len(files(outbox)) == 3
    assert queues[0].peek_messages() == []


def test_a_redelivered_alert_is_queued_again_and_sends_nothing(app, outbox, queues):
    app.post(PLANNED)
    trigger(app, queues[0], receive(queues[0]))
    assert app.post(REDELIVERED).status_code == 202
    trigger(app, queues[0], receive(queues[0]))
    assert len(files(outbox)) == 3


def test_a_failed_delivery_raises_so_the_host_tries_again(app, outbox, queues, caplog):
    app.post(PLANNED)
    relay = app.host.relay
    working, relay.channel_for, relay.max_attempts = relay.channel_for, lambda receiver: Failing(), 1
    with pytest.raises(NotRelayed, match="not delivered to email, slack, teams"):
        trigger(app, queues[0], receive(queues[0]))
    assert "try 1 of 5" in caplog.text
    again = receive(queues[0])
    assert again.dequeue_count == 2
    relay.channel_for = working
    trigger(app, queues[0], again)
    assert len(files(outbox)) == 3
    assert queues[0].peek_messages() == []


def last_try_of_an_undeliverable_alert(app: FunctionApp, queues) -> QueueMessage:
    """The alert's fifth dequeue, with every destination refusing it (but taking the relay's notices)."""
    app.post(PLANNED)
    relay = app.host.relay
    working = relay.channel_for
    relay.channel_for, relay.max_attempts = lambda receiver: FailingAlerts(working(receiver)), 1
    message = receive(queues[0])
    return QueueMessage(id=message.id, body=message.get_body(), dequeue_count=MAX_TRIES,
                        pop_receipt=message.pop_receipt)


def poisoned(queues) -> list:
    return [m for m in queues[1].peek_messages(max_messages=32)]


def test_the_last_try_parks_the_alert_and_tells_operations_the_id_that_replays_it(app, outbox, azurite, queues, caplog):
    last = last_try_of_an_undeliverable_alert(app, queues)
    with caplog.at_level(logging.ERROR, logger="relay.poison"):
        trigger(app, queues[0], last)  # returns: the relay parked it itself, so the host deletes the original
    assert queues[0].peek_messages() == []
    (parked,) = poisoned(queues)
    assert base64.b64decode(parked.content) == PLANNED and parked.id != last.id
    assert f"parked {parked.id} after 5 tries" in caplog.text
    # every operations receiver (all of them, as none are named) got the notice, with the command to replay
    notices = files(outbox)
    assert len(notices) == 3
    for notice in notices:
        text = readable(notice)
        assert f"relay poison replay {parked.id}" in text and "relay-inbox-poison" in text, notice
    # every delivery of the alert is recorded as failed, with its reason, and not as final: a replay may send it
    with sqlite3.connect(outbox.parent / "ledger.sqlite") as db:
        recorded = db.execute("SELECT receiver, ok, final, detail FROM deliveries"
                              " WHERE notification_key NOT LIKE 'event/poison-%' ORDER BY receiver").fetchall()
    assert [row[:3] for row in recorded] == [("email", 0, 0), ("slack", 0, 0), ("teams", 0, 0)]
    assert all(row[3].startswith("HTTP 503 (gave up after 1 attempt(s)") for row in recorded)
    # the id the notice gave is the one replay takes
    replayed = StorageQueueInbox.from_connection_string(azurite).replay(parked.id)
    assert replayed and poisoned(queues) == []
    assert receive(queues[0]).get_body() == PLANNED


def test_without_a_way_to_park_the_last_try_is_left_to_the_host(app, outbox, queues):
    from relay.hosts.queue import handle_message

    last = last_try_of_an_undeliverable_alert(app, queues)
    with pytest.raises(NotRelayed, match="not delivered"):
        handle_message(last.get_body(), last.dequeue_count, app.host.relay, last.id)
    assert files(outbox) == []  # the host's copy gets an id of its own: the timer tells that one


def test_what_the_host_parked_is_announced_once_by_the_timer(app, outbox, queues, caplog):
    app.post(PLANNED)
    taken = queues[0].receive_message()
    queues[1].send_message(taken.content)  # a last try killed or timed out: the host parks it, nobody tells
    queues[0].delete_message(taken)
    (parked,) = poisoned(queues)

    app["announce_parked"](None)
    notices = files(outbox)
    assert len(notices) == 3
    for notice in notices:
        text = readable(notice)
        assert f"relay poison replay {parked.id}" in text and "killed, or past the function timeout" in text
        assert "理由: 最後の試行中にリレーが停止したため" in text
        assert "XY12-3ZQ" in text  # which alert: its trackingId, read from the parked body
    caplog.clear()
    app["announce_parked"](None)  # the next run finds it announced, and says nothing
    assert files(outbox) == notices and "not announced" not in caplog.text
    assert [m.id for m in poisoned(queues)] == [parked.id]  # still parked, for people to replay


def test_an_invalid_message_raises_every_time(app, outbox, queues):
    queues[0].send_message(base64.b64encode(b"{").decode())
    with pytest.raises(NotRelayed, match="invalid payload"):
        trigger(app, queues[0], receive(queues[0]))


def test_an_alert_too_large_for_a_message_is_relayed_at_once(app, outbox, queues):
    large = PLANNED + b" " * MAX_BODY_BYTES  # still valid JSON, and well under the intake's 256 KB
    assert app.post(large).status_code == 202
    assert queues[0].peek_messages() == []
    assert len(files(outbox)) == 3


def test_an_inbox_that_cannot_be_written_is_503_and_the_key_stays_out_of_the_log(azurite, tmp_path, caplog):
    key = dict(part.split("=", 1) for part in azurite.split(";") if part)["AccountKey"]
    dead = f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={key};" \
           "QueueEndpoint=http://127.0.0.1:9/devstoreaccount1;"
    app = FunctionApp({"AzureWebJobsStorage": dead, "RELAY_LEDGER": str(tmp_path / "ledger.sqlite"),
                       "RELAY_OUTBOX": str(tmp_path / "out")})
    with caplog.at_level(logging.DEBUG):
        response = app.post(PLANNED)
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert key not in caplog.text and key not in response.get_body().decode()


def test_the_queue_trigger_is_registered_only_with_a_queue_connection(azurite):
    code = ("import function_app, json, sys; functions = function_app.app.get_functions();"
            " print(json.dumps({f.get_function_name(): f.get_function_json() for f in functions}));"
            " print(sorted(m for m in sys.modules if m.startswith(('azure.storage', 'azure.data', 'jinja2'))))")

    def functions(env: dict) -> tuple[dict, str]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("AzureWebJobsStorage", "RELAY_"))}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60,
                             env=clean | env)
        assert out.returncode == 0, out.stderr
        names, modules = out.stdout.strip().splitlines()
        return json.loads(names), modules

    inline, _ = functions({})
    assert list(inline) == ["ingest", "scheduled_events", "calendar", "remind"]
    queued, modules = functions({"AzureWebJobsStorage": azurite})
    assert list(queued) == ["ingest", "scheduled_events", "calendar", "remind", "process", "announce_parked"]
    (timer,) = json.loads(queued["announce_parked"])["bindings"]
    assert timer["type"] == "timerTrigger" and timer["schedule"] == "0 5-59/15 * * * *"
    (binding,) = json.loads(queued["process"])["bindings"]
    assert binding == {"direction": "IN", "type": "queueTrigger", "name": "msg", "queueName": QUEUE,
                       "connection": "AzureWebJobsStorage"}
    assert modules == "[]"  # imported on the first call, not at start
    identity, _ = functions({"RelayStorage__accountName": "stexample", "RELAY_QUEUE_CONNECTION": "RelayStorage"})
    assert json.loads(identity["process"])["bindings"][0]["connection"] == "RelayStorage"


def test_host_json_retries_as_the_relay_expects():
    queues = json.loads((ROOT / "host.json").read_text())["extensions"]["queues"]
    assert queues["maxDequeueCount"] == MAX_TRIES
    hours, minutes, seconds = (int(part) for part in queues["visibilityTimeout"].split(":"))
    assert hours * 3600 + minutes * 60 + seconds == RETRY_SECONDS
    assert queues["messageEncoding"] == "base64"
