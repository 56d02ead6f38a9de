"""POST /api/messages: the activities the Bot Framework posts to the Teams bot, the same for the Function and for
`relay serve`. The hosts call `authenticate` with the Authorization header before the body is read (relay serve)
or parsed (the Functions host has read it already), then `handle` with the body.

    invoke adaptiveCard/action, verb "ack"    the presser is on it: kept in the ledger (Ledger.acknowledge), once
                                              a person; 200 with a small card saying so and who is on it
    invoke adaptiveCard/action, verbs "start", "start_confirm", "start_cancel"
                                              a VM's self-service maintenance (relay.maintain.from_teams): asks
                                              to confirm; starts it for the people teams_actions allows, or says
                                              why not; 200 with the card that says so
    invoke adaptiveCard/action, other verbs   400, an Adaptive Card error ({"code", "message"})
    other invokes                             501, as the Bot Framework SDK answers an invoke it does not handle
    anything else (conversationUpdate, message …)   200, nothing done

Refusals: 401/403 for the token (relay.auth.botframework), 503 when its keys cannot be fetched (the Bot Framework
retries), 400 (problem details) for a body that is not an activity, 413 past MAX_BYTES. An invoke's answer is
what Teams shows the presser: {"statusCode", "type", "value"} (AdaptiveCardInvokeResponse).

A button's data names its thread and receiver (relay.channels.teams_actions). `update_card(thread_key,
receiver)`, when given, is called after a new acknowledgement: the Teams bot channel's hook to update the
thread's first card for everyone (the hosts make it with `card_refresher`). When it gives back the card as
refreshed, that card is the answer too, so that the presser sees it at once (Universal Actions show the presser the
invoke's card); else the small card. Every press is logged: who (name, Entra object id), what, when and the result;
never the token.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from relay.auth import SettingsError
from relay.channels.teams_actions import (
    DATA_RECEIVER,
    DATA_THREAD,
    DATA_VM,
    VERB_ACK,
    VERB_START,
    VERB_START_CANCEL,
    VERB_START_CONFIRM,
    bot_app_id,
)
from relay.hosts.intake import Reply, problem, token_refusal
from relay.model import Acknowledgement, Receiver
from relay.render.markup import LANGUAGES, macros, no_card_functions
from relay.text import one_line, shorten

if TYPE_CHECKING:
    from relay.auth.botframework import BotFrameworkCheck, BotVerdict
    from relay.config import AzureSettings, Config
    from relay.config.actions import TeamsActions
    from relay.maintain.from_teams import TeamsUser
    from relay.maintain.member_groups import MemberGroups
    from relay.pipeline import Relay
    from relay.store import Ledger

log = logging.getLogger("relay.messages")

MESSAGES = "/api/messages"
MAX_BYTES = 256 * 1024  # far more than an activity needs
ACTION = "adaptiveCard/action"
CARD = "application/vnd.microsoft.card.adaptive"
ERROR = "application/vnd.microsoft.error"
NAME_LIMIT = 100  # characters of a person's name in a card or a log line
MAX_PROBLEMS = 10  # validation errors listed in a 400

# (thread key, receiver name): refresh that thread's card for everyone; the card as refreshed, or None
UpdateCard = Callable[[str, str], dict[str, Any] | None]
REFRESH_SECONDS = 3.0  # waited for the card's refresh before answering the press without it: Teams waits only seconds


@dataclass(frozen=True)
class BotReply(Reply):
    """An answer the Bot Framework reads: JSON whatever its status (an invoke error has its own shape), or none."""

    empty: bool = False

    @property
    def content_type(self) -> str:
        return "application/json"

    def encoded(self) -> bytes:
        return b"" if self.empty else super().encoded()


NOTHING = BotReply(200, {}, empty=True)


class _Quiet(logging.Filter):
    """The activity schema logs each activity it cannot validate at ERROR, with a traceback that quotes the body,
    and the caller says why it refused it anyway: that record becomes one line at DEBUG, without the body."""

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Validation error for Activity"):
            error = record.args[0] if isinstance(record.args, tuple) and record.args else None
            count = error.error_count() if hasattr(error, "error_count") else 0
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            record.msg, record.args = "an activity did not validate: %d problem(s)", (count,)
            record.exc_info = record.exc_text = None
        return True


logging.getLogger("microsoft_agents.activity.activity").addFilter(_Quiet())


class Messages:
    """`check` gives the token check (None: no bot is configured; raises SettingsError when its settings are
    wrong); `ledger` the ledger, on first use; `bots` the bot receivers by name."""

    def __init__(self, check: Callable[[], BotFrameworkCheck | None], ledger: Callable[[], Ledger],
                 bots: Mapping[str, Receiver], clock: Callable[[], datetime], update_card: UpdateCard | None = None,
                 starting: Starting | None = None):
        self._check, self._ledger, self.bots, self._clock = check, ledger, bots, clock
        self.update_card, self.starting = update_card, starting

    def __call__(self, authorization: str | None, body: bytes) -> Reply:
        verdict = self.authenticate(authorization)
        return verdict if isinstance(verdict, Reply) else self.handle(verdict, body)

    def authenticate(self, authorization: str | None) -> Reply | BotVerdict:
        """The accepted token's verdict, or the refusal to send without reading (or parsing) the body."""
        try:
            check = self._check()
        except SettingsError as e:
            log.error("activity refused: the bot settings cannot be used: %s", e)
            return problem(503, "Bot misconfigured", f"The bot settings cannot be used: {e}.")
        if check is None:
            return problem(404, "Not found", "No receiver of the config is a Teams bot.")
        verdict = check.check(authorization)
        return verdict if verdict.ok else _refusal(verdict)

    def handle(self, verdict: BotVerdict, body: bytes) -> Reply:
        """One activity, its token accepted: checked against the token, then done."""
        from relay.auth.botframework import BotFrameworkCheck

        if len(body) > MAX_BYTES:
            return problem(413, "Payload too large", f"The body is {len(body)} bytes; at most {MAX_BYTES} are read.")
        activity = _parse(body)
        if isinstance(activity, Reply):
            return activity
        checked = BotFrameworkCheck.check_activity(verdict, activity.service_url, _channel(activity))
        if not checked.ok:
            return _refusal(checked)
        if activity.type != "invoke":
            log.debug("%s activity: nothing to do", one_line(str(activity.type))[:40])
            return NOTHING
        if activity.name != ACTION:
            log.info("invoke %s refused (501): not handled", _shown(activity.name or ""))
            return BotReply(501, {}, empty=True)
        return self._action(activity, verdict.app_id)

    # -- Action.Execute

    def _action(self, activity: Any, app_id: str) -> Reply:
        from microsoft_agents.activity import AdaptiveCardInvokeValue
        from pydantic import ValidationError

        now, person = self._clock(), activity.from_property
        who = f"{_shown(person.name or '') or '?'} ({_shown(person.aad_object_id or '') or '?'})" if person else "?"
        try:
            action = AdaptiveCardInvokeValue.model_validate(activity.value).action
        except (ValidationError, ValueError, TypeError):
            return _logged(who, "?", {}, now, _error(400, "BadRequest", "The invoke's value is not an Adaptive Card"
                                                                        " action."))
        data = action.data if isinstance(action.data, dict) else {}
        if action.type != "Action.Execute":
            return _logged(who, "?", data, now, _error(400, "BadRequest", "Only Action.Execute is handled."))
        if action.verb == VERB_ACK:
            return _logged(who, action.verb, data, now, *self._acknowledge(activity, data, app_id, now))
        if action.verb in (VERB_START, VERB_START_CONFIRM, VERB_START_CANCEL):
            return _logged(who, action.verb, data, now, *self._start(activity, action.verb, data, app_id, now))
        return _logged(who, _shown(action.verb or ""), data, now,
                       _error(400, "BadRequest", "This button's action is not one the relay knows."))

    def _acknowledge(self, activity: Any, data: Mapping[str, Any], app_id: str, now: datetime) -> tuple[Reply, str]:
        """The answer, and what was done."""
        thread, receiver = data.get(DATA_THREAD), self.bots.get(str(data.get(DATA_RECEIVER)))
        if not isinstance(thread, str) or not thread or receiver is None:
            return _error(400, "BadRequest", "The button names no event or receiver of this relay."), ""
        if bot_app_id(receiver) != app_id:
            return _error(400, "BadRequest", "The button is not one of this bot's cards."), ""
        person = activity.from_property
        if person is None or not person.aad_object_id:
            return _error(400, "BadRequest", "The press names no Entra ID user."), ""
        try:
            ledger = self._ledger()
            if not ledger.knows_thread(thread):
                return _error(400, "BadRequest", "The relay knows no such event."), ""
            added = ledger.acknowledge(thread, receiver.name, Acknowledgement(person.aad_object_id, person.name or "",
                                                                              now))
            on_it = [ack.name for ack in ledger.acknowledgements(thread, receiver.name)]
        except Exception as e:  # the ledger's storage: Teams shows the presser it failed
            log.error("acknowledgement not kept: %s", type(e).__name__)
            return _error(500, "ServiceUnavailable", "It could not be recorded now; press it again."), ""
        refreshed = None
        if added and self.update_card is not None:
            try:
                refreshed = self.update_card(thread, receiver.name)
            except Exception as e:  # kept in the ledger all the same: the next update of the card shows it
                log.warning("the card of %s for %s was not updated: %s", _shown(thread), receiver.name,
                            type(e).__name__)
        if refreshed is not None:  # the presser sees the first card as everyone now does
            return BotReply(200, _invoke_response(200, CARD, refreshed)), f"recorded ({len(on_it)} on it); card refreshed"
        reply = _card(LANGUAGES.get(receiver.language, LANGUAGES["both"]), "recorded", not added, on_it)
        return reply, f"recorded ({len(on_it)} on it)" if added else f"already on it ({len(on_it)} on it)"

    def _start(self, activity: Any, verb: str, data: Mapping[str, Any], app_id: str, now: datetime) -> tuple[Reply, str]:
        """A start button, or its confirmation: the card to answer with, and what was done."""
        from relay.maintain import from_teams

        thread, receiver = data.get(DATA_THREAD), self.bots.get(str(data.get(DATA_RECEIVER)))
        person, vm = activity.from_property, data.get(DATA_VM)
        if receiver is None or bot_app_id(receiver) != app_id or not isinstance(vm, str):
            return _error(400, "BadRequest", "The button names no VM of this bot's cards."), ""
        if person is None or not person.aad_object_id:
            return _error(400, "BadRequest", "The press names no Entra ID user."), ""
        langs = LANGUAGES.get(receiver.language, LANGUAGES["both"])
        if self.starting is None:
            return _card(langs, "not_available"), "not available: no teams_actions"
        user = from_teams.TeamsUser(person.aad_object_id, person.name or "")
        if verb == VERB_START:
            card, done = from_teams.confirm_card(vm, user, data, langs), "asked to confirm"
        elif verb == VERB_START_CANCEL:
            card, done = from_teams.cancelled_card(vm, user, langs), "cancelled"
        else:
            card, outcome = self.starting.start(vm, user, thread if isinstance(thread, str) else None, langs, now)
            done = outcome.result
        return BotReply(200, _invoke_response(200, CARD, card)), done


def _logged(who: str, verb: str, data: Mapping[str, Any], now: datetime, reply: Reply, done: str = "") -> Reply:
    """The press, logged: who, what, when and how it went (the message Teams shows, for a refusal)."""
    result = done if reply.status == 200 else str(reply.body.get("value", {}).get("message", ""))
    thread, receiver = data.get(DATA_THREAD), data.get(DATA_RECEIVER)
    log.log(logging.INFO if reply.status == 200 else logging.WARNING, "teams action %s by %s on %s for %s at %s → %d %s",
            verb, who, _shown(thread) if isinstance(thread, str) else "?",
            _shown(receiver) if isinstance(receiver, str) else "?", now.isoformat(timespec="seconds"), reply.status,
            result)
    return reply


def _parse(body: bytes) -> Any:
    """The activity, or the 400 that says why the body is none."""
    from microsoft_agents.activity import Activity
    from pydantic import ValidationError

    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return _bad_body("The body is not JSON in UTF-8.")
    if not isinstance(data, dict):
        return _bad_body("The body is not a JSON object.")
    try:
        return Activity.model_validate(data)
    except ValidationError as e:
        errors = [{"path": "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"]),
                   "detail": error["msg"]} for error in e.errors()[:MAX_PROBLEMS]]
        return _bad_body(f"{e.error_count()} problem(s) in the activity.", errors)
    except Exception:  # the schema's own checks raise bare exceptions
        return _bad_body("The activity is not consistent.")


def _bad_body(detail: str, errors: list[dict] | None = None) -> Reply:
    log.warning("activity refused (400): %s", detail)
    extra = {"errors": errors} if errors else {}
    return problem(400, "Invalid activity", detail, **extra)


def _refusal(verdict: BotVerdict) -> Reply:
    log.warning("activity refused (%d): %s", verdict.status, verdict.reason)
    return token_refusal(verdict, "Bot Framework")


def _error(status: int, code: str, message: str) -> BotReply:
    """An invoke's error, as Teams reads it (AdaptiveCardInvokeResponse of type application/vnd.microsoft.error)."""
    return BotReply(status, _invoke_response(status, ERROR, {"code": code, "message": message}))


def _card(langs: tuple[str, ...], what: str, again: bool = False, on_it: list[str] | None = None) -> BotReply:
    """A small card in the receiver's languages: our own words in TextBlocks, the names in a TextRun."""
    words = macros("text", "teams/action.j2")
    say = (lambda lang: words.recorded(lang, again)) if what == "recorded" else words.not_available
    body: list[dict] = [{"type": "TextBlock", "text": " / ".join(str(say(lang)).strip() for lang in langs),
                         "wrap": True, "weight": "Bolder"}]
    if on_it:
        title = " / ".join(str(words.on_it(lang)).strip() for lang in langs)
        names = ", ".join(no_card_functions(shorten(one_line(name), NAME_LIMIT)) for name in on_it)
        body.append({"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": f"{title}: ", "weight": "Bolder"},
                                                          {"type": "TextRun", "text": names}]})
    card = {"type": "AdaptiveCard", "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "version": "1.4", "body": body}
    return BotReply(200, _invoke_response(200, CARD, card))


def _invoke_response(status: int, kind: str, value: dict) -> dict:
    from microsoft_agents.activity import AdaptiveCardInvokeResponse

    return AdaptiveCardInvokeResponse(status_code=status, type=kind, value=value).model_dump(
        mode="json", by_alias=True, exclude_none=True)


def _channel(activity: Any) -> str | None:
    """The activity's channelId without a sub-channel ("msteams")."""
    return activity.channel_id.channel if activity.channel_id is not None else None


def _shown(text: str) -> str:
    """Text from an activity as a log line may show it: one line, control characters escaped, cut short."""
    return repr(shorten(one_line(text), NAME_LIMIT))[1:-1]


def bot_messages(receivers: Mapping[str, Receiver], check: Callable[[], BotFrameworkCheck | None],
                 ledger: Callable[[], Ledger], clock: Callable[[], datetime],
                 update_card: UpdateCard | None = None, starting: Starting | None = None) -> Messages:
    """The endpoint for the config's bot receivers (those whose options carry the bot's app id)."""
    bots = {name: r for name, r in receivers.items() if bot_app_id(r)}
    return Messages(check, ledger, bots, clock, update_card, starting)


class Starting:
    """What a start button needs, from the host: the relay (its notices go through the pipeline into the thread),
    the config's azure: settings and teams_actions, and Microsoft Graph signed in as the relay, made on first use."""

    def __init__(self, relay: Callable[[], Relay], settings: AzureSettings, actions: TeamsActions,
                 environ: Mapping[str, str], graph: MemberGroups | None = None, connection_verify: str | None = None):
        self._relay, self.settings, self.actions, self._environ = relay, settings, actions, environ
        self._graph, self._verify = graph, connection_verify  # a CA bundle for Azure's certificates (relay.maintain.run)

    def start(self, vm: str, user: TeamsUser, thread: str | None, langs: tuple[str, ...], now: datetime):
        from relay.maintain.from_teams import start_from_teams
        from relay.maintain.member_groups import member_groups

        if self._graph is None:
            self._graph = member_groups(self.actions, self._environ)
        return start_from_teams(vm, user, thread, self._relay(), self.settings, self.actions.start_maintenance,
                                self._graph, langs=langs, now=now, connection_verify=self._verify)


def starting_for(config: Config, relay: Callable[[], Relay], environ: Mapping[str, str]) -> Starting | None:
    """The start buttons' collaborators when the config lets someone start maintenance; None: nobody may."""
    from relay.config import AzureSettings

    if not config.teams_actions.start_maintenance:
        return None
    return Starting(relay, config.azure or AzureSettings(), config.teams_actions, environ)


def card_refresher(relay: Callable[[], Relay], wait: float = REFRESH_SECONDS) -> UpdateCard:
    """The hosts' `update_card`: the receiver's channel (the relay's) refreshes the thread's first card when it is the
    Teams bot's, on the receiver's lane after what is being sent to it, and paced as a send is. The card as refreshed,
    or None: not refreshed, or not within `wait` seconds (the refresh still runs)."""

    def update_card(thread_key: str, receiver_name: str) -> dict[str, Any] | None:
        from relay.channels.pacing import HeldOff
        from relay.channels.teams_bot import TeamsBotChannel

        run = relay()
        receiver = next((r.receiver for r in run.routes if r.receiver.name == receiver_name), None)
        channel = run.channel_for(receiver) if receiver is not None else None
        if not isinstance(channel, TeamsBotChannel):
            return None
        bot, pacer = channel, run.pacer

        def refresh() -> dict[str, Any] | None:
            try:
                if pacer is not None:
                    pacer.wait(bot.limit, most=run.budget_seconds)
            except HeldOff as held:
                log.warning("the card of %s for %s was not refreshed: its channel is held off for %.0f s more",
                            _shown(thread_key), receiver_name, held.seconds)
                return None
            result = bot.refresh(thread_key)
            if result.retry_after and pacer is not None:
                pacer.hold_off(bot.limit, result.retry_after)
            if not result.ok:
                log.warning("the card of %s for %s was not refreshed: %s", _shown(thread_key), receiver_name,
                            result.detail)
                return None
            return bot.first_card(thread_key)

        try:
            return run.lanes.submit(receiver_name, refresh).result(timeout=wait)
        except TimeoutError:  # concurrent.futures' since 3.11
            log.info("the card of %s for %s is refreshed after the answer: its lane is busy", _shown(thread_key),
                     receiver_name)
            return None

    return update_card
