"""Start maintenance from a Teams card: a VM's start button on the bot's card in a maintenance's thread, for the
people the config allows (teams_actions.start_maintenance), with the relay's own Azure identity.

The dispatcher (POST /api/messages, relay.hosts.messages) calls, for a press of

    VERB_START          confirm_card(vm_id, user, data, langs) -> card
                        asks first: "vm-web-01 のメンテナンスを今すぐ開始しますか？ VM は再起動されます。" with the
                        buttons VERB_START_CONFIRM and VERB_START_CANCEL, whose data carry the VM and the
                        thread and receiver of the pressed button (relay.channels.teams_actions)
    VERB_START_CONFIRM  start_from_teams(vm_id, user, thread_key, relay, settings, rules, graph, langs=…)
                        -> (card, Outcome)
    VERB_START_CANCEL   cancelled_card(vm_id, user, langs) -> card

and answers the invoke with the card (AdaptiveCardInvokeResponse, type application/vnd.microsoft.card.adaptive;
Teams shows it to the presser in place of the card). `user` is (Entra object id, name): the activity's
from.aadObjectId and from.name. `langs` are the receiver's languages (relay.render.markup.LANGUAGES).

start_from_teams, in order:
  1. the user's groups, asked of Microsoft Graph with the relay's own identity (MemberGroups):
     POST {graph_url}/v1.0/users/{id}/checkMemberGroups {"groupIds": [the groups the rules name]}, 20 at a time.
     The app needs the Graph application permissions User.Read.All and GroupMember.Read.All, or Directory.Read.All,
     with admin consent (learn.microsoft.com/graph/api/directoryobject-checkmembergroups, "Group memberships for
     a user"). Nested groups count: the function is transitive;
  2. relay.maintain.allowed.may_start: one of their groups may start VMs where this one is;
  3. in the background (a thread of its own unless `background` is given): relay.maintain.run.start_named for this
     one VM, `by` "name (object id)": its status from Azure; if it is still Start now or Retry now (and not
     deallocated), the started notice, performMaintenance followed to its end, and the finished notice, as
     `relay maintain start --vm` does; else a refused notice that names its status now.
It answers when it knows, or after `answer_within` seconds at most: refused (why), started (the operation is
under way, or already over; the thread hears the outcome), or pending (Azure had not told the VM's status yet;
the thread hears what came of it). A start that Azure fails at once (409, 403: within `answer_within`) answers
refused, with Azure's words; its started and finished notices are in the thread already.

Every press is written to the log (who: name and object id; what: verb and VM; when; the result) and each start or
refusal to the maintenance's thread: the notices (relay.model.SelfServiceRun) go through the pipeline with the
thread's trackingId, so each receiver puts them in the maintenance's thread. A refusal's notice is phase "refused".
The background work outlives the answer: a host that stops meanwhile loses the finished notice (the operation goes
on in Azure); Outcome.wait() waits for it.
"""
from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from relay.channels.teams_actions import (
    DATA_RECEIVER,
    DATA_THREAD,
    DATA_VM,
    VERB_START,
    VERB_START_CANCEL,
    VERB_START_CONFIRM,
)
from relay.config.actions import StartRule
from relay.enrich.arm_ids import vm_from_id
from relay.maintain import run as maintain
from relay.maintain.allowed import Refusal, may_start
from relay.maintain.execute import Outcome as Ended
from relay.maintain.member_groups import GraphUnavailable
from relay.maintain.plan import Plan, Skip
from relay.model import Event, SelfServiceRun, Vm
from relay.notices import notice_event
from relay.render.markup import macros, no_card_functions
from relay.text import one_line, shorten

if TYPE_CHECKING:
    from relay.config import AzureSettings
    from relay.pipeline import Relay

log = logging.getLogger("relay.maintain")

ANSWER_WITHIN_SECONDS = 4.0  # Teams waits a few seconds for an invoke's answer; the thread hears the rest
NAME_LIMIT = 100  # characters of a person's name or object id in a log line or a notice
ID_LIMIT = 400  # characters of a VM's resource id in a log line (a scale set VM's runs past 200)
CARD_VERSION = "1.5"  # Action.Execute: Adaptive Cards 1.4 and later; the bot's cards are 1.5
_TRACKING_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")  # a maintenance's thread key (Event.thread_key)
_SCALE_SET_VM = ("subscriptions", None, "resourcegroups", None, "providers", "microsoft.compute",
                 "virtualmachinescalesets", None, "virtualmachines", None)

Background = Callable[[Callable[[], None]], None]  # runs a job after the answer: a thread, an executor's submit


class TeamsUser(NamedTuple):
    id: str  # Entra object id (the activity's from.aadObjectId)
    name: str  # as Teams shows it

    @property
    def by(self) -> str:
        """Who, in the notices: "name (object id)"."""
        return f"{_shown(self.name) or '?'} ({_shown(self.id) or '?'})"


# --- the cards ----------------------------------------------------------------------------------------------

def confirm_card(vm_id: str, user: TeamsUser | tuple[str, str], data: Mapping[str, Any] | None = None,
                 langs: Sequence[str] = ("ja", "en")) -> dict:
    """The answer to VERB_START: are you sure? Its buttons carry the VM and the pressed button's thread and receiver."""
    user = TeamsUser(*user)
    vm = vm_of(vm_id)
    _log(user, VERB_START, vm_id, datetime.now(UTC), "asked to confirm" if vm else "refused: the button names no VM")
    if vm is None:
        return _refused_card(Refusal.NOT_A_VM, "", None, langs)
    words = macros("text", "teams/action.j2")
    kept = {key: data[key] for key in (DATA_THREAD, DATA_RECEIVER) if data and key in data}
    body = [_line(_words(words.start_question, langs, vm.name, sep="\n"), weight="Bolder")]
    body += [_line(str(words.start_where(vm.resource_group, vm.subscription_id, lang)).strip(), isSubtle=True,
                   spacing="Small") for lang in langs]
    actions = [
        {"type": "Action.Execute", "verb": VERB_START_CONFIRM, "title": _words(words.start_confirm_button, langs),
         "style": "destructive", "data": {**kept, DATA_VM: vm.id}},
        {"type": "Action.Execute", "verb": VERB_START_CANCEL, "title": _words(words.start_cancel_button, langs),
         "data": {**kept, DATA_VM: vm.id}},
    ]
    return _card(body, actions)


def cancelled_card(vm_id: str, user: TeamsUser | tuple[str, str], langs: Sequence[str] = ("ja", "en")) -> dict:
    """The answer to VERB_START_CANCEL: nothing was started."""
    _log(TeamsUser(*user), VERB_START_CANCEL, vm_id, datetime.now(UTC), "cancelled: nothing started")
    words = macros("text", "teams/action.j2")
    vm = vm_of(vm_id)
    return _card([_line(_words(words.start_cancelled, langs), weight="Bolder"), *_vm_line(vm)])


def started_card(vm: Vm, langs: Sequence[str]) -> dict:
    words = macros("text", "teams/action.j2")
    return _card([_line(_words(words.start_started, langs), weight="Bolder"), *_vm_line(vm)])


def pending_card(vm: Vm, langs: Sequence[str]) -> dict:
    words = macros("text", "teams/action.j2")
    return _card([_line(_words(words.start_pending, langs, sep="\n"), weight="Bolder"), *_vm_line(vm)])


def _refused_card(refusal: Refusal, detail: str, vm: Vm | None, langs: Sequence[str]) -> dict:
    words = macros("text", "teams/action.j2")
    why = macros("text", "notices/maintain.j2")
    body = [_line(_words(words.start_refused, langs), weight="Bolder", color="Attention")]
    body += [_line(str(why.refusal(refusal.key, detail, lang)).strip()) for lang in langs]
    return _card(body + _vm_line(vm))


def _card(body: list[dict], actions: list[dict] | None = None) -> dict:
    card = {"type": "AdaptiveCard", "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "version": CARD_VERSION, "body": body}
    return card | ({"actions": actions} if actions else {})


def _line(text: str, **style: Any) -> dict:
    """One line as a TextRun: it may hold a VM's name or Azure's or Graph's words, which must read no markdown."""
    block = {key: style.pop(key) for key in ("spacing", "separator") if key in style}
    return {"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": no_card_functions(text), **style}], **block}


def _vm_line(vm: Vm | None) -> list[dict]:
    if vm is None:
        return []
    return [_line(f"{vm.name} · {vm.resource_group} · {vm.subscription_id}", isSubtle=True, spacing="Small")]


def _words(macro, langs: Sequence[str], *args: Any, sep: str = " / ") -> str:
    return sep.join(str(macro(*args, lang)).strip() for lang in langs)


# --- starting -----------------------------------------------------------------------------------------------

@dataclass
class Outcome:
    """How a press of VERB_START_CONFIRM was answered, and the work it left going on."""

    result: str  # "started", "pending" (Azure had not told the VM's status in time) or "refused"
    refusal: Refusal | None = None
    detail: str = ""  # with a refusal: the VM's state (a Skip value), or what Graph or Azure said
    ran: maintain.Ran | None = None  # the run, once it is over (set by the background work; see wait)
    _jobs: int = 0
    _idle: threading.Condition = field(default_factory=threading.Condition)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the background work (the run, the notices) is over; False if it is not within `timeout`."""
        with self._idle:
            return self._idle.wait_for(lambda: self._jobs == 0, timeout)

    def tracked(self, job: Callable[[], None]) -> Callable[[], None]:
        with self._idle:
            self._jobs += 1

        def tracked_job() -> None:
            try:
                job()
            finally:
                with self._idle:
                    self._jobs -= 1
                    self._idle.notify_all()

        return tracked_job


class _Progress:
    """What the background run has come to, for the answer that waits on it."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.plan: Plan | None = None
        self.ran: maintain.Ran | None = None
        self.over = False
        self.error: str = ""

    def set(self, **values: Any) -> None:
        with self.changed:
            for name, value in values.items():
                setattr(self, name, value)
            self.changed.notify_all()

    def wait(self, until: Callable[[], bool], deadline: float) -> None:
        with self.changed:
            self.changed.wait_for(until, max(0.0, deadline - time.monotonic()))


def start_from_teams(vm_id: str, user: TeamsUser | tuple[str, str], thread_key: str | None, relay: Relay,
                     settings: AzureSettings, rules: Sequence[StartRule],
                     graph: Callable[[str, Sequence[str]], set[str]], *, langs: Sequence[str] = ("ja", "en"),
                     now: datetime | None = None, answer_within: float = ANSWER_WITHIN_SECONDS,
                     timeout: float = maintain.DEFAULT_TIMEOUT_SECONDS, background: Background | None = None,
                     connection_verify: str | None = None) -> tuple[dict, Outcome]:
    """The answer to VERB_START_CONFIRM (see the module's docstring): the card to show the presser, and the outcome.
    `thread_key`: the pressed card's thread (the maintenance's trackingId); `relay`: the pipeline the notices go
    through; `settings`: the config's azure: section; `rules`: config.teams_actions.start_maintenance; `graph`: a
    MemberGroups (raises GraphUnavailable); `now`: the time of the press (default: the clock); `timeout`: seconds
    to follow the operation; `connection_verify`: a CA bundle for Azure's certificates (relay.maintain.run)."""
    began = time.monotonic()
    at = now or datetime.now(UTC)
    user = TeamsUser(*user)
    vm = vm_of(vm_id)
    tracking_id = thread_key.upper() if thread_key and _TRACKING_ID.match(thread_key) else None
    tell = maintain.through(relay, lambda receiver, detail: log.warning(
        "start maintenance notice not delivered to %s: %s", receiver, detail))
    work = background or _thread

    def told(refusal: Refusal, detail: str) -> None:
        """The refusal's notice, timed when it is sent: a notice older than the thread's newest is not told."""
        tell(refused_notice(user, vm, vm_id, refusal, detail, tracking_id,
                            at + timedelta(seconds=time.monotonic() - began)))

    def refuse(refusal: Refusal, detail: str = "") -> tuple[dict, Outcome]:
        outcome = Outcome("refused", refusal, detail)
        work(outcome.tracked(lambda: told(refusal, detail)))
        _log(user, VERB_START_CONFIRM, vm_id, at, f"refused: {refusal.value}" + (f" ({detail})" if detail else ""))
        return _refused_card(refusal, detail, vm, langs), outcome

    if vm is None:
        return refuse(Refusal.NOT_A_VM)
    if not rules:
        return refuse(Refusal.NOBODY)
    try:
        groups = graph(user.id, tuple(dict.fromkeys(rule.group for rule in rules)))
    except GraphUnavailable as e:
        return refuse(Refusal.GRAPH, e.detail)
    if (why := may_start(groups, vm, rules)) is not None:
        return refuse(why)

    progress = _Progress()

    def go(plan: Plan) -> bool:
        progress.set(plan=plan)
        if not plan.chosen:
            skip = plan.skipped[0].reason.value if plan.skipped else Skip.UNKNOWN.value
            told(Refusal.NOT_STARTABLE, skip)
        return bool(plan.chosen)

    def job() -> None:
        try:
            _, ran = maintain.start_named(settings, [vm.id], go=go, by=user.by, tracking_id=tracking_id,
                                          max_parallel=1, tell=tell, now=at, timeout=timeout,
                                          progress=lambda line: log.info("start maintenance: %s", line.strip()),
                                          connection_verify=connection_verify)
        except Exception as e:  # noqa: BLE001 - the presser and the thread hear it; the host goes on
            progress.set(over=True, error=type(e).__name__)
            log.error("start maintenance of %s by %s failed: %s", _shown(vm.id, ID_LIMIT), user.by, type(e).__name__)
            if progress.plan is None:
                told(Refusal.AZURE, type(e).__name__)
            return
        outcome.ran = ran
        progress.set(ran=ran, over=True)
        if ran is not None:
            _log(user, VERB_START_CONFIRM, vm_id, datetime.now(UTC), _ended(ran))

    outcome = Outcome("pending")
    work(outcome.tracked(job))
    deadline = began + answer_within
    progress.wait(lambda: progress.plan is not None or progress.over, deadline)
    plan = progress.plan
    if plan is not None and plan.chosen:
        progress.wait(lambda: progress.over, deadline)
    if progress.error:
        outcome.result, outcome.refusal, outcome.detail = "refused", Refusal.AZURE, progress.error
    elif plan is not None and not plan.chosen:
        skip = plan.skipped[0].reason.value if plan.skipped else Skip.UNKNOWN.value
        outcome.result, outcome.refusal, outcome.detail = "refused", Refusal.NOT_STARTABLE, skip
    elif progress.ran is not None and progress.ran.results and all(
            r.outcome is Ended.FAILED for r in progress.ran.results):
        outcome.result, outcome.refusal = "refused", Refusal.AZURE
        outcome.detail = "; ".join(r.message for r in progress.ran.results if r.message)
    elif plan is not None:
        outcome.result = "started"
    if outcome.refusal is not None:
        _log(user, VERB_START_CONFIRM, vm_id, at, f"refused: {outcome.refusal.value}"
             + (f" ({outcome.detail})" if outcome.detail else ""))
        return _refused_card(outcome.refusal, outcome.detail, vm, langs), outcome
    _log(user, VERB_START_CONFIRM, vm_id, at, "started" if outcome.result == "started"
         else "accepted: the VM's status is not known yet")
    return (started_card if outcome.result == "started" else pending_card)(vm, langs), outcome


def refused_notice(user: TeamsUser, vm: Vm | None, vm_id: str, refusal: Refusal, detail: str,
                   tracking_id: str | None, at: datetime) -> Event:
    """The thread's notice of a start from Teams that was not done (SelfServiceRun, phase "refused")."""
    notice = SelfServiceRun(phase="refused", by=user.by, tracking_id=tracking_id, at=at,
                            asked=(vm.name if vm else _shown(vm_id),), refused=refusal.key, detail=detail)
    return notice_event(
        notice, f"maintain-teams-{uuid.uuid4().hex[:12]}-refused", at,
        tracking_id=tracking_id,  # the maintenance's thread
        status="self-service-refused",  # names the outbox file
        subscription_ids=(vm.subscription_id.lower(),) if vm else (),
    )


def vm_of(vm_id: str) -> Vm | None:
    """The VM a button names: a VM's or a scale set VM's resource id; None for anything else."""
    if not isinstance(vm_id, str):
        return None
    if (vm := vm_from_id(vm_id)) is not None:
        return vm
    parts = vm_id.strip().strip("/").split("/")
    if len(parts) != len(_SCALE_SET_VM) or not all(
            part and (expected is None or part.lower() == expected) for part, expected in zip(parts, _SCALE_SET_VM,
                                                                                               strict=True)):
        return None
    return Vm(id=vm_id.strip(), name=f"{parts[7]}_{parts[9]}", resource_group=parts[3], subscription_id=parts[1],
              availability_set=parts[7], power_state="unknown")


def _ended(ran: maintain.Ran) -> str:
    if ran.all_completed:
        return "completed"
    return "; ".join(f"{r.outcome.value.replace('_', ' ')}" + (f": {r.message}" if r.message else "")
                     for r in ran.results if r.outcome is not Ended.COMPLETED) or "not started"


def _thread(job: Callable[[], None]) -> None:
    threading.Thread(target=job, name="teams-start-maintenance").start()


def _log(user: TeamsUser, verb: str, vm_id: str, at: datetime, result: str) -> None:
    """One press: who (name, object id), what (verb, VM), when, and how it went."""
    log.info("teams action %s by %s (%s) on %s at %s: %s", verb, _shown(user.name) or "?", _shown(user.id) or "?",
             _shown(vm_id, ID_LIMIT) if isinstance(vm_id, str) else "?", at.isoformat(timespec="seconds"), result)


def _shown(text: str, limit: int = NAME_LIMIT) -> str:
    """Text from an activity as a log line or a notice may show it: one line, control characters escaped, cut short."""
    return repr(shorten(one_line(str(text)), limit))[1:-1]
