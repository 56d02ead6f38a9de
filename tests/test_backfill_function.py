"""The Function App's backfill timer: registered only when the config names subscriptions; run (in a process of
its own, signed in from the environment as on Azure) against the ARM emulator, it puts what was missed on
the Storage Queue in Azurite, where the queue trigger relays it, with the ledger on Table Storage — or,
without a queue, relays it at once."""
import base64
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.functions.queue import QueueMessage
from azure.storage.queue import QueueClient

from relay.inbox.storage import QUEUE
from tests.emulator import CLIENT_ID, CLIENT_SECRET, TENANT_ID, ArmEmulator
from tests.functions import FunctionApp
from tests.test_backfill import news

pytest_plugins = ["tests.azurite"]

ROOT = Path(__file__).resolve().parent.parent
INVENTORY = ROOT / "examples" / "inventory.json"
TIMER = ("import os; from azure.functions.timer import TimerRequest; from function_app import app;"
         " functions = {f.get_function_name(): f.get_user_function() for f in app.get_functions()};"
         " functions['backfill'](TimerRequest())")  # as the host calls it


def clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith(("AzureWebJobsStorage", "RELAY_", "AZURE_"))}


def app_settings(emu: ArmEmulator, tmp_path: Path, subscriptions: list[str]) -> dict:
    config = tmp_path / "relay.yaml"
    config.write_text(json.dumps({
        "azure": {"arm_url": emu.url, "authority": emu.url, "subscriptions": subscriptions},
        "receivers": [{"name": "mail", "channel": "outbox", "format": "email"}],
    }))
    return {"RELAY_CONFIG": str(config), "RELAY_INVENTORY": str(INVENTORY),
            "RELAY_LEDGER": str(tmp_path / "ledger.sqlite"), "RELAY_OUTBOX": str(tmp_path / "outbox")}


def run_timer(emu: ArmEmulator, settings: dict) -> subprocess.CompletedProcess:
    env = clean_env() | settings | {"AZURE_TENANT_ID": TENANT_ID, "AZURE_CLIENT_ID": CLIENT_ID,
                                    "AZURE_CLIENT_SECRET": CLIENT_SECRET, "SSL_CERT_FILE": str(emu.tls.bundle)}
    done = subprocess.run([sys.executable, "-c", TIMER], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=120)
    assert CLIENT_SECRET not in done.stdout + done.stderr
    return done


def mails(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "outbox").glob("mail/*.eml"))


@pytest.fixture
def queue(azurite):
    client = QueueClient.from_connection_string(azurite, QUEUE)
    try:
        client.create_queue()
    except ResourceExistsError:
        pass
    client.clear_messages()
    yield client
    client.close()


def test_the_timer_queues_what_was_missed_and_the_queue_trigger_relays_it(ca, tmp_path, azurite, queue):
    estate = news(subscriptions=3, now=datetime.now(UTC))  # the timer runs on the real clock: the last day is read
    denied = estate.subscriptions[2]
    with ArmEmulator(estate, tls=ca, forbidden=(denied,)) as emu:
        settings = app_settings(emu, tmp_path, estate.subscriptions) | {
            "AzureWebJobsStorage": azurite, "RELAY_TABLES_CONNECTION": azurite, "RELAY_TABLE": f"t{uuid.uuid4().hex}"}
        first = run_timer(emu, settings)
        # the forbidden subscription fails the invocation, after the others were queued
        assert first.returncode != 0 and "BackfillIncomplete: 5 seen, 3 already known, 2 queued, 1 of 3" in first.stderr
        messages = queue.receive_messages(max_messages=32, visibility_timeout=600)
        bodies = [(m, base64.b64decode(m.content)) for m in messages]
        assert len(bodies) == 2 and mails(tmp_path) == []

        app = FunctionApp(settings)
        try:
            for message, body in bodies:
                app["process"](QueueMessage(id=message.id, body=body, dequeue_count=1, pop_receipt=message.pop_receipt))
                queue.delete_message(message)
        finally:
            app.close()
        assert len(mails(tmp_path)) == 2

        again = run_timer(emu, settings)  # the watermark, and the Table ledger
    assert "0 queued, 1 of 3 subscription(s) failed" in again.stderr
    assert queue.peek_messages() == []


def test_without_a_queue_the_timer_relays_at_once(ca, tmp_path):
    estate = news(subscriptions=2, now=datetime.now(UTC))
    with ArmEmulator(estate, tls=ca) as emu:
        done = run_timer(emu, app_settings(emu, tmp_path, estate.subscriptions))
        assert done.returncode == 0, done.stderr
        assert len(mails(tmp_path)) == 2
        assert run_timer(emu, app_settings(emu, tmp_path, estate.subscriptions)).returncode == 0
    assert len(mails(tmp_path)) == 2


def test_the_timer_is_registered_only_when_the_config_names_subscriptions(tmp_path):
    code = ("import function_app, json, sys; functions = function_app.app.get_functions();"
            " print(json.dumps({f.get_function_name(): f.get_function_json() for f in functions}));"
            " print(sorted(m for m in sys.modules"
            " if m.startswith(('azure.mgmt', 'azure.identity', 'jinja2', 'aiohttp'))))")

    def functions(config: str | None) -> tuple[dict, str]:
        env = clean_env()
        if config is not None:
            path = tmp_path / "relay.yaml"
            path.write_text(config)
            env["RELAY_CONFIG"] = str(path)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60,
                             env=env)
        assert out.returncode == 0, out.stderr
        names, modules = out.stdout.strip().splitlines()
        return json.loads(names), modules

    with_subscriptions, modules = functions("azure:\n  subscriptions: [0a1b2c3d-1111-2222-3333-444455556666]\n")
    assert sorted(with_subscriptions) == ["backfill", "calendar", "ingest", "remind", "scheduled_events"]
    (binding,) = json.loads(with_subscriptions["backfill"])["bindings"]
    assert binding == {"direction": "IN", "type": "timerTrigger", "name": "timer", "schedule": "0 */15 * * * *",
                       "runOnStartup": False}
    assert modules == "[]"  # the SDKs load when the timer first runs
    assert list(functions(None)[0]) == ["ingest", "scheduled_events", "calendar", "remind"]
    assert list(functions("azure:\n  tenant_wide: true\n")[0]) == ["ingest", "scheduled_events", "calendar", "remind"]
    assert list(functions("azure: [\n")[0]) == ["ingest", "scheduled_events", "calendar", "remind"]  # an unreadable config leaves the intake running
