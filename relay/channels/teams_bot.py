"""Teams through a bot in a channel (transport "teams-bot"): one thread an event, its first card kept current.

The first message of an event starts a conversation (a thread) in the configured channel with its card, and the
ledger keeps "<conversation id>|<first card's activity id>" (relay.channels.ThreadStore), as Slack's bot keeps a
ts. Each later message of the event (news, a reminder, a held message released) is a reply in that thread, then
the first card is updated in place (PUT) to the same card, so that the channel's list shows the event as it is
now without opening the thread. The reply is what counts: when the update fails the message is still delivered
(the result says so), and the next message updates the first card again. A thread that is gone (deleted, or its
first message) is started again; the ledger keeps the first reference given for a key, so the new one is kept as
the event's next generation ("<thread key> #2", …), and the newest generation is the thread.

    POST {service_url}v3/conversations                                  Create Conversation → {id, activityId}
    POST {service_url}v3/conversations/{conversation}/activities/{root}   Reply to Activity
    PUT  {service_url}v3/conversations/{conversation}/activities/{root}   Update Activity

The bodies are the Microsoft 365 Agents SDK's activity schema (microsoft-agents-activity); the calls are the
relay's own synchronous HTTP (relay.channels.http), so an answer maps to a SendResult as every channel's does: 429
with its Retry-After, 412 and 5xx retryable, no answer `unknown` (and retried, as a webhook is: a create whose
answer was lost may leave a second thread, as a Workflows webhook may post a card twice), 401/403/413 final.
The token is the bot's, for https://api.botframework.com/.default: with the client secret of its app
registration (`secret`: the variable that holds it) through msal, else the managed identity that is the bot
(its client id is the bot's app id), as relay.channels.graph gets Graph's.

The card is the Teams renderer's (relay.render.teams), which adds the bot's buttons for a bot receiver; each send
fills in who is on the event (the ledger's acknowledgements) and stamps every button with the thread and the
receiver it belongs to (relay.channels.teams_actions), which POST /api/messages reads when one is pressed.

The ledger keeps the message the first card shows (as rendered, without who is on it: CardStore.keep_card) once the
thread is started with it or the first card is updated to it. `refresh` puts that card back with who is on the
event now: what POST /api/messages has done (through the hosts) once someone new says they are on it.
"""
from __future__ import annotations

import json
import logging
import ssl
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, cast
from urllib.parse import quote

from microsoft_agents.activity import (
    Activity,
    ActivityTypes,
    Attachment,
    ChannelAccount,
    ConversationParameters,
    ConversationResourceResponse,
    ResourceResponse,
)
from microsoft_agents.activity.teams import ChannelInfo, TeamsChannelData

from relay.channels import ChannelUnavailable, RateLimit, ThreadStore, destination_key, http, secret_from
from relay.channels.graph import AUTHORITY, ManagedIdentityTokens, MsalTokens, TokenFailure
from relay.channels.teams_actions import APP_ID, DATA_RECEIVER, DATA_THREAD
from relay.model import Acknowledgement, Message, Receiver, SendResult
from relay.render.markup import LANGUAGES
from relay.render.teams import BOT_CARD_MAX_BYTES, with_acknowledgements

BOT_SCOPE = "https://api.botframework.com/.default"
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
TENANT_ID, TEAM_CHANNEL, SERVICE_URL = "tenant_id", "team_channel", "service_url"  # Receiver.options keys
# Teams limits each bot per thread, where "a conversation is 1:1 between bot and user, a group chat, or a channel in
# a team": Send to conversation and Create conversation each allow 7 in 1 s, 8 in 2 s, 60 in 30 s and 1,800 in an
# hour; and 50 requests a second per app per tenant
# (learn.microsoft.com/microsoftteams/platform/bots/how-to/rate-limit). A reply and its update of the first card are
# two calls on the channel's budget, so a send may take half of each window. The app's 50 a second would take 25
# channels sent to at once at the 1 s window's pace; should it bind, its 429 holds this channel's sends off for its
# Retry-After. `max_per_second` sets another pace within the same windows.
CALL_WINDOWS = ((7, 1.0), (8, 2.0), (60, 30.0), (1800, 3600.0))
CALLS_PER_SEND = 2
GUARD = 1.05  # each window a little longer: a call's time on the wire varies, and Teams counts when calls arrive


def bot_limit(key: str, second: float = 1.0, per_second: float | None = None) -> RateLimit:
    """The documented windows in sends (each two calls), `second` real seconds to a documented one."""
    (first_count, first_seconds), *rest = CALL_WINDOWS
    pace = first_count // CALLS_PER_SEND / (first_seconds * second * GUARD)
    return RateLimit(key, per_second or pace,
                     tuple((count // CALLS_PER_SEND, seconds * second * GUARD) for count, seconds in rest))


MAX_GENERATIONS = 50  # threads of one event started again (each earlier one gone) before they are not looked for
_HINTS = {
    401: "the Bot Connector refused the bot's token; check app_id and tenant_id against the Azure Bot (single"
         " tenant, Microsoft Teams channel on) and its client secret",
    403: "the bot is not in the team of that channel; install the relay's Teams app (relay teams-app) in the team",
    404: "the Bot Connector does not know the channel; check team_channel, service_url, and that the app is"
         " installed in the channel's team",
    413: "the card is bigger than Teams takes (28 KB)",
}

log = logging.getLogger(__name__)


class Tokens(Protocol):
    def token(self) -> str: ...


class CardStore(ThreadStore, Protocol):
    """The ledger as the bot's channel uses it: its threads, who is on them, and the card each first message shows
    (relay.store.Ledger.keep_card)."""

    def keep_card(self, thread_key: str, receiver: str, card: bytes) -> None: ...

    def kept_card(self, thread_key: str, receiver: str) -> bytes | None: ...


class TeamsBotChannel:
    def __init__(self, service_url: str, app_id: str, tenant_id: str, team_channel: str, tokens: Tokens, *,
                 receiver: str, threads: CardStore, langs: tuple[str, ...] = ("ja", "en"),
                 limit: RateLimit | None = None, timeout: float = http.DEFAULT_TIMEOUT,
                 ssl_context: ssl.SSLContext | None = None):
        self.conversations = f"{service_url.rstrip('/')}/v3/conversations"
        self.app_id, self.tenant_id, self.team_channel = app_id, tenant_id, team_channel
        self.tokens = tokens
        self.receiver = receiver
        self.langs = langs
        self.limit = limit
        self.timeout = timeout
        self._threads = threads
        self._ssl = ssl_context
        self._not_before = 0.0  # time.monotonic(): a refused update's Retry-After, which the next send keeps

    def send(self, message: Message) -> SendResult:
        try:
            card, summary = _card_of(message.body)
        except ValueError:
            return SendResult.failed("Teams bot: the message holds no Adaptive Card", retryable=False)
        if held := self._held_off("Teams bot"):  # the pipeline waits, and other sends to it with it
            return held
        try:
            token = self.tokens.token()
        except TokenFailure as e:
            return SendResult.failed(f"Teams bot: {e.detail}", e.retryable, e.retry_after)
        activity = self._activity(card, summary, message.thread_key)
        generation, reference = self._kept(message.thread_key)
        thread = _thread(reference)
        if reference is not None and thread is None:
            log.warning("the Teams thread kept for %s to %s cannot be read; starting another", message.thread_key,
                        self.receiver)
        if thread is None:
            return self._start(activity, message, token, generation + (reference is not None))
        conversation, root = thread
        replied = self._call("POST", self._activity_url(conversation, root), _wire(activity), token, "reply")
        if isinstance(replied, SendResult):
            return replied
        if replied.status == 404:  # the thread, or its first message, was deleted
            code = http.error_code(replied.body, (token,)) or "HTTP 404"
            log.info("the Teams thread of %s for %s is gone (%s); starting another", message.thread_key,
                     self.receiver, code)
            return self._start(activity, message, token, generation + 1, f"the earlier thread is gone ({code}); ")
        if not replied.ok:
            return _refused(replied, token, "reply")
        note = self._update(conversation, root, activity, token, message)
        return SendResult.delivered(f"replied in the thread of {root}; {note}", reference=_id_of(replied.body))

    def _kept(self, thread_key: str) -> tuple[int, str | None]:
        """The event's current thread: its generation (1, or more once a thread was gone and started again) and
        the ledger's reference of it; (1, None) before the first."""
        generation, reference = 1, self._threads.thread_reference(thread_key, self.receiver)
        while reference is not None and generation < MAX_GENERATIONS:
            newer = self._threads.thread_reference(_generation_key(thread_key, generation + 1), self.receiver)
            if newer is None:
                break
            generation, reference = generation + 1, newer
        return generation, reference

    def _start(self, activity: Activity, message: Message, token: str, generation: int = 1,
               note: str = "") -> SendResult:
        thread_key = message.thread_key
        parameters = _wire(ConversationParameters(
            is_group=True, bot=ChannelAccount(id=f"28:{self.app_id}"), tenant_id=self.tenant_id,
            channel_data=TeamsChannelData(channel=ChannelInfo(id=self.team_channel)), activity=activity))
        created = self._call("POST", self.conversations, parameters, token, "create conversation")
        if isinstance(created, SendResult):
            return created
        if not created.ok:
            return _refused(created, token, "create conversation")
        try:
            answer = ConversationResourceResponse.model_validate_json(created.body)
        except ValueError:
            answer = None
        if answer is None or not answer.id or not answer.activity_id:
            log.warning("Teams started a thread for %s to %s without saying which; the next message starts another",
                        thread_key, self.receiver)
            return SendResult.delivered(f"{note}started a thread in the channel; Teams did not say which, so the"
                                        " next message starts another")
        try:
            self._threads.remember_thread(_generation_key(thread_key, generation), self.receiver,
                                          f"{answer.id}|{answer.activity_id}")
        except Exception:  # it is posted: sending it again would post it twice; the next message starts another
            log.exception("cannot keep the Teams thread of %s for %s", thread_key, self.receiver)
            return SendResult.delivered(f"{note}started a thread; it could not be kept, so the next message starts"
                                        " another", reference=answer.activity_id)
        self._keep_card(message)
        return SendResult.delivered(f"{note}started a thread in the channel; later messages reply in it",
                                    reference=answer.activity_id)

    def _update(self, conversation: str, root: str, activity: Activity, token: str, message: Message) -> str:
        """The first card made this one. What went wrong is said, never failed: the reply went out."""
        updated = self._update_first(conversation, root, activity, token, "update")
        if updated.ok:
            self._keep_card(message)
            return "the first card now shows it"
        log.warning("replied in the Teams thread of %s for %s, but its first card was not updated: %s",
                    message.thread_key, self.receiver, updated.detail)
        return f"the first card was not updated ({updated.detail}); the next message updates it"

    def _update_first(self, conversation: str, root: str, activity: Activity, token: str, step: str) -> SendResult:
        """PUT the first card; a refusal's Retry-After holds the next send off too (not this one's to wait for: a
        reply may have gone out)."""
        body = _wire(activity.model_copy(update={"id": root}))
        updated = self._call("PUT", self._activity_url(conversation, root), body, token, step)
        if isinstance(updated, SendResult):
            return updated
        if updated.ok:
            return SendResult.delivered("the first card is updated", reference=root)
        refused = _refused(updated, token, step)
        if refused.retry_after:
            self._not_before = max(self._not_before, time.monotonic() + refused.retry_after)
        return refused

    def _held_off(self, what: str) -> SendResult | None:
        """Failed, retryable, while a refused update's Retry-After lasts."""
        if (wait := self._not_before - time.monotonic()) > 0:
            return SendResult.failed(f"{what}: the Connector asked for {wait:.3g} s more when it refused the last"
                                     " update of a first card", retryable=True, retry_after=wait)
        return None

    def _keep_card(self, message: Message) -> None:
        """Keep the message the first card shows now, as rendered, for `refresh`. Not kept, the next message's update
        of the first card keeps its own; until then a refresh puts back the card kept before."""
        try:
            self._threads.keep_card(message.thread_key, self.receiver, message.body)
        except Exception:
            log.exception("cannot keep the first card of %s for %s", message.thread_key, self.receiver)

    def refresh(self, thread_key: str) -> SendResult:
        """Update the thread's first card to the card kept for it with who is on the event now (the ledger's
        acknowledgements): one call, to be paced as a send is (`limit`). Failed, and not retryable, before the thread
        was started or while no card is kept for it; a refused update's Retry-After holds the next send off too."""
        if held := self._held_off("Teams bot refresh"):
            return held
        try:
            thread = _thread(self._kept(thread_key)[1])
            activity = self._first_activity(thread_key)
        except Exception as e:  # the ledger's storage
            log.error("cannot read the first card of %s for %s: %s", thread_key, self.receiver, type(e).__name__)
            return SendResult.failed(f"Teams bot refresh: the ledger could not be read ({type(e).__name__})",
                                     retryable=True)
        if thread is None:
            return SendResult.failed("Teams bot refresh: no thread of this event in the channel", retryable=False)
        if activity is None:
            return SendResult.failed("Teams bot refresh: no first card kept for this event; the next message updates"
                                     " it", retryable=False)
        try:
            token = self.tokens.token()
        except TokenFailure as e:
            return SendResult.failed(f"Teams bot: {e.detail}", e.retryable, e.retry_after)
        updated = self._update_first(*thread, activity, token, "refresh")
        if updated.ok:
            return SendResult.delivered("the first card now shows who is on it", reference=updated.reference)
        return updated

    def first_card(self, thread_key: str) -> dict[str, Any] | None:
        """The thread's first card as `refresh` makes it now (the card kept, with who is on the event and its buttons
        stamped); None while no card is kept for it."""
        activity = self._first_activity(thread_key)
        if activity is None or not activity.attachments:
            return None
        content = activity.attachments[0].content
        return content if isinstance(content, dict) else None

    def _first_activity(self, thread_key: str) -> Activity | None:
        kept = self._threads.kept_card(thread_key, self.receiver)
        if kept is None:
            return None
        try:
            card, summary = _card_of(kept)
        except ValueError:
            log.warning("the first card kept for %s to %s holds no Adaptive Card", thread_key, self.receiver)
            return None
        return self._activity(card, summary, thread_key)

    def _activity(self, card: dict[str, Any], summary: str | None, thread_key: str) -> Activity:
        room = BOT_CARD_MAX_BYTES - len((summary or "").encode())  # the summary goes in the same activity
        card = bot_card(card, thread_key=thread_key, receiver=self.receiver,
                        acks=self._acknowledgements(thread_key), langs=self.langs, max_bytes=room)
        attachments = [Attachment(content_type=ADAPTIVE_CARD, content=card)]
        if summary:  # what a notification of the message shows
            return Activity(type=ActivityTypes.message, summary=summary, attachments=attachments)
        return Activity(type=ActivityTypes.message, attachments=attachments)

    def _acknowledgements(self, thread_key: str) -> list[Acknowledgement]:
        """Who is on the event. Not read, the card goes without them: the next message shows them."""
        try:
            return list(self._threads.acknowledgements(thread_key, self.receiver))
        except Exception:
            log.exception("cannot read who is on %s for %s; the card goes without them", thread_key, self.receiver)
            return []

    def _activity_url(self, conversation: str, activity_id: str) -> str:
        return f"{self.conversations}/{quote(conversation, safe='')}/activities/{quote(activity_id, safe='')}"

    def _call(self, method: str, url: str, body: dict[str, Any], token: str, step: str) -> http.Response | SendResult:
        """The Connector's answer, or the SendResult of no answer."""
        headers = {"Content-Type": "application/json; charset=utf-8", "Authorization": f"Bearer {token}"}
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        call = http.post if method == "POST" else http.put
        try:
            return call(url, data, headers, timeout=self.timeout, context=self._ssl)
        except http.NETWORK_ERRORS as e:
            return http.network_failure(e, f"Teams bot {step}")


def bot_card(card: dict[str, Any], *, thread_key: str, receiver: str, acks: Sequence[Acknowledgement],
             langs: tuple[str, ...], max_bytes: int = BOT_CARD_MAX_BYTES) -> dict[str, Any]:
    """The card as the bot posts it: who is on the event (as many as fit in `max_bytes`), and each button stamped
    with the thread and receiver it belongs to."""
    stamped = _stamped(card, {DATA_THREAD: thread_key, DATA_RECEIVER: receiver})
    return with_acknowledgements(stamped, acks, langs, max_bytes)


def _stamped(node: Any, stamp: dict[str, str]) -> Any:
    if isinstance(node, list):
        return [_stamped(item, stamp) for item in node]
    if not isinstance(node, dict):
        return node
    copy = {key: _stamped(value, stamp) for key, value in node.items()}
    if copy.get("type") == "Action.Execute":
        copy["data"] = {**(copy.get("data") or {}), **stamp}
    return copy


def _card_of(body: bytes) -> tuple[dict[str, Any], str | None]:
    """The Adaptive Card of the renderer's message, and its summary."""
    envelope = json.loads(body)
    attachment = envelope["attachments"][0] if isinstance(envelope, dict) and envelope.get("attachments") else None
    if not isinstance(attachment, dict) or attachment.get("contentType") != ADAPTIVE_CARD:
        raise ValueError("no Adaptive Card")
    card = attachment.get("content")
    if not isinstance(card, dict) or card.get("type") != "AdaptiveCard":
        raise ValueError("no Adaptive Card")
    summary = envelope.get("summary")
    return card, summary if isinstance(summary, str) else None


def _wire(model: Any) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def _generation_key(thread_key: str, generation: int) -> str:
    """Where the ledger keeps the event's thread of this generation: the ledger keeps the first reference it is
    given for a key, so a thread started again (the earlier one gone) is kept under a key of its own."""
    return thread_key if generation <= 1 else f"{thread_key} #{generation}"


def _thread(reference: str | None) -> tuple[str, str] | None:
    """(conversation id, first card's activity id) of a kept reference."""
    conversation, _, root = (reference or "").partition("|")
    return (conversation, root) if conversation and root else None


def _id_of(body: bytes) -> str | None:
    try:
        return ResourceResponse.model_validate_json(body).id or None
    except ValueError:
        return None


def _refused(response: http.Response, token: str, step: str) -> SendResult:
    """An error answer: 412 retryable with 429 and 5xx (and their Retry-After), the rest final, with what to do."""
    if response.status == 412:  # PreconditionFailed: Teams documents it as worth a retry
        code = http.error_code(response.body, (token,))
        what = f"Teams bot {step}: {code}" if code else f"Teams bot {step}"
        wait = http.retry_after(http.header(response.headers, "Retry-After"))
        return SendResult.failed(f"{what}: HTTP 412 Precondition Failed", retryable=True, retry_after=wait)
    return http.refused(response, f"Teams bot {step}", (token,), _HINTS)


def destination(receiver: Receiver, environ: Mapping[str, str]) -> str:
    """The client secret in the receiver's `secret` variable ("" without one: the managed identity), once the
    service URL is one the channel may call."""
    http.require_https(receiver.options.get(SERVICE_URL, "").strip(), receiver.name, "service_url")
    return secret_from(receiver, environ) if receiver.destination_env else ""


def from_receiver(receiver: Receiver, *, environ: Mapping[str, str], threads: ThreadStore | None = None,
                  timeout: float = http.DEFAULT_TIMEOUT, ssl_context: ssl.SSLContext | None = None) -> TeamsBotChannel:
    if threads is None or not callable(getattr(threads, "kept_card", None)):
        raise ValueError("a Teams bot channel needs a ThreadStore that keeps cards (the ledger) to keep its threads")
    options = receiver.options
    app_id, tenant_id, channel = (options.get(key, "").strip() for key in (APP_ID, TENANT_ID, TEAM_CHANNEL))
    missing = [key for key, value in ((APP_ID, app_id), (TENANT_ID, tenant_id), (TEAM_CHANNEL, channel)) if not value]
    if missing:
        raise ChannelUnavailable(f"receiver {receiver.name!r}: a Teams bot needs {', '.join(missing)}")
    secret = destination(receiver, environ)
    authority = options.get("authority")
    tokens: Tokens
    if secret:
        tokens = MsalTokens(f"{(authority or AUTHORITY).rstrip('/')}/{tenant_id}", app_id, secret, BOT_SCOPE,
                            known_authority=authority is None)
    else:
        tokens = ManagedIdentityTokens(BOT_SCOPE, app_id, instead=(
            "the bot is a managed identity only where that identity is; elsewhere name the variable holding the"
            " client secret of the bot's app registration in the receiver's `secret`"))
    return TeamsBotChannel(options[SERVICE_URL].strip(), app_id, tenant_id, channel, tokens, receiver=receiver.name,
                           threads=cast(CardStore, threads), langs=LANGUAGES.get(receiver.language, ("ja", "en")),
                           limit=bot_limit(destination_key(f"{app_id}:{channel}"),
                                           per_second=float(receiver.options["max_per_second"])
                                           if "max_per_second" in receiver.options else None),
                           timeout=timeout, ssl_context=ssl_context)
