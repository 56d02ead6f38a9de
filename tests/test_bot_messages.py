"""The Teams bot's messaging endpoint (POST /api/messages, relay.hosts.messages) through `relay serve` over real HTTP
and through the Function's HTTP trigger, with the loopback Bot Connector (tests/sinks/botconnector.py) signing the
activities: a press of 対応します / I'm on it keeps who pressed it in the ledger, once a person, in order; every token
the Bot Framework's documented checks refuse is refused with 401/403 before anything is kept; a body that is no
activity gets a problem; and the keys endpoint being down is a 503, never a crash."""
from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
from pathlib import Path

import azure.functions as func
import pytest

from relay.alerts import parse_alert
from relay.auth import SettingsError
from relay.auth.botframework import BOTFRAMEWORK_METADATA, BotFrameworkCheck, BotSettings, bot_settings
from relay.channels.teams_actions import APP_ID as APP_ID_OPTION
from relay.channels.teams_actions import DATA_RECEIVER, DATA_THREAD, DATA_VM, VERB_ACK, VERB_START
from relay.config import Config
from relay.hosts.function import FunctionHost
from relay.hosts.serve import RelayServer
from relay.hosts.wiring import Paths, open_relay
from relay.inbox.sqlite import SqliteInbox
from relay.model import Receiver
from relay.pipeline import process
from relay.routing import ReceiverFilter, Routes
from relay.store.sqlite import SqliteLedger
from tests.sinks.botconnector import APP_ID, CHANNEL, OTHER_USER, USER, BotConnector

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
ALERT = next((EXAMPLES / "alerts").glob("01*.json")).read_bytes()
THREAD = parse_alert(ALERT).thread_key
BOT = "oncall-bot"
CONVERSATION = f"{CHANNEL};messageid=1700000000001"  # the thread the card was posted in
OTHER_APP_ID = "6e1d4c8f-9a32-4b7e-8c4f-2d3e4f5a6b7c"  # a second bot of the same relay


def bot_receiver(name: str = BOT, app_id: str = APP_ID, **options: str) -> Receiver:
    """A Teams bot receiver as the config gives it: its options carry the bot's app id. Its messages go to the
    outbox here; the endpoint reads only its name, language and app id."""
    return Receiver(name=name, channel="teams", language="both", options={APP_ID_OPTION: app_id, **options})


def config_of(tmp_path: Path, *receivers: Receiver) -> Config:
    receivers = receivers or (bot_receiver(),)
    return Config(routes=Routes.flat(tuple(ReceiverFilter(r) for r in receivers)), outbox=tmp_path / "out",
                  ledger=tmp_path / "l.sqlite")


def admit_thread(config: Config, tmp_path: Path) -> None:
    """The maintenance the cards are about, relayed once, so that the ledger knows its thread."""
    relay = open_relay(config, Paths(EXAMPLES / "inventory.json", tmp_path / "l.sqlite", tmp_path / "out"))
    try:
        assert process(ALERT, relay).ok
    finally:
        relay.ledger.close()


def ack_data(thread: str = THREAD, receiver: str = BOT) -> dict:
    return {DATA_THREAD: thread, DATA_RECEIVER: receiver}


class Serve:
    """`relay serve` with the bot receivers, its key set (which the Bot Framework never sends)."""

    name = "serve"

    def __init__(self, tmp_path: Path, bc: BotConnector, ca, config: Config, **options):
        self.relay = open_relay(config, Paths(EXAMPLES / "inventory.json", tmp_path / "l.sqlite", tmp_path / "out"))
        check = BotFrameworkCheck(BotSettings((APP_ID, OTHER_APP_ID), bc.openid_url), ssl_context=ca.client_context())
        self.server = RelayServer(("127.0.0.1", 0), self.relay, SqliteInbox(tmp_path / "inbox.sqlite"), key="k3y",
                                  bot_check=check, **options)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], object]:
        conn = http.client.HTTPConnection(*self.server.server_address[:2], timeout=30)
        conn.request("POST", "/api/messages", body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return response.status, dict(response.headers), json.loads(data) if data else None

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.relay.ledger.close()


class Function:
    """The Function App as the Functions host runs it, its config holding the bot receivers."""

    name = "function"

    def __init__(self, tmp_path: Path, bc: BotConnector, config: Config, **environ: str):
        self.host = FunctionHost({"RELAY_INVENTORY": str(EXAMPLES / "inventory.json"),
                                  "RELAY_LEDGER": str(tmp_path / "l.sqlite"), "RELAY_OUTBOX": str(tmp_path / "out"),
                                  "RELAY_BOT_OPENID_URL": bc.openid_url, **environ})
        vars(self.host)["config"] = config  # as RELAY_CONFIG would give it
        self.functions = {f.get_function_name(): f for f in build_functions(self.host)}

    def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], object]:
        request = func.HttpRequest(method="POST", url="/api/messages", body=body,
                                   headers={k.lower(): v for k, v in headers.items()})
        response = self.functions["messages"].get_user_function()(request)
        data = response.get_body()
        return (response.status_code, {**dict(response.headers), "Content-Type": response.mimetype},
                json.loads(data) if data else None)

    def close(self) -> None:
        if "relay" in vars(self.host):
            self.host.relay.ledger.close()


def build_functions(host: FunctionHost) -> list:
    from function_app import build_app

    return build_app(host).get_functions()


@pytest.fixture
def bc(ca):
    with BotConnector(tls=ca) as bc:
        yield bc


@pytest.fixture(params=["serve", "function"])
def endpoint(request, tmp_path, bc, ca, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.bundle))  # read by the Function's HTTP client for the keys
    config = config_of(tmp_path, bot_receiver(), bot_receiver("platform-bot", OTHER_APP_ID),
                       Receiver(name="webhook", channel="teams"))
    admit_thread(config, tmp_path)
    endpoint = Serve(tmp_path, bc, ca, config) if request.param == "serve" else Function(tmp_path, bc, config)
    yield endpoint
    endpoint.close()


@pytest.fixture
def ledger(tmp_path):
    ledger = SqliteLedger(tmp_path / "l.sqlite")
    yield ledger
    ledger.close()


def press(endpoint, bc: BotConnector, verb: str = VERB_ACK, data: dict | None = None, *, user=USER,
          token: str | None = None, change=None) -> tuple[int, dict[str, str], object]:
    """A press of a card's button, posted as the Connector posts it (`change` alters the activity after it was
    signed)."""
    activity = bc.invoke(verb, ack_data() if data is None else data, thread=CONVERSATION, user=user)
    headers = bc.headers(activity, token(activity) if callable(token) else token)
    if change:
        change(activity)
    return endpoint.post(json.dumps(activity).encode(), headers)


def card_text(answer: dict) -> str:
    """Every text of the card an invoke answered with."""
    assert answer["statusCode"] == 200 and answer["type"] == "application/vnd.microsoft.card.adaptive", answer
    card = answer["value"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    texts = []
    for element in card["body"]:
        texts += [element["text"]] if element["type"] == "TextBlock" else [run["text"] for run in element["inlines"]]
    return "\n".join(texts)


def on_it(ledger: SqliteLedger, receiver: str = BOT) -> list[tuple[str, str]]:
    return [(a.user_id, a.name) for a in ledger.acknowledgements(THREAD, receiver)]


# -- acknowledgements


def test_two_people_on_it_are_kept_in_order_once_each(endpoint, bc, ledger, caplog):
    caplog.set_level(logging.INFO)
    status, headers, answer = press(endpoint, bc, user=USER)
    assert status == 200 and headers["Content-Type"].startswith("application/json"), answer
    text = card_text(answer)
    assert "対応中として記録しました / Recorded: you are on it" in text
    assert "対応者 / On it: " in text and "Aiko Tanaka" in text

    status, _, answer = press(endpoint, bc, user=OTHER_USER)
    assert status == 200 and "対応者 / On it: \nAiko Tanaka, Ken Sato" in card_text(answer)

    status, _, answer = press(endpoint, bc, user=USER)  # pressed again: kept once
    assert status == 200 and "すでに対応中として記録されています / Already recorded: you are on it" in card_text(answer)
    assert on_it(ledger) == [(USER.aad_object_id, USER.name), (OTHER_USER.aad_object_id, OTHER_USER.name)]
    first, second = ledger.acknowledgements(THREAD, BOT)
    assert first.at <= second.at
    assert on_it(ledger, "platform-bot") == []  # the other receiver's card was not pressed

    # every press is logged: who (name, object id), what, when, how it went; never the token
    presses = [r.getMessage() for r in caplog.records if r.name == "relay.messages"]
    assert len(presses) == 3 and all(f"on {THREAD} for {BOT} at 20" in line for line in presses), presses
    assert f"teams action ack by Aiko Tanaka ({USER.aad_object_id})" in presses[0]
    assert presses[0].endswith("→ 200 recorded (1 on it)") and presses[1].endswith("→ 200 recorded (2 on it)")
    assert f"teams action ack by Ken Sato ({OTHER_USER.aad_object_id})" in presses[1]
    assert presses[2].endswith("→ 200 already on it (2 on it)")
    assert "eyJ" not in caplog.text  # no token, nor any part of one (each starts so: base64 of '{"')


def test_the_other_bot_of_the_relay_keeps_its_own(endpoint, bc, ledger):
    activity = bc.invoke(VERB_ACK, ack_data(receiver="platform-bot"), thread=CONVERSATION)
    status, _, answer = endpoint.post(json.dumps(activity).encode(),
                                      bc.headers(activity, bc.token(activity, aud=OTHER_APP_ID)))
    assert status == 200 and "Aiko Tanaka" in card_text(answer)
    assert on_it(ledger, "platform-bot") == [(USER.aad_object_id, USER.name)] and on_it(ledger) == []

    # a token for one bot cannot press the other bot's card
    status, _, answer = endpoint.post(json.dumps(activity).encode(), bc.headers(activity))
    assert status == 400 and answer["type"] == "application/vnd.microsoft.error", answer
    assert on_it(ledger, "platform-bot") == [(USER.aad_object_id, USER.name)]


def test_start_says_no_one_may_without_teams_actions(endpoint, bc, ledger):
    status, _, answer = press(endpoint, bc, VERB_START, {**ack_data(), DATA_VM: "/subscriptions/s/vm/vm-web-01"})
    assert status == 200 and card_text(answer) == ("リレーの構成で、Teams からメンテナンスを開始できる人が指定されていません（teams_actions） / "
                                                    "The relay's config lets no one start maintenance from Teams (teams_actions)")
    assert on_it(ledger) == []


@pytest.mark.parametrize("verb, data, says", [
    ("reboot", ack_data(), "not one the relay knows"),
    (VERB_ACK, {}, "no event or receiver"),
    (VERB_ACK, ack_data(receiver="webhook"), "no event or receiver"),  # a receiver, not a bot
    (VERB_ACK, ack_data(receiver="nobody"), "no event or receiver"),
    (VERB_ACK, ack_data(thread="NO12-SUCH"), "knows no such event"),
    (VERB_ACK, {DATA_THREAD: ["XY12-3ZQ"], DATA_RECEIVER: BOT}, "no event or receiver"),
])
def test_a_press_the_relay_cannot_take_is_a_400_teams_shows(endpoint, bc, ledger, verb, data, says):
    status, _, answer = press(endpoint, bc, verb, data)
    assert status == 400 and answer["statusCode"] == 400, answer
    assert answer["type"] == "application/vnd.microsoft.error" and says in answer["value"]["message"]
    assert answer["value"]["code"] == "BadRequest"
    assert on_it(ledger) == [] and ledger.acknowledgements("NO12-SUCH", BOT) == []


def test_a_press_without_an_entra_user_is_refused(endpoint, bc, ledger):
    status, _, answer = press(endpoint, bc, change=lambda a: a["from"].pop("aadObjectId"))
    assert status == 400 and "Entra ID user" in answer["value"]["message"]
    assert on_it(ledger) == []


@pytest.mark.parametrize("activity", [
    {"type": "conversationUpdate", "membersAdded": [{"id": f"28:{APP_ID}"}]},
    {"type": "message", "text": "hello"},
])
def test_other_activities_are_answered_200_and_do_nothing(endpoint, bc, ledger, activity):
    full = {**bc.invoke(VERB_ACK, ack_data(), thread=CONVERSATION), **activity}
    full.pop("value"), full.pop("name")
    assert endpoint.post(json.dumps(full).encode(), bc.headers(full))[:3:2] == (200, None)
    assert on_it(ledger) == []


def test_an_invoke_that_is_not_a_card_action_is_501(endpoint, bc, ledger):
    activity = {**bc.invoke(VERB_ACK, ack_data(), thread=CONVERSATION), "name": "task/fetch"}
    assert endpoint.post(json.dumps(activity).encode(), bc.headers(activity))[0] == 501
    assert on_it(ledger) == []


# -- refusals: nothing is kept


INVALID, SCOPE = "invalid_token", "insufficient_scope"
REFUSED = {  # name → (the Authorization header for an activity, the status, the error)
    "no header": (lambda bc, a: None, 401, None),
    "basic credentials": (lambda bc, a: "Basic dXNlcjpwYXNzd29yZA==", 401, None),
    "not a JWT": (lambda bc, a: "Bearer not.a.jwt", 401, INVALID),
    "forged, under a published key's id": (lambda bc, a: f"Bearer {bc.forged_token(a)}", 401, INVALID),
    "forged, under a key never published": (lambda bc, a: f"Bearer {bc.keys.forged_token(a, known_kid=False)}", 401,
                                            INVALID),
    "expired": (lambda bc, a: f"Bearer {bc.expired_token(a)}", 401, INVALID),
    "not yet valid": (lambda bc, a: f"Bearer {bc.token(a, nbf=2_000_000_000, exp=2_000_003_600)}", 401, INVALID),
    "no expiry": (lambda bc, a: f"Bearer {bc.token(a, exp=None)}", 401, INVALID),
    "wrong audience": (lambda bc, a: f"Bearer {bc.wrong_audience_token(a)}", 401, INVALID),
    "the bot's App ID URI as audience": (lambda bc, a: f"Bearer {bc.wrong_audience_token(a, audience=f'api://{APP_ID}')}", 401,
                                         INVALID),
    "wrong issuer": (lambda bc, a: f"Bearer {bc.wrong_issuer_token(a)}", 401, INVALID),
    "unendorsed key": (lambda bc, a: f"Bearer {bc.unendorsed_token(a)}", 403, SCOPE),
    "another serviceUrl": (lambda bc, a: f"Bearer {bc.token(a, serviceurl='https://smba.example.net/teams/')}", 401,
                           INVALID),
    "no serviceurl claim": (lambda bc, a: f"Bearer {bc.token(a, serviceurl=None)}", 401, INVALID),
}


@pytest.mark.parametrize("name", REFUSED)
def test_refused_tokens_keep_nothing(name, endpoint, bc, ledger, caplog):
    caplog.set_level(logging.DEBUG)
    make, expected, error = REFUSED[name]
    activity = bc.invoke(VERB_ACK, ack_data(), thread=CONVERSATION)
    authorization = make(bc, activity)
    headers = {"Content-Type": "application/json", **({"Authorization": authorization} if authorization else {})}
    status, answer_headers, body = endpoint.post(json.dumps(activity).encode(), headers)
    assert status == expected, body
    assert body["status"] == expected and body["title"] in ("Unauthorized", "Forbidden")
    assert answer_headers["Content-Type"].startswith("application/problem+json")
    assert answer_headers["WWW-Authenticate"] == (f'Bearer error="{error}"' if error else "Bearer")
    assert on_it(ledger) == []
    refusals = [r.getMessage() for r in caplog.records if r.name == "relay.messages"]
    assert len(refusals) == 1 and refusals[0].startswith(f"activity refused ({expected})"), refusals
    for secret in (authorization or "").replace(" ", ".").split(".")[1:]:
        if len(secret) > 8:
            assert secret not in caplog.text and secret not in json.dumps(body)


def test_an_activity_other_than_the_one_signed_for_is_refused(endpoint, bc, ledger):
    def elsewhere(activity):
        activity["serviceUrl"] = "https://smba.example.net/teams/"

    status, _, body = press(endpoint, bc, change=elsewhere)
    assert status == 401 and "serviceUrl" in body["detail"]
    assert on_it(ledger) == []


def test_an_activity_of_another_channel_is_refused(endpoint, bc, ledger):
    status, _, body = press(endpoint, bc, change=lambda a: a.update(channelId="webchat"))
    assert status == 403 and "channel" in body["detail"]
    assert on_it(ledger) == []


@pytest.mark.parametrize("body, says", [
    (b"not json", "not JSON"),
    (b"\xff\xfe{}", "not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b"{}", "1 problem(s)"),
    (b'{"type": "invoke", "from": "Aiko"}', "problem(s)"),
])
def test_a_body_that_is_no_activity_gets_a_problem(endpoint, bc, ledger, body, says):
    status, headers, answer = endpoint.post(body, bc.headers(bc.invoke(VERB_ACK, ack_data(), thread=CONVERSATION)))
    assert status == 400 and headers["Content-Type"].startswith("application/problem+json"), answer
    assert answer["title"] == "Invalid activity" and says in answer["detail"]
    if body == b"{}":
        assert answer["errors"] == [{"path": "$.type", "detail": "Field required"}]
    assert on_it(ledger) == []


def test_the_keys_endpoint_down_is_503_then_works_again(endpoint, bc, ledger, caplog):
    bc.jwks_down = True
    status, headers, body = press(endpoint, bc)
    assert status == 503 and headers["Retry-After"] and "signing keys" in body["detail"], body
    assert on_it(ledger) == []
    bc.jwks_down = False
    assert press(endpoint, bc)[0] == 200  # an outage is not remembered
    assert on_it(ledger) == [(USER.aad_object_id, USER.name)]


@pytest.mark.parametrize("fault", [{"status": 503}, {"drop": True}])
def test_the_metadata_down_is_503_then_works_again(fault, endpoint, bc, ledger):
    bc.fail_next(op="openid", **fault)
    status, headers, body = press(endpoint, bc)
    assert status == 503 and headers["Retry-After"] and "OpenID metadata" in body["detail"], body
    assert press(endpoint, bc)[0] == 200


def test_a_rotated_key_is_fetched_when_a_token_names_it(endpoint, bc, ledger):
    assert press(endpoint, bc)[0] == 200
    bc.keys.rotate()
    assert press(endpoint, bc, user=OTHER_USER)[0] == 200
    assert len(on_it(ledger)) == 2


# -- relay serve: the token before the body, no key


def test_serve_refuses_before_reading_the_body(tmp_path, bc, ca):
    config = config_of(tmp_path)
    serve = Serve(tmp_path, bc, ca, config)
    try:
        with socket.create_connection(serve.server.server_address, timeout=5) as sock:
            sock.sendall(b"POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Authorization: Bearer not.a.jwt\r\nContent-Length: 100000\r\n\r\n")  # no body follows
            received = b""
            while b"}" not in received and (chunk := sock.recv(65536)):
                received += chunk
        assert received.startswith(b"HTTP/1.1 401 ")  # answered without the body, and the connection is closed
        assert b"Connection: close" in received and b"not a JWT" in received
    finally:
        serve.close()


def test_serve_takes_no_function_key_for_messages_but_still_for_alerts(tmp_path, bc, ca, ledger):
    config = config_of(tmp_path)
    admit_thread(config, tmp_path)
    serve = Serve(tmp_path, bc, ca, config)
    try:
        assert press(serve, bc)[0] == 200  # no x-functions-key: the token is the authentication
        conn = http.client.HTTPConnection(*serve.server.server_address[:2], timeout=30)
        conn.request("POST", "/api/alerts", body=ALERT, headers={"Authorization": f"Bearer {bc.token()}"})
        assert conn.getresponse().status == 401  # a bot token is no key
        conn.close()
    finally:
        serve.close()


def test_serve_without_a_bot_has_no_messages_route(tmp_path):
    relay = open_relay(config_of(tmp_path, Receiver(name="webhook", channel="teams")),
                       Paths(EXAMPLES / "inventory.json", tmp_path / "l.sqlite", tmp_path / "out"))
    server = RelayServer(("127.0.0.1", 0), relay, SqliteInbox(tmp_path / "inbox.sqlite"))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        conn = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
        conn.request("POST", "/api/messages", body=b"{}", headers={"Authorization": "Bearer x"})
        assert conn.getresponse().status == 404
        conn.close()
    finally:
        server.shutdown()
        server.server_close()
        relay.ledger.close()


def test_serve_updates_the_card_once_per_new_person_and_survives_the_hook_failing(tmp_path, bc, ca, ledger):
    config = config_of(tmp_path)
    admit_thread(config, tmp_path)
    calls = []

    def update_card(thread: str, receiver: str) -> None:
        calls.append((thread, receiver))
        if len(calls) == 2:
            raise ConnectionError("the Connector is down")

    serve = Serve(tmp_path, bc, ca, config, update_card=update_card)
    try:
        assert press(serve, bc, user=USER)[0] == 200
        assert press(serve, bc, user=USER)[0] == 200  # already on it: nothing to update
        assert press(serve, bc, user=OTHER_USER)[0] == 200  # the hook fails: kept all the same
    finally:
        serve.close()
    assert calls == [(THREAD, BOT), (THREAD, BOT)]
    assert len(on_it(ledger)) == 2


def test_serve_reads_its_settings_from_the_environment(tmp_path, bc, ca, monkeypatch, ledger):
    """Without a check given, `relay serve` makes one from the bot receivers and RELAY_BOT_OPENID_URL."""
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.bundle))
    monkeypatch.setenv("RELAY_BOT_OPENID_URL", bc.openid_url)
    config = config_of(tmp_path)
    admit_thread(config, tmp_path)
    relay = open_relay(config, Paths(EXAMPLES / "inventory.json", tmp_path / "l.sqlite", tmp_path / "out"))
    server = RelayServer(("127.0.0.1", 0), relay, SqliteInbox(tmp_path / "inbox.sqlite"))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        serve = Serve.__new__(Serve)
        serve.server = server
        assert press(serve, bc)[0] == 200
        monkeypatch.setenv("RELAY_BOT_OPENID_URL", "http://127.0.0.1:1/plain")  # read once: no change now
        assert press(serve, bc, user=OTHER_USER)[0] == 200
    finally:
        server.shutdown()
        server.server_close()
        relay.ledger.close()
    assert len(on_it(ledger)) == 2


# -- the Function


def test_the_function_registers_messages_anonymous_only_with_a_bot(tmp_path, bc):
    with_bot = {f.get_function_name(): f for f in build_functions(Function(tmp_path, bc, config_of(tmp_path)).host)}
    assert "messages" in with_bot
    trigger = with_bot["messages"].get_trigger()
    assert trigger.route == "messages" and trigger.methods == [func.HttpMethod.POST]
    assert trigger.auth_level == func.AuthLevel.ANONYMOUS  # the Bot Framework sends no function key
    without = Function(tmp_path, bc, config_of(tmp_path, Receiver(name="webhook", channel="teams")))
    assert "messages" not in without.functions


def test_the_function_with_unusable_bot_settings_answers_503_naming_the_setting(tmp_path, bc, ledger):
    config = config_of(tmp_path)
    admit_thread(config, tmp_path)
    function = Function(tmp_path, bc, config, RELAY_BOT_OPENID_URL="http://login.botframework.com/v1/openid")
    try:
        status, headers, body = press(function, bc)
    finally:
        function.close()
    assert status == 503 and headers["Retry-After"] and "RELAY_BOT_OPENID_URL" in body["detail"], body
    assert on_it(ledger) == []


def test_the_function_opens_no_ledger_for_a_refused_token(tmp_path, bc, ca, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.bundle))
    function = Function(tmp_path, bc, config_of(tmp_path))
    assert press(function, bc, token=bc.expired_token)[0] == 401
    assert "relay" not in vars(function.host) and not (tmp_path / "l.sqlite").exists()


# -- the settings


def test_bot_settings():
    webhook = Receiver(name="webhook", channel="teams")
    assert bot_settings([webhook], {}) is None
    assert bot_settings([webhook, bot_receiver(), bot_receiver("b2"), bot_receiver("b3", OTHER_APP_ID)], {}) == \
        BotSettings((APP_ID, OTHER_APP_ID), BOTFRAMEWORK_METADATA)
    named = bot_receiver(openid_metadata_url="https://login.botframework.azure.us/v1/.well-known/openidconfiguration")
    assert bot_settings([named], {}).openid_url.startswith("https://login.botframework.azure.us/")
    assert bot_settings([named], {"RELAY_BOT_OPENID_URL": "https://127.0.0.1:8443/v1/x"}).openid_url == \
        "https://127.0.0.1:8443/v1/x"
    with pytest.raises(SettingsError, match="RELAY_BOT_OPENID_URL must be an https URL"):
        bot_settings([bot_receiver()], {"RELAY_BOT_OPENID_URL": "http://127.0.0.1/v1/x"})
    with pytest.raises(SettingsError, match="different openid_metadata_url"):
        bot_settings([named, bot_receiver("b2", openid_metadata_url="https://127.0.0.1/x")], {})


def test_a_body_that_is_no_activity_is_logged_in_one_line_without_the_body(endpoint, bc, caplog):
    caplog.set_level(logging.INFO)
    body = json.dumps({"type": "invoke", "from": "Aiko Tanaka's secret note"}).encode()
    assert endpoint.post(body, bc.headers(bc.invoke(VERB_ACK, ack_data(), thread=CONVERSATION)))[0] == 400
    assert "secret note" not in caplog.text and "Traceback" not in caplog.text
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        "activity refused (400): 1 problem(s) in the activity."]


def test_a_ledger_that_fails_is_an_error_teams_shows_never_a_crash(bc, ca, caplog):
    from datetime import UTC, datetime

    from relay.hosts.messages import Messages

    def broken():
        raise OSError("cannot open /srv/ledger-with-a-secret-name")

    check = BotFrameworkCheck(BotSettings((APP_ID,), bc.openid_url), ssl_context=ca.client_context())
    messages = Messages(lambda: check, broken, {BOT: bot_receiver()}, lambda: datetime.now(UTC))
    activity = bc.invoke(VERB_ACK, ack_data(), thread=CONVERSATION)
    reply = messages(bc.headers(activity)["Authorization"], json.dumps(activity).encode())
    assert reply.status == 500 and reply.body["type"] == "application/vnd.microsoft.error", reply.body
    assert "press it again" in reply.body["value"]["message"] and "secret" not in caplog.text
