"""The intake's Entra ID check (relay.auth) against a loopback issuer over HTTPS: `relay serve` over real
HTTP and the Function's HTTP trigger accept an Action Group's secure-webhook token, and refuse every
other with 401/403 (or 503 when the tenant's keys cannot be had) before anything is kept or relayed."""
import base64
import hashlib
import hmac
import http.client
import json
import logging
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import azure.functions as func
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from relay.auth import SettingsError, entra_check
from relay.auth.entra import EntraCheck
from relay.auth.settings import EntraSettings, entra_settings
from relay.cli import main
from relay.config import default_config
from relay.hosts.serve import RelayServer
from relay.hosts.wiring import Paths, open_relay
from relay.inbox.sqlite import SqliteInbox
from tests.functions import FunctionApp
from tests.polling import wait_for
from tests.sinks.entra import APP_ID_URI, CLIENT_ID, TENANT, EntraIssuer, SigningKey

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
ALERT = next((EXAMPLES / "alerts").glob("01*.json")).read_bytes()
OTHER_TENANT = "99999999-8888-7777-6666-555555555555"


@pytest.fixture(scope="module")
def issuer(ca):
    """Shared: a test that changes it (keys, outages) makes its own, or undoes the change with monkeypatch."""
    with EntraIssuer(tls=ca) as issuer:
        yield issuer


def settings_of(issuer: EntraIssuer) -> EntraSettings:
    return EntraSettings(TENANT, (CLIENT_ID, APP_ID_URI), issuer.authority)


@pytest.fixture
def serve(tmp_path, issuer, ca):
    relay = open_relay(default_config(), Paths(EXAMPLES / "inventory.json", tmp_path / "l.sqlite", tmp_path / "out"),
                       now=datetime(2027, 1, 12, tzinfo=UTC))
    check = EntraCheck(settings_of(issuer), ssl_context=ca.client_context())
    server = RelayServer(("127.0.0.1", 0), relay, SqliteInbox(tmp_path / "inbox.sqlite"), key="k3y", entra=check)
    server.start_worker()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()
    relay.ledger.close()


@pytest.fixture
def function_app(tmp_path, monkeypatch, issuer, ca):
    """The Function App with Entra ID required, the intake relaying inline (no queue)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.bundle))  # read by the HTTP client that fetches the tenant's keys
    app = FunctionApp({"RELAY_INVENTORY": str(EXAMPLES / "inventory.json"), "RELAY_LEDGER": str(tmp_path / "l.sqlite"),
                       "RELAY_OUTBOX": str(tmp_path / "out"), "RELAY_ENTRA_TENANT_ID": TENANT,
                       "RELAY_ENTRA_AUDIENCE": f"{CLIENT_ID}, {APP_ID_URI}", "RELAY_ENTRA_AUTHORITY": issuer.authority})
    yield app
    app.close()


@pytest.fixture
def function(function_app):
    return function_app["ingest"]


def post_serve(server, authorization: str | None):
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
    headers = {"x-functions-key": "k3y", "Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    conn.request("POST", "/api/alerts", body=ALERT, headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, response.headers, json.loads(data)


def post_function(fn, authorization: str | None):
    headers = {"content-type": "application/json"} | ({"authorization": authorization} if authorization else {})
    response = fn(func.HttpRequest(method="POST", url="/api/alerts", body=ALERT, headers=headers))
    return response.status_code, response.headers, json.loads(response.get_body())


def sent(tmp_path) -> list[Path]:
    return list((tmp_path / "out").glob("*/*"))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_token(header: dict, claims: dict, sign=lambda signing_input: b"") -> str:
    """A JWT put together by hand, for the forms PyJWT would refuse to make."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


def hs256_with_public_key(issuer: EntraIssuer) -> str:
    pem = issuer.signing_key.private.public_key().public_bytes(serialization.Encoding.PEM,
                                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    return raw_token({"alg": "HS256", "typ": "JWT", "kid": issuer.signing_key.kid}, issuer.claims(),
                     lambda data: hmac.new(pem, data, hashlib.sha256).digest())


def bearer(token: str) -> str:
    return f"Bearer {token}"


NOW = int(time.time())
INVALID, SCOPE = "invalid_token", "insufficient_scope"  # RFC 6750 errors in WWW-Authenticate
# name → (the Authorization header, from the issuer; the status; the error)
REFUSED = {
    "no header": (lambda i: None, 401, None),
    "basic credentials": (lambda i: "Basic dXNlcjpwYXNzd29yZA==", 401, None),
    "empty bearer": (lambda i: "Bearer ", 401, None),
    "not a JWT": (lambda i: "Bearer not.a.jwt", 401, INVALID),
    "forged signature, same kid": (lambda i: bearer(i.token(key=SigningKey(kid=i.signing_key.kid))), 401, INVALID),
    "key the tenant does not publish": (lambda i: bearer(i.token(key=SigningKey())), 401, INVALID),
    "no key id": (lambda i: bearer(jwt.encode(i.claims(), i.signing_key.private, algorithm="RS256")), 401, INVALID),
    "alg none": (lambda i: bearer(raw_token({"alg": "none", "typ": "JWT", "kid": i.signing_key.kid}, i.claims())),
                 401, INVALID),
    "HS256 with the public key as secret": (lambda i: bearer(hs256_with_public_key(i)), 401, INVALID),
    "expired": (lambda i: bearer(i.token(iat=NOW - 7200, nbf=NOW - 7200, exp=NOW - 3600)), 401, INVALID),
    "not yet valid": (lambda i: bearer(i.token(nbf=NOW + 3600)), 401, INVALID),
    "no expiry": (lambda i: bearer(i.token(exp=None)), 401, INVALID),
    "wrong audience": (lambda i: bearer(i.token(aud="api://another-app")), 401, INVALID),
    "issuer of another tenant": (lambda i: bearer(i.token(iss=f"{i.authority}/{OTHER_TENANT}/v2.0")), 401, INVALID),
    "another tenant's token": (lambda i: bearer(i.token(tid=OTHER_TENANT)), 403, SCOPE),
    "wrong app id (v2 azp)": (lambda i: bearer(i.token(azp=str(uuid.uuid4()))), 403, SCOPE),
    "wrong app id (v1 appid)": (lambda i: bearer(i.token(version=1, appid=str(uuid.uuid4()))), 403, SCOPE),
    "no app id": (lambda i: bearer(i.token(azp=None)), 403, SCOPE),
    "missing role": (lambda i: bearer(i.token(roles=None)), 403, SCOPE),
    "another role": (lambda i: bearer(i.token(roles=["Reader"])), 403, SCOPE),
}


def assert_refused(status, headers, body, expected: int, error: str | None, authorization, caplog) -> None:
    assert status == expected, body
    assert body["status"] == expected and body["title"] in ("Unauthorized", "Forbidden")
    assert headers["WWW-Authenticate"] == (f'Bearer error="{error}"' if error else "Bearer")
    refusals = [r for r in caplog.records if r.name == "relay.ingest"]
    assert len(refusals) == 1 and refusals[0].getMessage().startswith(f"alert refused ({expected})")
    for secret in filter(None, (authorization or "").split(" ")[1:] + (authorization or "").split(".")[1:]):
        if len(secret) > 8:
            assert secret not in caplog.text and secret not in json.dumps(body)


@pytest.mark.parametrize("name", REFUSED)
def test_serve_refuses_before_keeping_anything(name, serve, issuer, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    make, expected, error = REFUSED[name]
    authorization = make(issuer)
    status, headers, body = post_serve(serve, authorization)
    assert_refused(status, headers, body, expected, error, authorization, caplog)
    assert serve.inbox.counts() == {} and not sent(tmp_path)


@pytest.mark.parametrize("name", REFUSED)
def test_function_refuses_before_keeping_anything(name, function, issuer, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    make, expected, error = REFUSED[name]
    authorization = make(issuer)
    status, headers, body = post_function(function, authorization)
    assert_refused(status, headers, body, expected, error, authorization, caplog)
    assert not (tmp_path / "l.sqlite").exists() and not sent(tmp_path)  # the relay was never even opened


@pytest.mark.parametrize("version", [2, 1])
def test_serve_accepts_the_action_group_token(version, serve, issuer, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    token = issuer.token(version)
    status, _, body = post_serve(serve, bearer(token))
    assert status == 202, body
    assert body["trackingId"] == "XY12-3ZQ"
    assert wait_for(lambda: len(sent(tmp_path)) == 3)
    assert token not in caplog.text


def test_function_accepts_the_action_group_token(function, issuer, tmp_path):
    status, _, body = post_function(function, bearer(issuer.token()))
    assert status == 202, body
    assert len(sent(tmp_path)) == 3


def test_serve_still_wants_the_function_key(serve, issuer):
    conn = http.client.HTTPConnection(*serve.server_address[:2], timeout=30)
    conn.request("POST", "/api/alerts", body=ALERT, headers={"Authorization": bearer(issuer.token())})
    assert conn.getresponse().status == 401
    conn.close()
    assert serve.inbox.counts() == {}


def test_a_rotated_key_is_fetched_when_a_token_names_it(ca):
    with EntraIssuer(tls=ca) as issuer:
        check = EntraCheck(settings_of(issuer), ssl_context=ca.client_context(), refresh_interval=3600)
        assert check.check(bearer(issuer.token())).ok
        issuer.rotate()
        assert check.check(bearer(issuer.token())).ok  # the new key is fetched
        fetches = sum(r.path.endswith("/keys") for r in issuer.requests)
        issuer.rotate()
        held_back = check.check(bearer(issuer.token()))  # a second unknown key within the refresh interval
        assert held_back.status == 503 and sum(r.path.endswith("/keys") for r in issuer.requests) == fetches
        assert check.check(bearer(issuer.token(key=issuer.keys[0]))).ok  # known keys still work


def test_keys_outlive_an_outage_of_the_jwks_endpoint(issuer, ca, monkeypatch):
    check = EntraCheck(settings_of(issuer), ssl_context=ca.client_context())
    assert check.check(bearer(issuer.token())).ok
    monkeypatch.setattr(issuer, "jwks_down", True)
    assert check.check(bearer(issuer.token())).ok


def test_jwks_endpoint_down_is_503_so_the_action_group_retries(serve, issuer, tmp_path, caplog, monkeypatch):
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(issuer, "jwks_down", True)
    token = issuer.token()
    status, headers, body = post_serve(serve, bearer(token))
    assert status == 503 and headers["Retry-After"] and "signing keys" in body["detail"], body
    assert serve.inbox.counts() == {} and token not in caplog.text
    issuer.jwks_down = False
    assert post_serve(serve, bearer(token))[0] == 202  # an outage is not remembered


@pytest.mark.parametrize("fault", [{"status": 503}, {"drop": True}])
def test_discovery_down_is_503(fault, function, issuer, tmp_path):
    issuer.fail_next(**fault)
    status, headers, body = post_function(function, bearer(issuer.token()))
    assert status == 503 and headers["Retry-After"], body
    assert not (tmp_path / "l.sqlite").exists()
    assert post_function(function, bearer(issuer.token()))[0] == 202


@pytest.mark.parametrize("environ, missing", [
    ({"RELAY_ENTRA_TENANT_ID": TENANT}, "RELAY_ENTRA_AUDIENCE"),
    ({"RELAY_ENTRA_AUDIENCE": CLIENT_ID}, "RELAY_ENTRA_TENANT_ID"),
    ({"RELAY_ENTRA_ROLE": "ActionGroupsSecureWebhook"}, "RELAY_ENTRA_TENANT_ID and RELAY_ENTRA_AUDIENCE"),
    ({"RELAY_ENTRA_TENANT_ID": "contoso.onmicrosoft.com", "RELAY_ENTRA_AUDIENCE": CLIENT_ID}, "a GUID"),
    ({"RELAY_ENTRA_TENANT_ID": TENANT, "RELAY_ENTRA_AUDIENCE": CLIENT_ID,
      "RELAY_ENTRA_AUTHORITY": "http://login.microsoftonline.com"}, "https"),
])
def test_half_set_settings_name_what_is_missing(environ, missing):
    with pytest.raises(SettingsError, match=missing):
        entra_settings(environ)


def test_settings_defaults():
    assert entra_settings({}) is None and entra_check({"RELAY_ENTRA_TENANT_ID": " "}) is None
    settings = entra_settings({"RELAY_ENTRA_TENANT_ID": TENANT.upper(), "RELAY_ENTRA_AUDIENCE": f"{CLIENT_ID},,"})
    assert settings == EntraSettings(TENANT, (CLIENT_ID,), "https://login.microsoftonline.com",
                                     "ActionGroupsSecureWebhook")


def test_serve_refuses_to_start_half_configured(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("RELAY_ENTRA_TENANT_ID", TENANT)
    monkeypatch.delenv("RELAY_ENTRA_AUDIENCE", raising=False)
    assert main(["serve", "--port", "0", "--inbox", str(tmp_path / "inbox.sqlite")]) == 2
    assert "RELAY_ENTRA_AUDIENCE" in capsys.readouterr().err
    assert not (tmp_path / "inbox.sqlite").exists()


def test_function_half_configured_answers_503_naming_the_setting(function_app, issuer, tmp_path):
    half = FunctionApp({k: v for k, v in function_app.host.environ.items() if k != "RELAY_ENTRA_TENANT_ID"})
    status, headers, body = post_function(half["ingest"], bearer(issuer.token()))
    assert status == 503 and headers["Retry-After"] and "RELAY_ENTRA_TENANT_ID" in body["detail"], body
    assert not (tmp_path / "l.sqlite").exists()


def test_intake_without_entra_loads_no_jwt_library():
    code = ("import sys, function_app; from relay.hosts.intake import authenticate; from relay.auth import entra_check;"
            " assert authenticate(lambda: entra_check({}), None) is None; print('jwt' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


SCHEDULED = json.dumps({"schemaId": "relay/scheduledEvent", "data": {
    "vm": {"name": "vm-web-01"}, "observedAt": "2027-01-12T00:00:00Z",
    "event": {"EventId": "5C0FFEE1-0000-4000-8000-000000000042", "EventType": "Reboot", "EventStatus": "Scheduled",
              "Resources": ["vm-web-01"], "NotBefore": "Tue, 12 Jan 2027 00:15:00 GMT"}}}).encode()


def test_the_agents_endpoint_takes_the_function_key_without_a_token(serve, function_app, function):
    """The Entra ID check admits only the Action Groups app: the VMs' agents send the function key alone."""
    conn = http.client.HTTPConnection(*serve.server_address[:2], timeout=30)
    conn.request("POST", "/api/scheduled-events", body=SCHEDULED,
                 headers={"x-functions-key": "k3y", "Content-Type": "application/json"})
    assert conn.getresponse().status == 202
    conn.close()
    response = function_app.post(SCHEDULED, "scheduled-events", "scheduled_events")
    assert response.status_code == 202, response.get_body()
    assert post_function(function, None)[0] == 401  # while alerts still need the token
