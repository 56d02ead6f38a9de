"""The Teams bot channel against the loopback Bot Connector (tests/sinks/botconnector.py) over HTTPS, with the bot's
token from the real msal: a thread an event, its first card updated in place, replies in it; a thread that is gone
started again; who is on the event and the buttons on the card; how each refusal is classified; pacing and 429s;
the token and the client secret never in a result or a log line."""
from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from relay.channels import ChannelUnavailable, RateLimit, channel_for, check_destination, destination_key
from relay.channels import teams_actions as actions
from relay.channels.graph import ManagedIdentityTokens, MsalTokens, TokenFailure
from relay.channels.teams_bot import BOT_SCOPE, TeamsBotChannel, bot_limit, from_receiver
from relay.model import Acknowledgement, Receiver
from relay.pipeline import Relay, send_once
from relay.render import render
from relay.render import teams as teams_render
from relay.store.sqlite import SqliteLedger
from tests import factories as f
from tests.render_fixtures import assert_cards_valid
from tests.sinks.botconnector import (
    ADAPTIVE,
    APP_ID,
    BOT_RESOURCE,
    CHANNEL,
    SCOPE,
    TENANT,
    BotConnector,
    BotLimits,
)
from tests.sinks.server import TestCA
from tests.teams_card import elements, texts

SECRET_ENV = "TEAMS_BOT_APP_SECRET"
RECEIVER = "ops-teams-bot"
SATO = Acknowledgement("7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "佐藤 太郎", datetime(2026, 2, 16, 0, 12, tzinfo=UTC))
TANAKA = Acknowledgement("0f9e8d7c-6b5a-4f3e-9d2c-1b0a9f8e7d6c", "Aiko *Tanaka*", datetime(2026, 2, 16, 0, 30, tzinfo=UTC))


Connector = BotConnector  # the name tests/test_teams_bot_thread.py imports the emulator by


def bot_receiver(bc: BotConnector, name: str = RECEIVER, language: str = "both", **options: str) -> Receiver:
    """A `channel: teams, via: bot` receiver as the config makes it, on the loopback Connector and its authority."""
    return Receiver(name, "teams", language=language, transport="teams-bot", destination_env=SECRET_ENV, options={
        "app_id": APP_ID, "tenant_id": TENANT, "team_channel": CHANNEL, "service_url": bc.service_url,
        "authority": bc.authority, **options})


def environ(bc: BotConnector) -> dict[str, str]:
    return {SECRET_ENV: bc.client_secret}


@pytest.fixture(autouse=True)
def trust(ca, monkeypatch):
    """msal (requests) and the Connector calls (ssl's default context) trust the test CA; no managed identity."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca.bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.bundle))
    for name in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def bc(ca):
    with BotConnector(tls=ca) as connector:
        yield connector


@pytest.fixture
def ledger():
    ledger = SqliteLedger(":memory:")
    yield ledger
    ledger.close()


def bot(bc: BotConnector, ca: TestCA, ledger, timeout: float = 2.0, **options: str) -> TeamsBotChannel:
    return from_receiver(bot_receiver(bc, **options), environ=environ(bc), threads=ledger, timeout=timeout,
                         ssl_context=ca.client_context())


def message(bc: BotConnector, notification=None, **options: str):
    return render(notification or f.planned(), bot_receiver(bc, **options))


def card(posted) -> dict:
    """The card of a message the bot posted (a Posted, or an activity)."""
    activity = posted if isinstance(posted, dict) else posted.activity
    (attachment,) = activity["attachments"]
    assert attachment["contentType"] == ADAPTIVE
    return attachment["content"]


def envelope(content: dict) -> bytes:
    """The card as tests/js/validate_cards.js reads it."""
    return json.dumps({"type": "message", "attachments": [
        {"contentType": ADAPTIVE, "contentUrl": None, "content": content}]}, ensure_ascii=False).encode()


def executes(content: dict) -> list[dict]:
    return [e for e in elements(content) if e["type"] == "Action.Execute"]


# --- a thread an event ---


def test_the_first_message_starts_a_thread_and_the_next_reply_in_it_and_update_its_first_card(bc, ca, ledger):
    channel = bot(bc, ca, ledger)
    planned, rescheduled = message(bc), message(bc, f.rescheduled_update())
    first = channel.send(planned)
    assert first.ok and "started a thread" in first.detail, first.detail
    (thread,) = bc.threads(CHANNEL)
    assert first.reference == thread.root.id
    assert ledger.thread_reference(planned.thread_key, RECEIVER) == f"{thread.id}|{thread.root.id}"

    second = channel.send(rescheduled)
    assert second.ok and "the first card now shows it" in second.detail, second.detail
    assert bc.threads(CHANNEL) == [thread]
    (reply,) = thread.replies
    assert second.reference == reply.id
    assert thread.root.updates == 1 and card(thread.root) == card(reply)
    assert card(thread.root.versions[0]) != card(reply)
    assert [(o["op"], o["activity_id"]) for o in bc.operations] == [
        ("create", thread.root.id), ("reply", reply.id), ("update", thread.root.id)]
    assert [r["scope"] for r in bc.token_requests] == [SCOPE]  # one token serves every call
    assert [r["tenant"] for r in bc.token_requests] == [TENANT]


def test_the_create_names_the_bot_the_tenant_and_the_channel(bc, ca, ledger):
    planned = message(bc)
    assert bot(bc, ca, ledger).send(planned).ok
    (create,) = [r for r in bc.server.requests if r.path == "/teams/v3/conversations"]
    parameters = json.loads(create.body)
    assert {key: parameters[key] for key in ("isGroup", "bot", "tenantId", "channelData")} == {
        "isGroup": True, "bot": {"id": f"28:{APP_ID}"}, "tenantId": TENANT, "channelData": {"channel": {"id": CHANNEL}}}
    assert create.headers["content-type"].startswith("application/json")
    (thread,) = bc.threads(CHANNEL)
    activity = thread.root.activity
    assert activity["type"] == "message"
    assert activity["summary"] == json.loads(planned.body)["summary"]  # what a notification of it shows
    assert card(activity)["version"] == "1.5"


def test_another_event_gets_a_thread_of_its_own(bc, ca, ledger):
    channel = bot(bc, ca, ledger)
    other = f.notification(f.maintenance_event(tracking_id="ZZ99-1AB"))
    assert channel.send(message(bc)).ok and channel.send(message(bc, other)).ok
    assert [len(t.replies) for t in bc.threads(CHANNEL)] == [0, 0]


@pytest.mark.parametrize("gone", ["kept thread deleted", "ActivityNotFoundInConversation"])
def test_a_thread_that_is_gone_is_started_again(bc, ca, ledger, gone):
    channel = bot(bc, ca, ledger)
    planned = message(bc)
    if gone == "kept thread deleted":  # a thread Teams no longer has: the Connector answers 404 ConversationNotFound
        ledger.remember_thread(planned.thread_key, RECEIVER, f"{CHANNEL};messageid=1700000000001|1700000000001")
    else:
        assert channel.send(planned).ok
        bc.fail_next(404, op="reply", body={"error": {"code": gone, "message": "Conversation not found."}})
    result = channel.send(message(bc, f.rescheduled_update()))
    assert result.ok and "the earlier thread is gone" in result.detail and "started a thread" in result.detail
    threads = bc.threads(CHANNEL)
    newest = threads[-1]
    assert newest.replies == [] and newest.root.updates == 0
    # The ledger keeps the new thread (as the event's next one): later messages reply in it, and a restart on the
    # same ledger finds it too.
    assert bot(bc, ca, ledger).send(message(bc, f.complete())).ok
    assert bc.threads(CHANNEL) == threads and len(newest.replies) == 1 and newest.root.updates == 1


def test_an_unreadable_kept_reference_starts_a_thread(bc, ca, ledger, caplog):
    planned = message(bc)
    ledger.remember_thread(planned.thread_key, RECEIVER, "not a thread")
    channel = bot(bc, ca, ledger)
    assert channel.send(planned).ok and channel.send(message(bc, f.rescheduled_update())).ok
    (thread,) = bc.threads(CHANNEL)
    assert len(thread.replies) == 1 and "cannot be read" in caplog.text


# --- the first card's update is not what counts ---


@pytest.mark.parametrize("fault", ["503", "no answer", "429"])
def test_a_failed_update_still_delivers_and_the_next_message_updates_again(bc, ca, ledger, caplog, fault):
    channel = bot(bc, ca, ledger, timeout=1.0)
    assert channel.send(message(bc)).ok
    if fault == "503":
        bc.fail_next(503, op="update")
    elif fault == "429":
        bc.fail_next(429, op="update", retry_after=0.5)
    else:
        bc.fail_next(op="update", drop=True, status=200)
    result = channel.send(message(bc, f.rescheduled_update()))
    assert result.ok and "the first card was not updated" in result.detail, result.detail
    assert "the next message updates it" in result.detail
    assert "first card was not updated" in caplog.text
    (thread,) = bc.threads(CHANNEL)
    assert len(thread.replies) == 1 and thread.root.updates == 0
    if fault == "429":  # the next send waits for the update's Retry-After first (the pipeline waits, and retries)
        held = channel.send(message(bc, f.complete()))
        assert not held.ok and held.retryable and 0 < held.retry_after <= 0.5 and len(thread.replies) == 1
        time.sleep(held.retry_after)
    assert channel.send(message(bc, f.complete())).ok
    assert len(thread.replies) == 2 and thread.root.updates == 1 and card(thread.root) == card(thread.replies[-1])


def test_an_update_whose_answer_was_lost_took_effect_and_the_reply_counts(bc, ca, ledger):
    channel = bot(bc, ca, ledger, timeout=1.0)
    assert channel.send(message(bc)).ok
    bc.lose_next_answer("update")
    result = channel.send(message(bc, f.rescheduled_update()))
    assert result.ok and "not updated" in result.detail
    (thread,) = bc.threads(CHANNEL)
    assert thread.root.updates == 1 and len(thread.replies) == 1


# --- refusals ---


@pytest.mark.parametrize("op", ["create", "reply"])
@pytest.mark.parametrize("status", [412, 500, 502, 503, 504])
def test_passing_refusals_are_retryable(bc, ca, ledger, op, status):
    channel = bot(bc, ca, ledger)
    if op == "reply":
        assert channel.send(message(bc)).ok
    bc.fail_next(status, op=op)
    result = channel.send(message(bc, f.rescheduled_update()))
    assert not result.ok and result.retryable and not result.unknown, result
    assert f"HTTP {status}" in result.detail


@pytest.mark.parametrize("op", ["create", "reply"])
def test_throttling_is_retryable_after_its_retry_after(bc, ca, ledger, op):
    channel = bot(bc, ca, ledger)
    if op == "reply":
        assert channel.send(message(bc)).ok
    bc.fail_next(429, op=op, retry_after=7)
    result = channel.send(message(bc, f.rescheduled_update()))
    assert not result.ok and result.retryable and result.retry_after == 7
    assert "Throttled" in result.detail and "retry after 7 s" in result.detail


@pytest.mark.parametrize(("status", "code", "says"), [
    (401, "BotNotRegistered", "refused the bot's token"),
    (403, "BotNotInConversationRoster", "the bot is not in the team of that channel; install the relay's Teams app"),
    (413, "MessageSizeTooBig", "bigger than Teams takes (28 KB)"),
    (400, "BadArgument", "HTTP 400"),
])
@pytest.mark.parametrize("op", ["create", "reply"])
def test_final_refusals_are_not_retried_and_say_what_to_do(bc, ca, ledger, op, status, code, says):
    channel = bot(bc, ca, ledger)
    if op == "reply":
        assert channel.send(message(bc)).ok
    bc.fail_next(status, op=op)
    result = channel.send(message(bc, f.rescheduled_update()))
    assert not result.ok and not result.retryable, result
    assert code in result.detail and says in result.detail


def test_an_app_removed_from_the_team_is_told_plainly(bc, ca, ledger):
    channel = bot(bc, ca, ledger)
    assert channel.send(message(bc)).ok
    bc.uninstall(CHANNEL)
    for notification in (f.rescheduled_update(), f.complete()):
        result = channel.send(message(bc, notification))
        assert not result.ok and not result.retryable
        assert "BotNotInConversationRoster" in result.detail and "install the relay's Teams app" in result.detail


def test_an_expired_token_is_refused_as_unauthorized(bc, ca, ledger):
    channel = bot(bc, ca, ledger)
    assert channel.send(message(bc)).ok
    bc.expire_tokens()
    result = channel.send(message(bc, f.rescheduled_update()))
    assert not result.ok and not result.retryable and "HTTP 401" in result.detail


def test_a_wrong_client_secret_is_final_and_never_shown(bc, ca, ledger):
    wrong = "Wr0ng~client.secret-value_000"
    channel = from_receiver(bot_receiver(bc), environ={SECRET_ENV: wrong}, threads=ledger,
                            ssl_context=ca.client_context())
    result = channel.send(message(bc))
    assert not result.ok and not result.retryable
    assert "invalid_client" in result.detail and "AADSTS7000215" in result.detail
    assert wrong not in result.detail and bc.operations == []


def test_a_lost_answer_is_unknown_and_retryable(bc, ca, ledger):
    channel = bot(bc, ca, ledger, timeout=0.5)
    bc.lose_next_answer("create")
    result = channel.send(message(bc))
    assert not result.ok and result.retryable and result.unknown
    assert ledger.thread_reference(message(bc).thread_key, RECEIVER) is None


def test_a_create_whose_answer_was_lost_is_sent_again_and_can_leave_a_second_thread(bc, ca, ledger):
    """As with a Workflows webhook: the Connector cannot be asked whether it has the message, so an answer lost
    after the thread was made is sent again by the pipeline's retry, and the channel gets that thread twice. Later
    messages reply in the second one, which the ledger keeps."""
    channel = bot(bc, ca, ledger, timeout=0.5)
    bc.lose_next_answer("create")
    result, attempts = send_once(channel, message(bc), f.sending_relay(ledger, channel))
    assert result.ok and attempts == 2
    first, second = bc.threads(CHANNEL)
    assert ledger.thread_reference(message(bc).thread_key, RECEIVER) == f"{second.id}|{second.root.id}"
    assert channel.send(message(bc, f.rescheduled_update())).ok
    assert (first.replies, len(second.replies)) == ([], 1)


def test_a_message_that_holds_no_card_is_refused_for_good(bc, ca, ledger):
    result = bot(bc, ca, ledger).send(replace(message(bc), body=b'{"text": "plain"}'))
    assert not result.ok and not result.retryable and bc.operations == []


# --- pacing ---


def test_the_limit_is_half_the_documented_windows_per_bot_and_channel(bc, ca, ledger):
    channel = bot(bc, ca, ledger)
    assert channel.limit == RateLimit(destination_key(f"{APP_ID}:{CHANNEL}"), 3 / 1.05,
                                      ((4, 2 * 1.05), (30, 30 * 1.05), (900, 3600 * 1.05)))
    # Two calls a send (a reply and its update): within every documented window, 7 in 1 s, 8 in 2 s, 60 in 30 s,
    # 1,800 in an hour.
    assert bot(bc, ca, ledger, max_per_second="1").limit.per_second == 1
    another = bot(bc, ca, ledger, team_channel="19:0ddba11a5eed4c2b9a8f7e6d5c4b3a29@thread.tacv2")
    assert another.limit.key != channel.limit.key


def test_a_burst_past_the_documented_limits_waits_for_each_retry_after(ca, ledger):
    """The documented windows, twenty times faster: a burst of ten notices to one thread is refused with 429s, and
    the pipeline holds the channel off for each Retry-After before it tries again; every notice gets its reply."""
    with BotConnector(tls=ca, limits=BotLimits(second=0.05)) as bc:
        channel = bot(bc, ca, ledger)
        channel.limit = RateLimit(channel.limit.key, 1000.0)  # no pacing of our own: the Connector's 429s decide
        relay = Relay(ledger=ledger, vms=None, routes=None, channel_for=lambda receiver: channel)
        results = [send_once(channel, message(bc, f.rescheduled_update() if i else f.planned()), relay)[0]
                   for i in range(10)]
        assert all(r.ok for r in results), [r.detail for r in results]
        (thread,) = bc.threads(CHANNEL)
        assert len(thread.replies) == 9
        assert bc.throttled >= 1 and bc.early_retries == 0


def test_paced_sends_are_never_throttled(ca, ledger):
    """At the channel's own pace (here twice as fast, as the Connector's windows are), nothing is refused. Faster
    still, a call's own time on the wire under a loaded machine outgrows the pacing's 5 % margin."""
    with BotConnector(tls=ca, limits=BotLimits(second=0.5)) as bc:
        channel = bot(bc, ca, ledger)
        channel.limit = bot_limit(channel.limit.key, second=0.5)
        relay = Relay(ledger=ledger, vms=None, routes=None, channel_for=lambda receiver: channel)
        for i in range(12):
            assert send_once(channel, message(bc, f.rescheduled_update() if i else f.planned()), relay)[0].ok
        assert bc.throttled == 0


# --- the card ---


def test_the_bot_card_has_an_ack_button_and_a_start_button_per_vm_that_can_be_started(bc, ca, ledger, tmp_path):
    planned = message(bc)
    assert bot(bc, ca, ledger).send(planned).ok
    content = card(bc.threads(CHANNEL)[0].root)
    data = {actions.DATA_THREAD: planned.thread_key, actions.DATA_RECEIVER: RECEIVER}
    ack, *starts = executes(content)
    assert ack == {"type": "Action.Execute", "verb": actions.VERB_ACK, "title": "対応します / I'm on it",
                   "style": "positive", "data": data}
    rows = [r for r in f.planned().enriched.vms if r.state.value in ("start_now", "retry_now")]
    assert [s["verb"] for s in starts] == [actions.VERB_START] * len(rows) and rows
    assert [s["data"] for s in starts] == [{**data, actions.DATA_VM: vm.vm.id} for vm in rows]
    assert [s["title"] for s in starts] == [f"メンテナンスを開始: {vm.vm.name} / Start maintenance: {vm.vm.name}"
                                            for vm in rows]
    assert_cards_valid({"bot": envelope(content)}, tmp_path)


def test_at_most_five_start_buttons(bc, ca, ledger):
    many = f.notification(vms=tuple(f.make_vm(f"vm-{i:02d}", f.MaintenanceState.START_NOW) for i in range(9)))
    assert bot(bc, ca, ledger).send(message(bc, many)).ok
    starts = [e for e in executes(card(bc.threads(CHANNEL)[0].root)) if e["verb"] == actions.VERB_START]
    assert len(starts) == teams_render.TEAMS_MAX_ACTIONS == 5


def test_no_start_buttons_once_there_is_nothing_to_start(bc, ca, ledger):
    assert bot(bc, ca, ledger).send(message(bc, f.complete())).ok
    assert [e["verb"] for e in executes(card(bc.threads(CHANNEL)[0].root))] == [actions.VERB_ACK]


def test_every_kind_of_card_has_the_ack_button_and_validates(bc, ca, ledger, tmp_path):
    cards = {}
    for name, make in f.SCENARIOS.items():
        for language in f.LANGUAGES:
            sent = render(make(), bot_receiver(bc, language=language))
            content = json.loads(sent.body)["attachments"][0]["content"]
            assert [e["verb"] for e in executes(content)][:1] == [actions.VERB_ACK], name
            content = teams_render.with_acknowledgements(content, [SATO, TANAKA], teams_render_langs(language))
            cards[f"{name}-{language}"] = envelope(content)
    assert_cards_valid(cards, tmp_path)


def teams_render_langs(language: str) -> tuple[str, ...]:
    return {"ja": ("ja",), "en": ("en",), "both": ("ja", "en")}[language]


def test_workflows_cards_are_unchanged(bc):
    for transport in ("teams", "outbox"):
        webhook = Receiver("ops-teams", "teams", transport=transport, destination_env="TEAMS_WEBHOOK_URL")
        content = json.loads(render(f.planned(), webhook).body)["attachments"][0]["content"]
        assert executes(content) == [] and content["version"] == "1.5"
        assert not any(e.get("id") == teams_render.ACK_BLOCK for e in elements(content))


def test_the_render_speaks_the_same_verbs_as_the_buttons_endpoint():
    assert (teams_render.ACK_VERB, teams_render.START_VERB, teams_render.VM_DATA) == (
        actions.VERB_ACK, actions.VERB_START, actions.DATA_VM)
    assert teams_render.BOT_TRANSPORT == "teams-bot"


def test_who_is_on_it_is_on_every_card_sent_and_updated(bc, ca, ledger):
    channel = bot(bc, ca, ledger)
    planned = message(bc)
    assert channel.send(planned).ok
    assert not any("対応中" in t for t in texts(envelope(card(bc.threads(CHANNEL)[0].root))))
    ledger.acknowledge(planned.thread_key, RECEIVER, SATO)
    ledger.acknowledge(planned.thread_key, RECEIVER, TANAKA)
    assert channel.send(message(bc, f.rescheduled_update())).ok
    (thread,) = bc.threads(CHANNEL)
    for posted in (thread.root, thread.replies[0]):
        lines = texts(envelope(card(posted)))
        assert "対応中：佐藤 太郎（2/16(月) 9:12 JST）、Aiko *Tanaka*（2/16(月) 9:30 JST）" in lines
        assert "On it: 佐藤 太郎 (Mon 16 Feb 09:12 JST), Aiko *Tanaka* (Mon 16 Feb 09:30 JST)" in lines
    # A name is Teams' text, never markdown: it is a TextRun, which reads none.
    (block,) = [e for e in elements(card(thread.root)) if e.get("id") == teams_render.ACK_BLOCK]
    assert [item["type"] for item in block["items"]] == ["RichTextBlock", "RichTextBlock", "ActionSet"]


def test_who_is_on_it_in_the_receivers_language(bc, ca, ledger):
    channel = bot(bc, ca, ledger)
    ja = from_receiver(bot_receiver(bc, name="ops-ja", language="ja"), environ=environ(bc), threads=ledger,
                       ssl_context=ca.client_context())
    planned = render(f.planned(), bot_receiver(bc, name="ops-ja", language="ja"))
    ledger.acknowledge(planned.thread_key, "ops-ja", SATO)
    assert ja.send(planned).ok
    lines = texts(envelope(card(bc.threads(CHANNEL)[0].root)))
    assert "対応中：佐藤 太郎（2/16(月) 9:12 JST）" in lines and not any(line.startswith("On it") for line in lines)
    assert [e["title"] for e in executes(card(bc.threads(CHANNEL)[0].root))][0] == "対応します"
    assert channel.receiver == RECEIVER  # another receiver: its own acknowledgements, none here


def test_a_card_with_many_people_on_it_stays_within_what_teams_takes(bc, ca, ledger):
    """The largest card the renderer makes, and more people on it than fit: the names that fit, the rest counted,
    and the Connector takes it (it refuses a message over 28 KB with 413)."""
    huge = message(bc, f.ten_thousand())
    people = [Acknowledgement(f"id-{i}", "名" * 200, datetime(2026, 2, 16, tzinfo=UTC) + timedelta(minutes=i))
              for i in range(60)]
    for ack in people:
        ledger.acknowledge(huge.thread_key, RECEIVER, ack)
    channel = bot(bc, ca, ledger)
    assert channel.send(huge).ok and channel.send(message(bc, f.ten_thousand())).ok
    (thread,) = bc.threads(CHANNEL)
    assert thread.root.updates == 1 and len(thread.replies) == 1
    body = json.dumps(thread.root.activity, ensure_ascii=False, separators=(",", ":")).encode()
    assert len(body) <= teams_render.BOT_MAX_BYTES
    lines = " ".join(texts(envelope(card(thread.root))))
    assert "ほか" in lines and "more" in lines
    assert "名" * teams_render.ACK_NAME_LIMIT not in lines  # a name is shortened


def test_a_ledger_that_cannot_say_who_is_on_it_costs_only_those_lines(bc, ca, ledger, caplog, monkeypatch):
    def broken(*args):
        raise OSError("the ledger is away")

    monkeypatch.setattr(ledger, "acknowledgements", broken)
    assert bot(bc, ca, ledger).send(message(bc)).ok
    assert "the card goes without them" in caplog.text


# --- the first card kept, and refreshed with who is on it ---


def ack_lines(posted) -> list[str]:
    return [line for line in texts(envelope(card(posted))) if line.startswith(("対応中", "On it"))]


def without_ack_lines(content: dict) -> dict:
    """The card without who is on it: its ack block holds only its button."""
    body = [{**e, "items": [i for i in e["items"] if i["type"] == "ActionSet"]}
            if e.get("id") == teams_render.ACK_BLOCK else e for e in content["body"]]
    return {**content, "body": body}


def test_the_card_kept_is_the_message_the_first_card_shows_as_rendered(bc, ca, ledger):
    channel = bot(bc, ca, ledger)
    planned, rescheduled, complete = message(bc), message(bc, f.rescheduled_update()), message(bc, f.complete())
    ledger.acknowledge(planned.thread_key, RECEIVER, SATO)  # on the cards sent, never in what is kept
    assert channel.send(planned).ok
    assert ledger.kept_card(planned.thread_key, RECEIVER) == planned.body
    assert channel.send(rescheduled).ok  # the first card updated: it shows this one now
    assert ledger.kept_card(planned.thread_key, RECEIVER) == rescheduled.body
    bc.fail_next(503, op="update")
    assert "not updated" in channel.send(complete).detail  # the first card still shows the Rescheduled one
    assert ledger.kept_card(planned.thread_key, RECEIVER) == rescheduled.body


def test_refresh_puts_the_kept_card_back_with_who_is_on_it_now(bc, ca, ledger):
    channel = bot(bc, ca, ledger)
    planned = message(bc)
    assert channel.send(planned).ok
    (thread,) = bc.threads(CHANNEL)
    ledger.acknowledge(planned.thread_key, RECEIVER, SATO)
    result = channel.refresh(planned.thread_key)
    assert result.ok and result.reference == thread.root.id and "shows who is on it" in result.detail
    assert ack_lines(thread.root) == ["対応中：佐藤 太郎（2/16(月) 9:12 JST）", "On it: 佐藤 太郎 (Mon 16 Feb 09:12 JST)"]
    ledger.acknowledge(planned.thread_key, RECEIVER, TANAKA)
    assert channel.refresh(planned.thread_key).ok
    assert ack_lines(thread.root) == [  # both, in order, once: the card kept has nobody on it
        "対応中：佐藤 太郎（2/16(月) 9:12 JST）、Aiko *Tanaka*（2/16(月) 9:30 JST）",
        "On it: 佐藤 太郎 (Mon 16 Feb 09:12 JST), Aiko *Tanaka* (Mon 16 Feb 09:30 JST)"]
    assert [(o["op"], o["activity_id"]) for o in bc.operations] == [("create", thread.root.id)] + [
        ("update", thread.root.id)] * 2
    assert thread.replies == [] and channel.first_card(planned.thread_key) == card(thread.root)
    # everything but who is on it is the card as the pipeline sent it, its buttons still stamped
    assert without_ack_lines(card(thread.root)) == card(thread.root.versions[0])


def test_refresh_updates_the_thread_started_again(bc, ca, ledger):
    channel = bot(bc, ca, ledger)
    planned = message(bc)
    assert channel.send(planned).ok
    bc.fail_next(404, op="reply", body={"error": {"code": "ActivityNotFoundInConversation", "message": "gone"}})
    rescheduled = message(bc, f.rescheduled_update())
    assert "started a thread" in channel.send(rescheduled).detail
    ledger.acknowledge(planned.thread_key, RECEIVER, SATO)
    assert channel.refresh(planned.thread_key).ok
    first, second = bc.threads(CHANNEL)
    assert first.root.updates == 0 and second.root.updates == 1 and ack_lines(second.root)
    assert texts(envelope(card(second.root)))[0] == texts(envelope(card(second.root.versions[0])))[0]  # Rescheduled


def test_refresh_before_a_thread_or_a_kept_card_fails_for_good(bc, ca, ledger):
    channel = bot(bc, ca, ledger)
    planned = message(bc)
    nothing = channel.refresh(planned.thread_key)
    assert not nothing.ok and not nothing.retryable and "no thread" in nothing.detail
    assert channel.first_card(planned.thread_key) is None
    ledger.remember_thread(planned.thread_key, RECEIVER, f"{CHANNEL};messageid=1700000000001|1700000000001")
    unkept = channel.refresh(planned.thread_key)  # a thread started before cards were kept
    assert not unkept.ok and not unkept.retryable and "no first card kept" in unkept.detail
    assert bc.operations == []


@pytest.mark.parametrize(("status", "retryable"), [(429, True), (503, True), (403, False), (404, False)])
def test_a_refused_refresh_says_so(bc, ca, ledger, status, retryable):
    channel = bot(bc, ca, ledger)
    planned = message(bc)
    assert channel.send(planned).ok
    ledger.acknowledge(planned.thread_key, RECEIVER, SATO)
    bc.fail_next(status, op="update", retry_after=0.5 if status == 429 else None)
    result = channel.refresh(planned.thread_key)
    assert not result.ok and result.retryable is retryable and f"HTTP {status}" in result.detail
    assert "Teams bot refresh" in result.detail and bc.threads(CHANNEL)[0].root.updates == 0
    if status == 429:  # the Retry-After holds the next call off too, a send or a refresh
        held = channel.send(message(bc, f.rescheduled_update()))
        assert not held.ok and held.retryable and 0 < held.retry_after <= 0.5
        assert not channel.refresh(planned.thread_key).ok
        time.sleep(held.retry_after)
    assert channel.refresh(planned.thread_key).ok and bc.threads(CHANNEL)[0].root.updates == 1


def test_a_ledger_that_cannot_keep_the_card_costs_only_the_refresh(bc, ca, ledger, caplog, monkeypatch):
    def broken(*args):
        raise OSError("the ledger is away")

    monkeypatch.setattr(ledger, "keep_card", broken)
    channel = bot(bc, ca, ledger)
    planned = message(bc)
    assert channel.send(planned).ok and channel.send(message(bc, f.rescheduled_update())).ok
    assert "cannot keep the first card" in caplog.text
    assert not channel.refresh(planned.thread_key).ok


# --- setting up ---


def test_the_token_is_the_bots_from_its_tenant_or_its_managed_identity(bc, ca, ledger):
    with_secret = bot(bc, ca, ledger)
    assert isinstance(with_secret.tokens, MsalTokens)
    assert with_secret.tokens.authority == f"{bc.authority}/{TENANT}" and with_secret.tokens.scope == BOT_SCOPE
    assert with_secret.tokens.client_id == APP_ID
    identity = from_receiver(replace(bot_receiver(bc), destination_env=None), environ={}, threads=ledger)
    assert isinstance(identity.tokens, ManagedIdentityTokens)
    assert (identity.tokens.scope, identity.tokens.client_id) == (BOT_SCOPE, APP_ID)  # the identity that is the bot


def test_without_a_secret_the_managed_identity_that_is_the_bot_gets_the_token(bc, ledger, monkeypatch):
    for name, value in bc.identity_environ().items():
        monkeypatch.setenv(name, value)
    channel = from_receiver(replace(bot_receiver(bc), destination_env=None), environ={}, threads=ledger)
    assert channel.send(message(bc)).ok and channel.send(message(bc, f.rescheduled_update())).ok
    assert bc.token_requests == []  # no client secret anywhere
    assert [(r["resource"], r["client_id"]) for r in bc.identity_requests] == [(BOT_RESOURCE, APP_ID)]
    (thread,) = bc.threads(CHANNEL)
    assert len(thread.replies) == 1 and thread.root.updates == 1


def test_a_token_that_cannot_be_had_fails_the_send_as_the_token_says(bc, ledger):
    class NoIdentity:
        def token(self):
            raise TokenFailure("cannot get a token: no managed identity here", retryable=False)

    class EntraDown:
        def token(self):
            raise TokenFailure("cannot get a token: Entra ID answered with a server error", True, 5.0)

    for tokens, retryable in ((NoIdentity(), False), (EntraDown(), True)):
        channel = TeamsBotChannel(bc.service_url, APP_ID, TENANT, CHANNEL, tokens, receiver=RECEIVER, threads=ledger)
        result = channel.send(message(bc))
        assert not result.ok and result.retryable is retryable and result.detail.startswith("Teams bot: cannot get")
    assert bc.operations == []
    identity = from_receiver(replace(bot_receiver(bc), destination_env=None), environ={}, threads=ledger)
    assert "`secret`" in identity.tokens.instead  # what to set where the bot is no managed identity


def test_an_unset_secret_variable_or_a_plain_http_service_url_is_refused_up_front(bc, ledger):
    with pytest.raises(ChannelUnavailable, match=f"environment variable {SECRET_ENV} is not set"):
        from_receiver(bot_receiver(bc), environ={}, threads=ledger)
    with pytest.raises(ChannelUnavailable, match="the URL in service_url must start with https://"):
        from_receiver(bot_receiver(bc, service_url="http://smba.example/teams/"), environ=environ(bc), threads=ledger)
    with pytest.raises(ChannelUnavailable, match="not set"):
        check_destination(bot_receiver(bc), {})
    check_destination(bot_receiver(bc), environ(bc))
    with pytest.raises(ValueError, match="ThreadStore"):
        from_receiver(bot_receiver(bc), environ=environ(bc), threads=None)


def test_channel_for_builds_the_bot_with_the_ledger(bc, ledger, tmp_path):
    channel = channel_for(bot_receiver(bc), tmp_path, ledger, environ(bc))
    assert isinstance(channel, TeamsBotChannel) and channel.receiver == RECEIVER


# --- secrets ---


def test_neither_the_token_nor_the_client_secret_reaches_a_result_or_a_log(bc, ca, ledger, caplog):
    caplog.set_level(logging.DEBUG)
    channel = bot(bc, ca, ledger, timeout=0.5)
    details = [channel.send(message(bc)).detail]
    token = channel.tokens.token()
    echo = {"error": {"code": token, "message": f"Bearer {token} {bc.client_secret}"}}
    for op, status in (("reply", 401), ("reply", 503), ("update", 403), ("reply", 429)):
        bc.fail_next(status, op=op, body=echo, retry_after=1)
        details.append(channel.send(message(bc, f.rescheduled_update())).detail)
    bc.lose_next_answer("reply")
    details.append(channel.send(message(bc, f.complete())).detail)
    everything = "\n".join(details) + caplog.text
    assert token not in everything and bc.client_secret not in everything
    assert "HTTP 401" in details[1] and "first card was not updated" in details[3]
