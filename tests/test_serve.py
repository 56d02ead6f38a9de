"""`relay serve` over real HTTP on 127.0.0.1, with its worker thread and SQLite inbox."""
import http.client
import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from relay.alerts import MAX_BYTES
from relay.config import default_config
from relay.hosts.serve import RelayServer
from relay.hosts.wiring import Paths, open_relay
from relay.inbox.sqlite import SqliteInbox
from tests.polling import wait_for

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def server(tmp_path):
    relay = open_relay(default_config(), Paths(EXAMPLES / "inventory.json", tmp_path / "l.sqlite", tmp_path / "out"),
                       now=datetime(2027, 1, 12, tzinfo=UTC))
    server = RelayServer(("127.0.0.1", 0), relay, SqliteInbox(tmp_path / "inbox.sqlite"), key="k3y")
    server.start_worker()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    relay.ledger.close()


def call(server, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
    conn.request(method, path, body=body, headers={"x-functions-key": "k3y", **(headers or {})})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, response.getheader("Content-Type"), json.loads(data) if data else None



def test_alert_is_accepted_then_relayed(server, tmp_path):
    body = next((EXAMPLES / "alerts").glob("01*.json")).read_bytes()
    status, content_type, reply = call(server, "POST", "/api/alerts", body)
    assert status == 202 and content_type == "application/json"
    assert reply["trackingId"] == "XY12-3ZQ" and reply["id"]
    assert wait_for(lambda: len(list((tmp_path / "out").glob("*/*"))) == 3)
    assert wait_for(lambda: call(server, "GET", "/api/health")[2]["inbox"] == {})


def test_bad_payload_gets_problem_details(server):
    status, content_type, reply = call(server, "POST", "/api/alerts", b'{"schemaId": "azureMonitorCommonAlertSchema"}')
    assert status == 400 and content_type == "application/problem+json"
    assert reply["status"] == 400 and reply["title"] == "Invalid alert payload"
    assert any(e["path"] == "$.data" for e in reply["errors"])


def test_oversized_payload_is_413(server):
    status, content_type, reply = call(server, "POST", "/api/alerts", b" " * (MAX_BYTES + 1))
    assert status == 413 and "262144" in reply["detail"]


def test_key_is_required_when_set(server):
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
    conn.request("POST", "/api/alerts", body=b"{}")
    assert conn.getresponse().status == 401
    status, _, _ = call(server, "POST", "/api/alerts?code=k3y", b"{}", headers={"x-functions-key": ""})
    assert status == 400  # past the key check, rejected as a payload


def test_unknown_path_is_404(server):
    assert call(server, "GET", "/nope")[0] == 404


def test_each_endpoint_takes_its_own_kind_of_body(server):
    from relay.agent.wire import report

    alert = next((EXAMPLES / "alerts").glob("01*.json")).read_bytes()
    status, _, reply = call(server, "POST", "/api/scheduled-events", alert)
    assert status == 400 and reply["title"] == "Wrong endpoint" and "/api/alerts" in reply["detail"]
    scheduled = json.dumps(report({"name": "vm-web-01"}, {
        "EventId": "5C0FFEE1-0000-4000-8000-000000000042", "EventType": "Reboot", "EventStatus": "Scheduled",
        "Resources": ["vm-web-01"], "NotBefore": "Tue, 20 Jan 2026 15:20:00 GMT"}, datetime.now(UTC))).encode()
    status, _, reply = call(server, "POST", "/api/alerts", scheduled)
    assert status == 400 and "/api/scheduled-events" in reply["detail"]
    assert call(server, "POST", "/api/scheduled-events", scheduled)[0] == 202


def test_the_calendar_feed_needs_the_key_and_answers_304_to_its_etag(server):
    body = next((EXAMPLES / "alerts").glob("01*.json")).read_bytes()
    assert call(server, "POST", "/api/alerts", body)[0] == 202
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
    conn.request("GET", "/api/calendar.ics?receiver=email")
    assert conn.getresponse().status == 401
    conn.close()

    def feed(**headers):
        conn = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
        conn.request("GET", "/api/calendar.ics?receiver=email&code=k3y", headers=headers)
        response = conn.getresponse()
        answer = response.status, response.getheader("Content-Type"), response.getheader("ETag"), response.read()
        conn.close()
        return answer

    assert wait_for(lambda: b"BEGIN:VEVENT" in feed()[3])
    status, content_type, etag, ics = feed()
    assert status == 200 and content_type == "text/calendar; charset=utf-8" and ics.startswith(b"BEGIN:VCALENDAR\r\n")
    assert feed(**{"If-None-Match": etag})[:1] == (304,)
    assert call(server, "GET", "/api/calendar.ics")[0] == 400  # three receivers have a calendar: which one?
    assert call(server, "GET", "/api/calendar.ics?receiver=nobody")[0] == 404
