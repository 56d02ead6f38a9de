"""Start maintenance from a Teams card (relay.maintain.from_teams), end to end in process: the user's groups from
the loopback Microsoft Graph (tests/sinks/graph.py, through the real msal), the VM's status and performMaintenance
from the ARM emulator (the real azure-mgmt-compute client, signed in from the environment as `relay maintain start`
is), the notices through the pipeline into the maintenance's thread: an outbox receiver's, and a Teams bot's
(tests/sinks/botconnector.py). Allowed, refused for each reason (wrong group, outside the scope, no longer
startable, Graph down, Azure's refusal), with nothing called on ARM when the refusal is the relay's own."""
from __future__ import annotations

import json
import logging
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import pytest

from relay.channels import teams_actions as actions
from relay.channels import teams_bot
from relay.channels.graph import tokens_from
from relay.channels.teams_actions import VERB_START_CANCEL, VERB_START_CONFIRM
from relay.config import AzureSettings, parse_config
from relay.config.actions import StartRule, TeamsActions
from relay.enrich import NoInventory
from relay.hosts.wiring import Paths, open_relay
from relay.maintain import from_teams
from relay.maintain.allowed import Refusal, may_start
from relay.maintain.from_teams import TeamsUser, cancelled_card, confirm_card, start_from_teams, vm_of
from relay.maintain.member_groups import GraphUnavailable, MemberGroups, member_groups
from relay.model import Receiver
from relay.pipeline import Relay, process_event
from relay.routing import ReceiverFilter, Routes
from relay.store.sqlite import SqliteLedger
from tests import factories as f
from tests.emulator import CLIENT_ID, CLIENT_SECRET, TENANT_ID, ArmEmulator, Estate, Maintenance
from tests.emulator.estate import NOW
from tests.render_fixtures import assert_cards_valid
from tests.sinks.botconnector import APP_ID, CHANNEL, TENANT, BotConnector
from tests.sinks.graph import GraphSink
from tests.sinks.server import Reply

GRAPH_SECRET = "Qx7~graph.client-secret_99"
OPS = "6f1c2d3e-1111-4222-8333-444455556666"  # may start every VM of the estate's subscription
WEB = "7a2b3c4d-5555-4666-8777-888899990000"  # may start the VMs of rg-01, in any subscription
OTHER = "0e0e0e0e-aaaa-4bbb-8ccc-dddddddddddd"  # named by no rule
SATO = TeamsUser("9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a", "Sato Hanako")
SUZUKI = TeamsUser("1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", "Suzuki Ichiro")
TANAKA = TeamsUser("2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e", "Tanaka Aiko")
WAIT = 60.0  # seconds the background work may take, at most


@pytest.fixture(autouse=True)
def environment(ca, monkeypatch):
    """The relay's Azure identity is the emulator's app (DefaultAzureCredential reads it from the environment, as
    for relay maintain start); msal (requests) and every HTTPS client trust the test CA; no managed identity."""
    monkeypatch.setenv("AZURE_TENANT_ID", TENANT_ID)
    monkeypatch.setenv("AZURE_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.bundle))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca.bundle))
    for name in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT",
                 "AZURE_FEDERATED_TOKEN_FILE", "AZURE_CLIENT_CERTIFICATE_PATH"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def graph(ca):
    with GraphSink(ca, client_secret=GRAPH_SECRET) as sink:
        sink.members = {SATO.id: {OPS, OTHER}, SUZUKI.id: {OTHER}, TANAKA.id: {WEB}}
        yield sink


def estate() -> Estate:
    """vm-01-00000 … 00003 Start now (rg-00 … rg-03), 00004 … 00006 Scheduled, 00007 Already updated."""
    return Estate(vms=8, subscriptions=1)


def vm_named(place: Estate, name: str):
    return next(vm for vm in place.vms if vm.name == name)


class Scene:
    """One relay with its config (an outbox receiver; teams_actions naming OPS and WEB), the maintenance's card
    already in its thread, and the Graph client as the dispatcher would make it."""

    def __init__(self, emu: ArmEmulator, graph: GraphSink, tmp_path: Path):
        self.emu, self.sink, self.tmp_path = emu, graph, tmp_path
        self.config = parse_config({
            "azure": {"arm_url": emu.url, "authority": emu.url, "subscriptions": emu.estate.subscriptions},
            "ledger": str(tmp_path / "ledger.sqlite"), "outbox": str(tmp_path / "outbox"),
            "receivers": [{"name": "team", "channel": "outbox", "format": "teams"}],
            "teams_actions": {"graph_url": graph.url, "start_maintenance": [
                {"group": OPS, "subscriptions": emu.estate.subscriptions},
                {"group": WEB, "resource_groups": ["RG-01"]}]},
        })
        self.relay = open_relay(self.config, Paths(ledger=tmp_path / "ledger.sqlite", outbox=tmp_path / "outbox"),
                                environ={})
        self.relay.vms = NoInventory()  # the maintenance's own card needs no VM lookup here
        self.relay.sleep = lambda seconds: None
        process_event(f.maintenance_event(tracking_id=emu.estate.tracking_id), self.relay)
        self.graph = member_groups(self.config.teams_actions, graph.environ(), authority=graph.url)

    def press(self, user: TeamsUser, name: str, **options):
        vm_id = vm_named(self.emu.estate, name).id
        options.setdefault("answer_within", WAIT)
        card, outcome = start_from_teams(vm_id, user, self.emu.estate.tracking_id, self.relay,
                                         self.config.azure or AzureSettings(),
                                         self.config.teams_actions.start_maintenance, self.graph, now=NOW,
                                         connection_verify=str(self.emu.tls.bundle), **options)
        assert outcome.wait(WAIT), "the background work did not end"
        return card, outcome

    def arm_calls(self) -> int:
        return sum(self.emu.calls.values())

    def threads(self) -> list[tuple[str, str]]:
        """(thread key, status) of every communication the ledger holds: the maintenance's, then the notices."""
        ledger = sqlite3.connect(self.tmp_path / "ledger.sqlite")
        try:
            return ledger.execute("SELECT thread_key, COALESCE(stage, '') FROM communications"
                                  " ORDER BY admitted_at").fetchall()
        finally:
            ledger.close()

    def notices(self) -> list[str]:
        """The texts of the relay's notices in the outbox, oldest first."""
        paths = sorted((self.tmp_path / "outbox" / "team").glob("*self-service*.json"), key=lambda p: p.stat().st_mtime)
        return [card_text(json.loads(p.read_text(encoding="utf-8"))["attachments"][0]["content"]) for p in paths]

    def close(self) -> None:
        self.relay.ledger.close()


@pytest.fixture
def scene(ca, graph, tmp_path):
    with ArmEmulator(estate(), tls=ca, maintenance=Maintenance(seconds=0.3)) as emu:
        made = Scene(emu, graph, tmp_path)
        try:
            yield made
        finally:
            made.close()


def card_text(card: dict) -> str:
    """Every string a card shows, in order, on lines."""
    found: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            for key in ("text", "title"):
                if isinstance(node.get(key), str):
                    found.append(node[key])
            for value in node.values():
                if isinstance(value, dict | list):
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card)
    return "\n".join(found)


def refusal_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "relay.maintain" and "teams action" in r.getMessage()]


# --- allowed ---------------------------------------------------------------------------------------------------

def test_a_member_of_an_allowed_group_starts_it_and_the_thread_hears_both_notices(scene, graph, caplog):
    caplog.set_level(logging.INFO)
    card, outcome = scene.press(SATO, "vm-01-00001")
    text = card_text(card)
    assert "開始しました。結果はこのスレッドにお知らせします" in text
    assert "Started: the outcome will be posted in this thread" in text and "vm-01-00001" in text
    assert (outcome.result, outcome.refusal) == ("started", None)
    assert scene.emu.maintenance.started() == ["vm-01-00001"]
    assert vm_named(scene.emu.estate, "vm-01-00001").redeploy["lastOperationResultCode"] == "MaintenanceCompleted"
    assert outcome.ran is not None and outcome.ran.all_completed
    # Graph was asked about the configured groups, with the relay's own token
    assert graph.member_checks == [(SATO.id, [OPS, WEB])]
    # started, then the outcome, both in the maintenance's thread, naming who
    started, finished = scene.notices()
    assert "Sato Hanako (9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a)" in started and "セルフサービス メンテナンスを開始しました" in started
    assert "completed on 1 VM" in finished and "vm-01-00001" in finished
    tracking = scene.emu.estate.tracking_id
    assert [key for key, _ in scene.threads()] == [tracking, tracking, tracking]
    # the log: who, what, when, the result; never a token or a secret
    lines = refusal_lines(caplog)
    assert any("start_confirm by Sato Hanako (9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a) on" in line and "vm-01-00001" in line
               and "2026-01-20T03:00:00+00:00: started" in line for line in lines), lines
    assert any(line.endswith(": completed") for line in lines), lines
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert not any(secret in logged for secret in (GRAPH_SECRET, CLIENT_SECRET, *graph.issued))


def test_a_resource_group_rule_allows_its_group_in_any_subscription(scene):
    card, outcome = scene.press(TANAKA, "vm-01-00001")  # rg-01: the rule writes RG-01; names compare in any case
    assert outcome.result == "started", card_text(card)
    assert scene.emu.maintenance.started() == ["vm-01-00001"]


def test_azure_refusing_at_once_is_the_answer_and_the_thread_has_its_words(ca, graph, tmp_path):
    place = estate()
    failing = Maintenance(seconds=0.3)
    failing.fail("vm-01-00003", "Maintenance could not be performed on this VM now; retry later.")
    with ArmEmulator(place, tls=ca, maintenance=failing) as emu:
        scene = Scene(emu, graph, tmp_path)
        try:
            card, outcome = scene.press(SATO, "vm-01-00003")
        finally:
            scene.close()
    assert (outcome.result, outcome.refusal) == ("refused", Refusal.AZURE)
    text = card_text(card)
    assert "開始しませんでした / Not started" in text
    assert "Azure refused to start it: OperationNotAllowed: Maintenance could not be performed" in text
    assert "Azure が開始を受け付けませんでした" in text
    started, finished = scene.notices()  # it was started: the thread has the start and Azure's answer
    assert "retry later." in finished and "vm-01-00003" in finished


def test_an_answer_before_azure_tells_the_status_is_pending_and_the_thread_hears_the_rest(scene):
    card, outcome = scene.press(SATO, "vm-01-00002", answer_within=0.0)
    assert outcome.result == "pending"
    assert "受け付けました" in card_text(card) and "Accepted:" in card_text(card)
    assert scene.emu.maintenance.started() == ["vm-01-00002"]
    assert outcome.ran is not None and outcome.ran.all_completed  # over by now: press() waited for it
    assert len(scene.notices()) == 2


# --- refused ---------------------------------------------------------------------------------------------------

def test_a_user_in_no_allowed_group_is_refused_with_why_and_nothing_is_asked_of_azure(scene, caplog):
    caplog.set_level(logging.INFO)
    card, outcome = scene.press(SUZUKI, "vm-01-00001")
    assert (outcome.result, outcome.refusal) == ("refused", Refusal.NOT_IN_GROUP)
    text = card_text(card)
    assert "開始しませんでした / Not started" in text
    assert "Teams からメンテナンスを開始できる Entra グループのメンバーではありません" in text
    assert "not a member of an Entra group that may start maintenance from Teams" in text
    assert scene.arm_calls() == 0
    (notice,) = scene.notices()
    assert "Suzuki Ichiro (1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d)" in notice and "vm-01-00001" in notice
    assert "Self-service maintenance not started: vm-01-00001" in notice and "Nothing was rebooted." in notice
    assert [key for key, _ in scene.threads()] == [scene.emu.estate.tracking_id] * 2
    assert any("start_confirm by Suzuki Ichiro" in line and "refused: not a member" in line
               for line in refusal_lines(caplog))


def test_a_vm_outside_the_groups_resource_groups_is_refused(scene):
    card, outcome = scene.press(TANAKA, "vm-01-00002")  # rg-02; WEB may start rg-01 only
    assert (outcome.result, outcome.refusal) == ("refused", Refusal.OUTSIDE_SCOPE)
    assert "outside the subscriptions and resource groups that their groups may start" in card_text(card)
    assert scene.arm_calls() == 0
    assert scene.emu.maintenance.started() == []
    assert "the VM is outside the subscriptions and resource groups" in scene.notices()[0]


@pytest.mark.parametrize(("name", "ja", "en"), [
    ("vm-01-00004", "現在の状態: スケジュール済み", "Its status now: Scheduled (no self-service"),
    ("vm-01-00007", "現在の状態: 更新済み", "Its status now: Already updated"),
])
def test_a_vm_no_longer_startable_is_refused_with_its_status_and_nothing_starts(scene, name, ja, en):
    card, outcome = scene.press(SATO, name)
    assert (outcome.result, outcome.refusal) == ("refused", Refusal.NOT_STARTABLE)
    text = card_text(card)
    assert "VM はもう「今すぐ開始」「今すぐやり直す」の状態ではありません" in text and ja in text
    assert "the VM is no longer in Start now or Retry now" in text and en in text
    assert scene.emu.calls["perform maintenance"] == 0 and scene.emu.calls["virtual machine"] == 1
    (notice,) = scene.notices()
    assert ja in notice and en in notice and name in notice
    assert [key for key, _ in scene.threads()] == [scene.emu.estate.tracking_id] * 2


@pytest.mark.parametrize(("fault", "said"), [
    ({"status": 503, "retry_after": "5"}, "Graph answered HTTP 503"),
    ({"status": 0, "drop": True}, "Graph unreachable"),
])
def test_graph_down_refuses_and_says_graph_could_not_be_asked(scene, graph, fault, said):
    fault = dict(fault)
    graph.fail_member_check(fault.pop("status"), **fault)
    card, outcome = scene.press(SATO, "vm-01-00001")
    assert (outcome.result, outcome.refusal) == ("refused", Refusal.GRAPH)
    text = card_text(card)
    assert "Microsoft Graph could not be asked which groups they are in" in text and said in text
    assert "所属するグループを Microsoft Graph に確認できませんでした" in text
    assert scene.arm_calls() == 0
    assert "Microsoft Graph could not be asked" in scene.notices()[0]


def test_graph_without_the_permission_says_which_one_is_needed(scene, graph):
    graph.group_read = False
    card, outcome = scene.press(SATO, "vm-01-00001")
    assert outcome.refusal is Refusal.GRAPH
    assert "HTTP 403 Authorization_RequestDenied" in outcome.detail
    assert "User.Read.All and GroupMember.Read.All (or Directory.Read.All)" in outcome.detail
    assert scene.arm_calls() == 0


def test_a_config_without_rules_lets_nobody_and_asks_no_one(scene, graph):
    card, outcome = start_from_teams(vm_named(scene.emu.estate, "vm-01-00001").id, SATO, scene.emu.estate.tracking_id,
                                     scene.relay, scene.config.azure, (), scene.graph, now=NOW)
    assert outcome.wait(WAIT)
    assert outcome.refusal is Refusal.NOBODY
    assert graph.member_checks == [] and scene.arm_calls() == 0
    assert "teams_actions.start_maintenance" in card_text(card)


def test_a_button_that_names_no_vm_is_refused(scene):
    card, outcome = start_from_teams("/subscriptions/x/resourceGroups/rg/providers/Microsoft.Web/sites/app", SATO,
                                     scene.emu.estate.tracking_id, scene.relay, scene.config.azure,
                                     scene.config.teams_actions.start_maintenance, scene.graph, now=NOW)
    assert outcome.wait(WAIT)
    assert outcome.refusal is Refusal.NOT_A_VM and scene.arm_calls() == 0
    assert "the button names no VM" in card_text(card)


# --- the notices in a Teams bot's thread ------------------------------------------------------------------------

class Connector(BotConnector):
    """The loopback Bot Connector with the tenant's OpenID configuration, which msal reads before its first token."""

    def _route(self, request):
        if request.path == f"/{self.tenant}/v2.0/.well-known/openid-configuration" and request.method == "GET":
            base = f"{self.url}/{self.tenant}"
            return Reply(200, {"issuer": f"{base}/v2.0", "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                               "token_endpoint": self.token_url, "jwks_uri": f"{base}/discovery/v2.0/keys"})
        return super()._route(request)


def test_the_notices_are_replies_in_the_maintenances_teams_thread(ca, graph, tmp_path):
    place = estate()
    with ArmEmulator(place, tls=ca, maintenance=Maintenance(seconds=0.3)) as emu, Connector(tls=ca) as bc:
        receiver = Receiver("ops-bot", "teams", language="both", transport="teams-bot", destination_env="BOT_SECRET",
                            options={"app_id": APP_ID, "tenant_id": TENANT, "team_channel": CHANNEL,
                                     "service_url": bc.service_url, "authority": bc.authority})
        ledger = SqliteLedger(tmp_path / "ledger.sqlite")
        relay = Relay(ledger=ledger, vms=NoInventory(), routes=Routes.flat((ReceiverFilter(receiver),)),
                      channel_for=lambda r: teams_bot.from_receiver(r, environ={"BOT_SECRET": bc.client_secret},
                                                                    threads=ledger, ssl_context=ca.client_context()),
                      sleep=lambda seconds: None)
        try:
            assert process_event(f.maintenance_event(tracking_id=place.tracking_id), relay).deliveries[0].result.ok
            rules = (StartRule(OPS, tuple(place.subscriptions)),)
            groups = member_groups(TeamsActions(rules, graph.url), graph.environ(), authority=graph.url)
            allowed, started = start_from_teams(vm_named(place, "vm-01-00000").id, SATO, place.tracking_id, relay,
                                                AzureSettings(arm_url=emu.url, authority=emu.url), rules, groups,
                                                now=NOW, answer_within=WAIT, connection_verify=str(ca.bundle))
            refused, declined = start_from_teams(vm_named(place, "vm-01-00001").id, SUZUKI, place.tracking_id, relay,
                                                 AzureSettings(arm_url=emu.url, authority=emu.url), rules, groups,
                                                 now=NOW + timedelta(minutes=5), answer_within=WAIT,
                                                 connection_verify=str(ca.bundle))
            assert started.wait(WAIT) and declined.wait(WAIT)
        finally:
            ledger.close()
        (thread,) = bc.threads(CHANNEL)
    assert (started.result, declined.result) == ("started", "refused")
    replies = [card_text(reply.activity["attachments"][0]["content"]) for reply in thread.replies]
    assert len(replies) == 3
    assert sum("Self-service maintenance started on 1 VM" in text for text in replies) == 1
    assert sum("Self-service maintenance completed on 1 VM" in text for text in replies) == 1
    assert sum("Self-service maintenance not started: vm-01-00001" in text for text in replies) == 1


# --- the cards --------------------------------------------------------------------------------------------------

def test_the_confirmation_asks_first_and_its_buttons_carry_the_vm_thread_and_receiver(tmp_path):
    vm_id = "/subscriptions/0a1b2c3d-1111-2222-3333-444455556666/resourceGroups/rg-web/providers/Microsoft.Compute" \
            "/virtualMachines/vm-web-01"
    pressed = {actions.DATA_THREAD: "XY12-3ZQ", actions.DATA_RECEIVER: "ops-bot", actions.DATA_VM: vm_id, "x": "y"}
    card = confirm_card(vm_id, SATO, pressed)
    text = card_text(card)
    assert "vm-web-01 のメンテナンスを今すぐ開始しますか？ VM は再起動されます。" in text
    assert "Start the maintenance of vm-web-01 now? The VM will be rebooted." in text
    confirm, cancel = card["actions"]
    data = {actions.DATA_THREAD: "XY12-3ZQ", actions.DATA_RECEIVER: "ops-bot", actions.DATA_VM: vm_id}
    assert confirm == {"type": "Action.Execute", "verb": VERB_START_CONFIRM, "title": "開始する / Start",
                       "style": "destructive", "data": data}
    assert cancel == {"type": "Action.Execute", "verb": VERB_START_CANCEL, "title": "キャンセル / Cancel", "data": data}
    english = confirm_card(vm_id, SATO, pressed, langs=("en",))
    assert "再起動" not in card_text(english) and english["actions"][0]["title"] == "Start"
    assert "Cancelled: nothing was started" in card_text(cancelled_card(vm_id, SATO))
    cards = {"confirm": card, "english": english, "cancelled": cancelled_card(vm_id, SATO),
             "refused": from_teams.confirm_card("not a vm", SATO)}
    assert_cards_valid({name: envelope(content) for name, content in cards.items()}, tmp_path)


def test_card_text_from_a_vm_name_reads_no_markdown_and_fires_no_card_function():
    vm_id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/{{DATE(x)}}_*b*_"
    card = confirm_card(vm_id, SATO)
    assert all(block["type"] == "RichTextBlock" for block in card["body"])  # TextRuns: no markdown
    assert "{{" not in card_text(card) and "{\u2060{DATE(x)}}_*b*_" in card_text(card)
    assert card["actions"][0]["data"][actions.DATA_VM] == vm_id  # the data carries the id as it is


def envelope(content: dict) -> bytes:
    return json.dumps({"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "content": content}]}, ensure_ascii=False).encode()


# --- who may: plain functions ------------------------------------------------------------------------------------

SUB_A, SUB_B = "0a1b2c3d-1111-2222-3333-444455556666", "0b1b2c3d-1111-2222-3333-444455556666"


def vm(subscription: str = SUB_A, group: str = "rg-web", name: str = "vm-web-01"):
    return vm_of(f"/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.Compute"
                 f"/virtualMachines/{name}")


def test_may_start_by_group_then_scope():
    rules = (StartRule(OPS, (SUB_A,)), StartRule(WEB, (), ("rg-web",)), StartRule(OTHER, (SUB_B,), ("rg-db",)))
    assert may_start(set(), vm(), ()) is Refusal.NOBODY
    assert may_start(set(), vm(), rules) is Refusal.NOT_IN_GROUP
    assert may_start({"1234"}, vm(), rules) is Refusal.NOT_IN_GROUP
    assert may_start({OPS.upper()}, vm(), rules) is None  # ids compare in any case
    assert may_start({OPS}, vm(SUB_B), rules) is Refusal.OUTSIDE_SCOPE
    assert may_start({WEB}, vm(SUB_B, "RG-Web"), rules) is None  # a resource group in any subscription
    assert may_start({WEB}, vm(SUB_B, "rg-db"), rules) is Refusal.OUTSIDE_SCOPE
    assert may_start({OTHER}, vm(SUB_B, "rg-db"), rules) is None  # both: that group of that subscription
    assert may_start({OTHER}, vm(SUB_A, "rg-db"), rules) is Refusal.OUTSIDE_SCOPE
    assert may_start({OTHER, WEB}, vm(SUB_A, "rg-web"), rules) is None  # any of their groups will do
    assert isinstance(may_start(set(), vm(), rules), str)  # the reason in plain words
    assert str(Refusal.NOT_IN_GROUP) == "not a member of any Entra group that may start maintenance from Teams"


def test_a_scale_set_vm_is_placed_by_its_id_and_other_ids_are_none():
    scale_set_vm = vm_of(f"/subscriptions/{SUB_A}/resourceGroups/rg-vmss/providers/Microsoft.Compute"
                         "/virtualMachineScaleSets/web/virtualMachines/3")
    assert scale_set_vm is not None and (scale_set_vm.name, scale_set_vm.resource_group) == ("web_3", "rg-vmss")
    assert vm_of(f"/x/{SUB_A}/y/rg/providers/Microsoft.Compute/virtualMachineScaleSets/web/virtualMachines/3") is None
    assert vm_of("vm-web-01") is None


def test_graph_is_asked_twenty_groups_at_a_time(graph):
    many = [f"{n:08x}-1111-4222-8333-444455556666" for n in range(45)]
    graph.members = {SATO.id: {many[3], many[30], many[44]}}
    groups = MemberGroups(tokens_from(graph.environ(), graph.url, graph.url, "teams_actions"), graph.url)
    assert groups(SATO.id, many) == {many[3], many[30], many[44]}
    assert [len(ids) for _, ids in graph.member_checks] == [20, 20, 5]
    assert len(graph.token_requests) == 1
    with pytest.raises(GraphUnavailable, match="HTTP 404 Request_ResourceNotFound; Graph does not know this user"):
        groups(SUZUKI.id, many[:2])
    with pytest.raises(GraphUnavailable, match="no Entra object id"):
        groups("../me", many[:2])
    graph.refuse_tokens()
    other = MemberGroups(tokens_from(graph.environ(), graph.url, graph.url, "teams_actions"), graph.url)
    with pytest.raises(GraphUnavailable, match="token request refused by Entra ID: invalid_client"):
        other(SATO.id, many[:2])


def test_the_endpoint_asks_first_then_starts_or_cancels(scene, ca):
    """POST /api/messages' dispatcher, a real Bot Framework token checked: start → the confirmation; start_cancel →
    nothing started; start_confirm → started, as the functions above do."""
    from relay.auth.botframework import BotFrameworkCheck, bot_settings
    from relay.hosts.messages import Starting, bot_messages
    from tests.sinks.botconnector import APP_ID
    from tests.sinks.botconnector import TeamsUser as BotUser

    bot = Receiver("team-bot", "teams", transport="teams-bot", options={"app_id": APP_ID})
    with Connector(tls=ca) as bc:
        check = BotFrameworkCheck(bot_settings([bot], {"RELAY_BOT_OPENID_URL": bc.openid_url}))
        starting = Starting(lambda: scene.relay, scene.config.azure, scene.config.teams_actions, {}, scene.graph,
                            connection_verify=str(scene.emu.tls.bundle))
        messages = bot_messages({bot.name: bot}, lambda: check, lambda: scene.relay.ledger, lambda: NOW,
                                starting=starting)

        def press(verb: str) -> dict:
            data = {"thread": scene.emu.estate.tracking_id, "receiver": bot.name,
                    "vm": vm_named(scene.emu.estate, "vm-01-00001").id}
            activity = bc.invoke(verb, data, thread="19:0ddba11a@thread.tacv2;messageid=1",
                                 user=BotUser("29:1sato", SATO.id, SATO.name))
            reply = messages(bc.headers(activity)["Authorization"], json.dumps(activity).encode())
            assert reply.status == 200, reply.encoded()
            return json.loads(reply.encoded())["value"]

        assert "開始しますか" in card_text(press("start")) and scene.emu.maintenance.started() == []
        press("start_cancel")
        assert scene.emu.maintenance.started() == []
        answer = card_text(press("start_confirm"))  # started, or accepted before Azure told the VM's status
        assert "開始しました" in answer or "受け付けました" in answer, answer
    for _ in range(100):  # the run goes on in the background; the thread hears its end
        if scene.emu.maintenance.started():
            break
        time.sleep(0.05)
    assert scene.emu.maintenance.started() == ["vm-01-00001"]
