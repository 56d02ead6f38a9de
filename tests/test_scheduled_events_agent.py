"""`relay agent` against a loopback Instance Metadata Service, reporting to `relay serve` (or a recording
relay) over real HTTP on 127.0.0.1; and the Function's POST /api/scheduled-events."""
import json
import logging
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import azure.functions as func
import pytest

from relay.agent import wire
from relay.agent.bounded import MAX_DEPTH
from relay.agent.imds import MAX_ANSWER_BYTES, Imds, ImdsError
from relay.agent.intake import Intake
from relay.agent.watch import Watch
from relay.agent.wire import report
from relay.alerts import MAX_BYTES, parse_alert
from relay.config import default_config
from relay.hosts.serve import RelayServer
from relay.hosts.wiring import Paths, open_relay
from relay.inbox.sqlite import SqliteInbox
from relay.render.times import format_time_both
from tests.functions import FunctionApp
from tests.polling import wait_for
from tests.sinks.imds import ImdsEmulator
from tests.sinks.server import LoopbackServer, Reply

ROOT = Path(__file__).resolve().parent.parent
ALERT_BODY = (ROOT / "examples" / "alerts" / "01-planned.json").read_bytes()
KEY = "agent-k3y"
SHARED = "5C0FFEE1-0000-4000-8000-000000000042"


def soon(minutes: int = 15) -> datetime:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).replace(microsecond=0)



@pytest.fixture
def relay_serve(tmp_path):
    relay = open_relay(default_config(), Paths(None, tmp_path / "ledger.sqlite", tmp_path / "out"))
    server = RelayServer(("127.0.0.1", 0), relay, SqliteInbox(tmp_path / "inbox.sqlite"), key=KEY)
    server.start_worker()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}/api/scheduled-events"
    yield server
    server.shutdown()
    server.server_close()
    relay.ledger.close()


class Running:
    """An agent's loop in a thread, as `relay agent` runs it."""

    def __init__(self, imds: ImdsEmulator, url: str, key: str | None = KEY, **options):
        self.watch = Watch(Imds(imds.url), Intake(url, key), **options)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.watch.run, args=(self.stop, 0.05), daemon=True)

    def __enter__(self) -> Watch:
        self.thread.start()
        return self.watch

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(5)


def messages(tmp_path, channel: str = "teams") -> list[str]:
    return [p.read_text(encoding="utf-8") for p in sorted((tmp_path / "out" / channel).glob("*"))]


def count(tmp_path) -> int:
    return len(list((tmp_path / "out").glob("*/*")))


# -- the emulator ----------------------------------------------------------------------------------------------------


def test_the_emulator_answers_like_the_service():
    with ImdsEmulator() as imds:
        url = f"{imds.url}/metadata/scheduledevents?api-version=2020-07-01"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=5)
        assert refused.value.code == 400  # no Metadata: true
        bare = urllib.request.Request(f"{imds.url}/metadata/scheduledevents", headers={"Metadata": "true"})
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(bare, timeout=5)  # no api-version
        client = Imds(imds.url)
        first, events = client.scheduled_events()
        assert events == []
        event_id = imds.add("Reboot", not_before=soon())
        second, (event,) = client.scheduled_events()
        assert second > first and event["EventStatus"] == "Scheduled" and event["NotBefore"].endswith(" GMT")
        client.approve(event_id)
        client.approve(event_id)  # again: still 200
        assert imds.approvals == [event_id, event_id]
        assert client.instance()["resourceId"].endswith("/virtualMachines/vm-web-01")


# -- the agent against a recording relay -----------------------------------------------------------------------------


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def recorder():
    with LoopbackServer(lambda request: Reply(202, {"id": "kept"})) as server:
        server.intake = f"{server.url}/api/scheduled-events?code=secret-in-query"
        yield server


def test_new_and_changed_events_are_reported_once_each_and_only_for_this_vm(recorder):
    with ImdsEmulator() as imds:
        watch = Watch(Imds(imds.url), Intake(recorder.intake))
        mine = imds.add("Reboot", not_before=soon())
        imds.add("Reboot", not_before=soon(), resources=("vm-other",))
        for _ in range(3):
            watch.step()
        (first,) = recorder.requests
        sent = first.json()
        assert sent["schemaId"] == "relay/scheduledEvent" and sent["data"]["vm"]["name"] == "vm-web-01"
        assert sent["data"]["event"]["EventId"] == mine and sent["data"]["vm"]["resourceId"] == imds.resource_id
        imds.change(mine, not_before=soon(20))
        watch.step()
        imds.start(mine)
        watch.step()
        watch.step()
        imds.remove(mine)
        watch.step()
        statuses = [r.json()["data"]["event"]["EventStatus"] for r in recorder.requests]
        assert statuses == ["Scheduled", "Scheduled", "Started"]
        assert watch.reported == {} and watch.pending == {}


def test_a_report_the_relay_did_not_take_is_sent_again_after_a_backoff(recorder, caplog):
    clock = Clock()
    with ImdsEmulator() as imds:
        watch = Watch(Imds(imds.url), Intake(recorder.intake), clock=clock)
        imds.add("Redeploy", not_before=soon())
        recorder.fail_next(503)
        watch.step()
        watch.step()
        assert len(recorder.requests) == 1 and watch.pending
        clock.now += 1.0
        watch.step()
        assert len(recorder.requests) == 2 and not watch.pending
        clock.now += 100
        watch.step()
        assert len(recorder.requests) == 2
        recorder.fail_next(400, body={"title": "Invalid alert payload"})
        imds.start(next(iter(imds.events)))
        watch.step()
        clock.now += 100
        watch.step()
        assert len(recorder.requests) == 3  # refused for good: not sent again
    assert "secret-in-query" not in caplog.text and "/api/scheduled-events" in caplog.text


def test_the_agent_survives_imds_hiccups(recorder):
    with ImdsEmulator() as imds:
        imds.server.fail_next(400, times=2)  # e.g. a proxy that drops the Metadata header
        watch = Watch(Imds(imds.url), Intake(recorder.intake), vm_name="vm-web-01")
        watch.step()
        imds.server.fail_next(500)
        imds.server.fail_next(drop=True)
        watch.step()
        watch.step()
        assert watch.failures == 3 and not recorder.requests
        imds.add("Freeze", not_before=soon())
        watch.step()
        assert watch.failures == 0 and len(recorder.requests) == 1


def test_without_instance_metadata_the_vm_name_is_required():
    with LoopbackServer(lambda request: Reply(404)) as nothing:
        assert Watch(Imds(nothing.url), Intake(nothing.url)).once() == 1


@pytest.mark.parametrize("status, approved", [(0, True), (1, False)])
def test_drain_then_approve(recorder, status, approved):
    with ImdsEmulator() as imds:
        event_id = imds.add("Reboot", not_before=soon())
        command = (f'"{sys.executable}" -c "import os, sys;'
                   f" sys.exit({status} if os.environ['RELAY_EVENT_ID'] == '{event_id}' else 3)\"")
        assert Watch(Imds(imds.url), Intake(recorder.intake), drain=command).once() == 0
        assert imds.approvals == ([event_id] if approved else [])


def test_a_drain_that_runs_too_long_is_stopped_and_not_approved(recorder):
    with ImdsEmulator() as imds:
        imds.add("Reboot", not_before=soon())
        command = f'"{sys.executable}" -c "import time; time.sleep(30)"'
        started = time.monotonic()
        assert Watch(Imds(imds.url), Intake(recorder.intake), drain=command, drain_timeout=0.5).once() == 0
        assert imds.approvals == [] and time.monotonic() - started < 20


def test_the_command_runs_once_against_the_emulator(recorder, tmp_path):
    with ImdsEmulator() as imds:
        imds.add("Reboot", not_before=soon())
        done = subprocess.run([sys.executable, "-m", "relay", "agent", "--once", "--imds-url", imds.url,
                               "--relay-url", recorder.intake, "--key-env", "AGENT_KEY"],
                              capture_output=True, text=True, cwd=ROOT, timeout=60,
                              env={"AGENT_KEY": KEY, "PATH": "", "PYTHONPATH": str(ROOT)})
        assert done.returncode == 0, done.stderr
        assert recorder.requests[0].headers["x-functions-key"] == KEY
        assert "watching the Scheduled Events of vm-web-01" in done.stderr and KEY not in done.stderr
        assert "secret-in-query" not in done.stderr


# -- bounds on what the agent reads ----------------------------------------------------------------------------------


class Flood(ThreadingHTTPServer):
    """Answers every GET with 200 and SIZE bytes, counting those it could send before the client hung up."""

    daemon_threads = True
    SIZE = 256 * 1024 * 1024

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Flooding)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.sent = 0
        self.done = threading.Event()

    def __enter__(self) -> "Flood":
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()


class _Flooding(BaseHTTPRequestHandler):
    server: Flood

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(Flood.SIZE))
        self.end_headers()
        chunk = b" " * 65536
        try:
            while self.server.sent < Flood.SIZE:
                self.wfile.write(chunk)
                self.server.sent += len(chunk)
        except OSError:
            pass  # the client hung up
        finally:
            self.server.done.set()

    def log_message(self, format: str, *args) -> None:
        pass


def test_a_huge_answer_is_read_no_further_than_the_bound():
    with Flood() as flood:
        with pytest.raises(ImdsError, match=f"answered more than {MAX_ANSWER_BYTES} bytes"):
            Imds(flood.url).scheduled_events()
        assert flood.done.wait(30)
    # the rest of what was sent sat in the socket buffers (a few MiB), never in the agent
    assert flood.sent < 64 * 1024 * 1024 < Flood.SIZE


def test_a_deep_or_non_finite_answer_is_logged_once_and_the_agent_polls_on(recorder, caplog):
    deep = b"[" * 200_000 + b"]" * 200_000
    infinite = {"EventId": SHARED, "EventType": "Reboot", "Resources": ["vm-web-01"], "EventStatus": "Started",
                "NotBefore": "", "DurationInSeconds": 0}
    infinite_doc = json.dumps({"DocumentIncarnation": 9, "Events": [infinite]}).replace('"DurationInSeconds": 0',
                                                                                       '"DurationInSeconds": 1e999')
    with ImdsEmulator() as imds:
        watch = Watch(Imds(imds.url), Intake(recorder.intake))
        watch.step()  # learns the VM, so the answers below are the events'
        imds.server.fail_next(200, body=deep, times=3)
        imds.server.fail_next(200, body=infinite_doc.encode(), times=2)
        for _ in range(5):
            watch.step()
        assert watch.failures == 5 and not recorder.requests
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 2, warnings  # one line for each kind of answer, not one a round
        assert f"nested deeper than {MAX_DEPTH} levels" in warnings[0] and "1e999" in warnings[1]
        event_id = imds.add("Reboot", not_before=soon(), description="[" * 100 + "{")  # brackets in a text are text
        watch.step()
        assert watch.failures == 0 and recorder.requests[0].json()["data"]["event"]["EventId"] == event_id


@pytest.mark.parametrize("number", ["1e999", "-1e999", "NaN", "Infinity", "-Infinity"])
def test_an_answer_with_a_number_that_is_not_finite_is_refused(number):
    with ImdsEmulator() as imds:
        imds.server.fail_next(200, body=f'{{"DocumentIncarnation": 1, "Events": [], "x": [{number}]}}'.encode())
        with pytest.raises(ImdsError, match="not finite"):
            Imds(imds.url).scheduled_events()


@pytest.mark.parametrize("large", ["Resources", "Description"])
def test_an_event_too_large_for_the_relay_is_reported_reduced(recorder, caplog, large):
    assert wire.MAX_BYTES == MAX_BYTES
    resources = ("vm-web-01", *(f"vm-pool-{i:05}" for i in range(30_000 if large == "Resources" else 0)))
    description = "Host server is undergoing maintenance. " * (10_000 if large == "Description" else 1)
    not_before = soon()
    with ImdsEmulator() as imds:
        event_id = imds.add("Reboot", not_before=not_before, resources=resources, description=description)
        assert Watch(Imds(imds.url), Intake(recorder.intake)).once() == 0
    (sent,) = recorder.requests
    assert len(sent.body) <= MAX_BYTES
    event = parse_alert(sent.body)
    scheduled = event.scheduled
    assert scheduled.event_id == event_id and scheduled.type == "Reboot" and scheduled.status == "Scheduled"
    assert scheduled.not_before == not_before and scheduled.source == "Platform" and event.warnings == ()
    kept = sent.json()["data"]["event"]["Resources"]
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert event_id in warning
    if large == "Resources":
        assert 10_000 < len(kept) < len(resources) and kept == list(resources[:len(kept)])
        assert f"{len(resources) - len(kept)} of its {len(resources)} Resources are left out" in warning
        assert event.title == description.strip()
    else:
        assert kept == ["vm-web-01"] and "left out" not in warning
        assert event.title.startswith(description[:200]) and event.title.endswith("…")
        assert len(event.title) <= wire.TEXT_CHARS


def test_a_deep_problem_from_the_relay_is_read_as_its_status_alone():
    with LoopbackServer(lambda request: Reply(400, b"[" * 200_000)) as relay:
        assert Intake(relay.url).post({}).detail == "HTTP 400"


# -- the agent, relay serve and the outbox ---------------------------------------------------------------------------


def test_an_event_becomes_one_urgent_message_then_updates(relay_serve, tmp_path):
    with ImdsEmulator() as imds, Running(imds, relay_serve.url) as watch:
        not_before = soon()
        event_id = imds.add("Reboot", not_before=not_before)
        assert wait_for(lambda: count(tmp_path) == 3, 5)
        (card,) = messages(tmp_path)
        assert "【VM の再起動】スケジュール済み" in card and format_time_both(not_before, "ja") in card
        assert "あと14分" in card or "あと15分" in card
        time.sleep(1.1)  # the outbox names a message by the second it was seen

        imds.change(event_id, not_before=soon(20))
        assert wait_for(lambda: count(tmp_path) == 6, 5)
        assert "開始時刻が変わりました" in messages(tmp_path)[-1] and "（更新）" in messages(tmp_path)[-1]
        time.sleep(1.1)

        imds.start(event_id)
        assert wait_for(lambda: count(tmp_path) == 9, 5)
        assert "再起動が始まりました" in messages(tmp_path)[-1]

        imds.remove(event_id)
        imds.add("Reboot", not_before=soon(), resources=("vm-other",))
        time.sleep(1.0)
        assert count(tmp_path) == 9 and watch.reported == {} and watch.pending == {}


def test_two_vms_of_one_event_make_one_message_listing_both(relay_serve, tmp_path):
    with ImdsEmulator("vm-web-01") as one, ImdsEmulator("vm-web-02") as two:
        for imds in (one, two):
            imds.add("Reboot", not_before=soon(), resources=("vm-web-01", "vm-web-02"), event_id=SHARED)
        with Running(one, relay_serve.url) as first, Running(two, relay_serve.url) as second:
            assert wait_for(lambda: SHARED in first.reported and SHARED in second.reported, 5)
            assert wait_for(lambda: relay_serve.inbox.counts() == {}, 5)
    assert count(tmp_path) == 3
    (card,) = messages(tmp_path)
    assert "vm-web-01、vm-web-02" in card


def test_the_key_is_required(relay_serve, tmp_path):
    body = json.dumps(report({"name": "vm-web-01"}, {"EventId": SHARED}, datetime.now(UTC))).encode()
    assert Intake(relay_serve.url).post(report({"name": "x"}, {}, datetime.now(UTC))).status == 401
    assert Intake(relay_serve.url, "wrong").post(json.loads(body)).status == 401
    refused = Intake(relay_serve.url, KEY).post(json.loads(body))
    assert refused.status == 400 and "$.data.event.EventType" in refused.detail


# -- the Function -------------------------------------------------------------------------------------------------------


def test_the_function_registers_the_route():
    code = ("import function_app, json; print(json.dumps({f.get_function_name(): json.loads(f.get_function_json())"
            " for f in function_app.app.get_functions()}))")
    env = {"PATH": "", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    functions = json.loads(out.stdout)
    (trigger, _) = functions["scheduled_events"]["bindings"]
    assert trigger["route"] == "scheduled-events" and trigger["methods"] == ["POST"]
    assert trigger["authLevel"].lower() == "function"


def test_the_function_handler_relays_a_report(tmp_path):
    app = FunctionApp({"RELAY_LEDGER": str(tmp_path / "ledger.sqlite"), "RELAY_OUTBOX": str(tmp_path / "out")})
    try:
        event = {"EventId": SHARED, "EventType": "Reboot", "EventStatus": "Scheduled", "Resources": ["vm-web-01"],
                 "NotBefore": "Tue, 20 Jan 2026 15:20:00 GMT", "DurationInSeconds": -1}

        def post(data: dict) -> func.HttpResponse:
            return app.post(json.dumps(data).encode(), "scheduled-events", "scheduled_events")

        kept = post(report({"name": "vm-web-01"}, event, datetime.now(UTC)))
        assert kept.status_code == 202 and json.loads(kept.get_body())["kind"] == "scheduled"
        assert count(tmp_path) == 3
        again = post(report({"name": "vm-web-02"}, {**event, "Resources": ["vm-web-01", "vm-web-02"]}, datetime.now(UTC)))
        assert again.status_code == 202 and count(tmp_path) == 3
        bad = post(report({"name": "vm-web-01"}, {}, datetime.now(UTC)))
        assert bad.status_code == 400 and bad.mimetype == "application/problem+json"
        alert = app.post(ALERT_BODY, "scheduled-events", "scheduled_events")
        assert alert.status_code == 400 and "/api/alerts" in json.loads(alert.get_body())["detail"]
    finally:
        app.close()
