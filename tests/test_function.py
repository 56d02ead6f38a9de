"""The Function App's HTTP trigger, called with azure.functions request objects."""
from pathlib import Path

import pytest

from relay.hosts.function import FunctionHost
from tests.functions import FunctionApp

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def app(tmp_path):
    app = FunctionApp({"RELAY_INVENTORY": str(EXAMPLES / "inventory.json"),
                       "RELAY_LEDGER": str(tmp_path / "ledger.sqlite"), "RELAY_OUTBOX": str(tmp_path / "out")})
    yield app
    app.close()


def test_function_registers_two_post_routes_the_calendar_with_function_auth_and_the_reminder_timer():
    from function_app import build_app

    registered = {f.get_function_name(): f for f in build_app(FunctionHost({})).get_functions()}
    assert sorted(registered) == ["calendar", "ingest", "remind", "scheduled_events"]
    assert registered["remind"].get_trigger().schedule == "0 */15 * * * *"  # reminders and releases, every 15 min
    for name, route, method in (("ingest", "alerts", "POST"), ("scheduled_events", "scheduled-events", "POST"),
                                ("calendar", "calendar.ics", "GET")):
        trigger = registered[name].get_trigger()
        assert trigger.route == route and [str(m) for m in trigger.methods] == [method]
        assert "function" in str(trigger.auth_level).lower()


def test_alert_is_relayed_inline(app, tmp_path):
    response = app.post(next((EXAMPLES / "alerts").glob("01*.json")).read_bytes())
    assert response.status_code == 202, response.get_body()
    assert len(list((tmp_path / "out").glob("*/*"))) == 3
    again = app.post(next((EXAMPLES / "alerts").glob("02*.json")).read_bytes())
    assert again.status_code == 202 and len(list((tmp_path / "out").glob("*/*"))) == 3


def test_bad_payload_is_400_problem(app):
    response = app.post(b"{")
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"


def test_import_loads_no_azure_management_sdk():
    import subprocess
    import sys

    code = "import function_app, sys; print(sorted(m for m in sys.modules if m.startswith(('azure.mgmt', 'azure.identity', 'jinja2'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parent.parent, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"



def test_the_calendar_feed_is_read_from_the_ledger(app):
    import azure.functions as func

    assert app.post(next((EXAMPLES / "alerts").glob("01*.json")).read_bytes()).status_code == 202

    def get(query: str, **headers: str) -> func.HttpResponse:
        return app["calendar"](func.HttpRequest(method="GET", url="/api/calendar.ics", body=b"",
                                                params=dict([query.split("=")]) if query else {}, headers=headers))

    found = get("receiver=email")
    assert found.status_code == 200 and found.mimetype == "text/calendar" and b"BEGIN:VEVENT" in found.get_body()
    assert get("receiver=email", **{"If-None-Match": found.headers["ETag"]}).status_code == 304
    assert get("").status_code == 400 and get("receiver=nobody").status_code == 404
