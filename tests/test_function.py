"""The Function App's HTTP trigger, called with azure.functions request objects."""
import functools
from pathlib import Path

import azure.functions as func
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@functools.cache
def functions() -> dict:
    """The app's functions by name; the app validates (and refuses) a second indexing of itself."""
    import function_app

    return {f.get_function_name(): f for f in function_app.app.get_functions()}


@pytest.fixture
def ingest(tmp_path, monkeypatch):
    monkeypatch.setenv("RELAY_INVENTORY", str(EXAMPLES / "inventory.json"))
    monkeypatch.setenv("RELAY_LEDGER", str(tmp_path / "ledger.sqlite"))
    monkeypatch.setenv("RELAY_OUTBOX", str(tmp_path / "out"))
    from handlers import ingest as handler

    handler._keep.cache_clear()
    yield functions()["ingest"].get_user_function()
    handler._keep.cache_clear()


def post(fn, body: bytes) -> func.HttpResponse:
    return fn(func.HttpRequest(method="POST", url="/api/alerts", body=body, headers={"content-type": "application/json"}))


def test_function_registers_two_post_routes_with_function_auth():
    registered = functions()
    assert sorted(registered) == ["ingest", "scheduled_events"]
    for name, route in (("ingest", "alerts"), ("scheduled_events", "scheduled-events")):
        trigger = registered[name].get_trigger()
        assert trigger.route == route and [str(m) for m in trigger.methods] == ["POST"]
        assert "function" in str(trigger.auth_level).lower()


def test_alert_is_relayed_inline(ingest, tmp_path):
    response = post(ingest, next((EXAMPLES / "alerts").glob("01*.json")).read_bytes())
    assert response.status_code == 202, response.get_body()
    assert len(list((tmp_path / "out").glob("*/*"))) == 3
    again = post(ingest, next((EXAMPLES / "alerts").glob("02*.json")).read_bytes())
    assert again.status_code == 202 and len(list((tmp_path / "out").glob("*/*"))) == 3


def test_bad_payload_is_400_problem(ingest):
    response = post(ingest, b"{")
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
