"""対応します / I'm on it, end to end: the pipeline posts a maintenance's first card to a Teams channel through the
loopback Bot Connector (tests/sinks/botconnector.py); two people press the card's button; POST /api/messages (`relay
serve` over real HTTP, and the Function's HTTP trigger) keeps them in the ledger and updates the thread's first card
for everyone, both names in order, and answers each presser with that card. The same person pressing again changes
nothing. On SQLite and on Table Storage (Azurite)."""
from __future__ import annotations

import http.client
import json
import re
import threading
import uuid
from pathlib import Path

import azure.functions as func
import pytest

from relay.auth.botframework import BotFrameworkCheck, BotSettings
from relay.channels.teams_actions import DATA_RECEIVER, DATA_THREAD, VERB_ACK
from relay.config import parse_config
from relay.hosts.function import FunctionHost
from relay.hosts.messages import card_refresher
from relay.hosts.serve import RelayServer
from relay.hosts.wiring import Paths, open_relay
from relay.inbox.sqlite import SqliteInbox
from relay.model import Acknowledgement
from relay.pipeline import process
from tests.polling import wait_for
from tests.sinks.botconnector import ADAPTIVE, APP_ID, CHANNEL, OTHER_USER, TENANT, USER, BotConnector, Thread
from tests.teams_card import elements, texts

pytest_plugins = ["tests.azurite"]

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
PLANNED = (EXAMPLES / "alerts" / "01-planned.json").read_bytes()
RESCHEDULED = (EXAMPLES / "alerts" / "03-rescheduled.json").read_bytes()
BOT = "ops-bot"


@pytest.fixture
def bc(ca, monkeypatch):
    """The Connector, trusted, with the managed identity that is the bot: the config names no secret."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca.bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.bundle))
    with BotConnector(tls=ca) as connector:
        for name, value in connector.identity_environ().items():
            monkeypatch.setenv(name, value)
        yield connector


def config_for(bc: BotConnector, tmp_path: Path):
    return parse_config({"ledger": str(tmp_path / "l.sqlite"), "outbox": str(tmp_path / "out"), "receivers": [{
        "name": BOT, "channel": "teams", "via": "bot", "language": "both", "app_id": APP_ID, "tenant_id": TENANT,
        "team_channel": CHANNEL, "service_url": bc.service_url, "max_per_second": 10}]})


def storage(kind: str, request) -> dict[str, str]:
    """The environment that puts the ledger on SQLite (none) or on a fresh table of Azurite."""
    if kind == "sqlite":
        return {}
    return {"RELAY_TABLES_CONNECTION": request.getfixturevalue("azurite"), "RELAY_TABLE": f"ack{uuid.uuid4().hex[:16]}"}


class Serve:
    """`relay serve` with the bot receiver; its `update_card` is the default one, the relay's own."""

    def __init__(self, tmp_path: Path, bc: BotConnector, ca, environ: dict[str, str]):
        self.relay = open_relay(config_for(bc, tmp_path), Paths(EXAMPLES / "inventory.json"), environ=environ)
        check = BotFrameworkCheck(BotSettings((APP_ID,), bc.openid_url), ssl_context=ca.client_context())
        self.server = RelayServer(("127.0.0.1", 0), self.relay, SqliteInbox(tmp_path / "inbox.sqlite"),
                                  bot_check=check)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
        conn = http.client.HTTPConnection(*self.server.server_address[:2], timeout=30)
        conn.request("POST", "/api/messages", body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return response.status, json.loads(data)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.relay.ledger.close()


class Function:
    """The Function App as the Functions host runs it."""

    def __init__(self, tmp_path: Path, bc: BotConnector, ca, environ: dict[str, str]):
        from function_app import build_app

        self.host = FunctionHost({"RELAY_INVENTORY": str(EXAMPLES / "inventory.json"),
                                  "RELAY_LEDGER": str(tmp_path / "l.sqlite"), "RELAY_OUTBOX": str(tmp_path / "out"),
                                  "RELAY_BOT_OPENID_URL": bc.openid_url, **environ})
        vars(self.host)["config"] = config_for(bc, tmp_path)  # as RELAY_CONFIG would give it
        self.messages = {f.get_function_name(): f for f in build_app(self.host).get_functions()}["messages"]

    @property
    def relay(self):
        return self.host.relay

    def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
        request = func.HttpRequest(method="POST", url="/api/messages", body=body,
                                   headers={k.lower(): v for k, v in headers.items()})
        response = self.messages.get_user_function()(request)
        return response.status_code, json.loads(response.get_body())

    def close(self) -> None:
        if "relay" in vars(self.host):
            self.host.relay.ledger.close()


@pytest.fixture(params=[
    ("serve", "sqlite"), ("function", "sqlite"),
    pytest.param(("serve", "tables"), marks=pytest.mark.integration),
    pytest.param(("function", "tables"), marks=pytest.mark.integration),
], ids=lambda p: "-".join(p))
def host(request, tmp_path, bc, ca):
    kind, ledger = request.param
    made = (Serve if kind == "serve" else Function)(tmp_path, bc, ca, storage(ledger, request))
    yield made
    made.close()


def card(posted) -> dict:
    (attachment,) = posted.activity["attachments"]
    assert attachment["contentType"] == ADAPTIVE
    return attachment["content"]


def ack_lines(content: dict) -> list[str]:
    envelope = json.dumps({"type": "message", "attachments": [{"contentType": ADAPTIVE, "content": content}]})
    return [line for line in texts(envelope.encode()) if line.startswith(("対応中", "On it"))]


def press(host, bc: BotConnector, thread: Thread, user) -> tuple[int, dict]:
    """A press of the 対応します / I'm on it button of the thread's first card, as Teams posts it."""
    (button,) = [e for e in elements(card(thread.root)) if e.get("verb") == VERB_ACK]
    activity = bc.invoke(VERB_ACK, button["data"], thread=thread, user=user)
    return host.post(json.dumps(activity).encode(), bc.headers(activity))


def small_card_text(answer: dict) -> str:
    return "\n".join(e.get("text", "") for e in answer["value"]["body"])


# "対応中：Aiko Tanaka（2/16(月) 9:12 JST）、Ken Sato（…）" and "On it: Aiko Tanaka (Mon 16 Feb 09:12 JST), Ken Sato (…)"
BOTH_JA = re.compile(r"^対応中：Aiko Tanaka（[^）]+ JST）、Ken Sato（[^）]+ JST）$")
BOTH_EN = re.compile(r"^On it: Aiko Tanaka \([^)]+ JST\), Ken Sato \([^)]+ JST\)$")


def test_two_people_on_it_are_on_the_first_card_for_everyone_and_each_presser_sees_it(host, bc):
    assert process(PLANNED, host.relay).ok
    (thread,) = bc.threads(CHANNEL)
    assert ack_lines(card(thread.root)) == [] and thread.root.updates == 0

    status, answer = press(host, bc, thread, USER)
    assert status == 200 and answer["statusCode"] == 200 and answer["type"] == ADAPTIVE, answer
    assert thread.root.updates == 1 and thread.replies == []
    ja, en = ack_lines(card(thread.root))
    assert ja.startswith("対応中：Aiko Tanaka（") and en.startswith("On it: Aiko Tanaka (") and "Ken" not in ja + en
    assert answer["value"] == card(thread.root)  # the presser sees the first card as everyone does

    status, answer = press(host, bc, thread, OTHER_USER)
    assert status == 200 and thread.root.updates == 2
    ja, en = ack_lines(card(thread.root))  # once each language: the card kept has nobody on it
    assert BOTH_JA.match(ja) and BOTH_EN.match(en), (ja, en)
    assert answer["value"] == card(thread.root)

    calls = len(bc.operations)
    status, answer = press(host, bc, thread, USER)  # again: nothing changes
    assert status == 200 and "すでに対応中として記録されています / Already recorded: you are on it" in \
        small_card_text(answer)
    assert len(bc.operations) == calls and thread.root.updates == 2
    assert [(a.user_id, a.name) for a in host.relay.ledger.acknowledgements(thread_key(thread), BOT)] == [
        (USER.aad_object_id, USER.name), (OTHER_USER.aad_object_id, OTHER_USER.name)]
    assert [o["op"] for o in bc.operations] == ["create", "update", "update"]

    # The next notice: a reply, and the first card made it, with both still on it.
    assert process(RESCHEDULED, host.relay).ok
    assert thread.root.updates == 3 and len(thread.replies) == 1 and card(thread.root) == card(thread.replies[0])
    assert [bool(p.match(line)) for p, line in zip((BOTH_JA, BOTH_EN), ack_lines(card(thread.root)), strict=True)] \
        == [True, True]


def thread_key(thread: Thread) -> str:
    (button,) = [e for e in elements(card(thread.root)) if e.get("verb") == VERB_ACK]
    assert button["data"][DATA_RECEIVER] == BOT
    return button["data"][DATA_THREAD]


def test_a_first_card_the_connector_will_not_update_leaves_the_small_answer(host, bc):
    assert process(PLANNED, host.relay).ok
    (thread,) = bc.threads(CHANNEL)
    bc.fail_next(503, op="update")
    status, answer = press(host, bc, thread, USER)
    assert status == 200 and "対応中として記録しました / Recorded: you are on it" in small_card_text(answer)
    assert thread.root.updates == 0  # kept in the ledger all the same: the next press or notice shows it
    status, answer = press(host, bc, thread, OTHER_USER)
    assert status == 200 and answer["value"] == card(thread.root) and thread.root.updates == 1
    ja, en = ack_lines(card(thread.root))
    assert BOTH_JA.match(ja) and BOTH_EN.match(en)


def test_a_refresh_behind_a_busy_lane_is_not_waited_for_and_is_done_after(bc, ca, tmp_path):
    """The refresh goes on the receiver's lane, after what is being sent to it: the press is answered without it
    once `wait` passes, and the first card is updated all the same when the lane comes to it."""
    serve = Serve(tmp_path, bc, ca, {})
    try:
        assert process(PLANNED, serve.relay).ok
        (thread,) = bc.threads(CHANNEL)
        serve.relay.ledger.acknowledge(thread_key(thread), BOT, Acknowledgement(USER.aad_object_id, USER.name,
                                                                                serve.relay.clock()))
        sending = threading.Event()
        serve.relay.lanes.submit(BOT, sending.wait)  # a send to the receiver that takes its time
        update_card = card_refresher(lambda: serve.relay, wait=0.2)
        assert update_card(thread_key(thread), BOT) is None and thread.root.updates == 0
        assert update_card(thread_key(thread), "nobody") is None
        sending.set()
        assert wait_for(lambda: thread.root.updates == 1)
        assert ack_lines(card(thread.root))[0].startswith("対応中：Aiko Tanaka（")
    finally:
        serve.close()


def test_a_receiver_that_is_no_teams_bot_has_no_card_to_refresh(tmp_path):
    config = parse_config({"ledger": str(tmp_path / "l.sqlite"), "outbox": str(tmp_path / "out"),
                           "receivers": [{"name": "files", "channel": "outbox", "format": "teams"}]})
    relay = open_relay(config, Paths(EXAMPLES / "inventory.json"), environ={})
    try:
        assert card_refresher(lambda: relay)("XY12-3ZQ", "files") is None
    finally:
        relay.ledger.close()
