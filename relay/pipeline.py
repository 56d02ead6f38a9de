"""The stages in order: parse → dedup → enrich → route → render → deliver.

Each stage is a plain function; this module only strings them together around the ports (ledger,
VM source, channels) held by `Relay`. Every stage is safe to repeat: a redelivered alert that was
fully delivered sends nothing, and one that was cut off half-way sends only what is missing.

The caller runs parse to route; each receiver's share is then rendered and delivered on that receiver's
lane (relay.channels.lanes), all of an alert's receivers at once. `start_event` returns when the deliveries
are submitted, with a future of the outcome; `process_event` waits for it.
"""
from __future__ import annotations

import hashlib
import logging
import math
import random
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import TypeVar

from relay.alerts import parse_alert
from relay.channels import Channel
from relay.channels.lanes import Lanes, gather
from relay.channels.pacing import HeldOff, Pacer
from relay.config.followup import UrgentSettings
from relay.enrich import VmSource, enrich
from relay.enrich.snapshot import notice_snapshot
from relay.hold.gate import verdict
from relay.inbox.retry import RETRY_SECONDS
from relay.model import (
    Attempt,
    Delivery,
    Event,
    EventKind,
    Hold,
    Message,
    NoticeSnapshot,
    Notification,
    Receiver,
    SendResult,
    Silence,
)
from relay.render import render
from relay.routing import Routes, split, wanted
from relay.runtime import telemetry
from relay.runtime.leases import this_process
from relay.store import Ledger, Seen

log = logging.getLogger("relay")
T = TypeVar("T")

MAX_ATTEMPTS = 6
DELIVERY_BUDGET_SECONDS = 120.0  # per message and receiver; past it the delivery is recorded as failed
MAX_BACKOFF_SECONDS = 60.0
STEM_PART = 40  # characters of a trackingId or a stage in a file name: a file name holds 255 bytes
CLAIM_MARGIN_SECONDS = 120.0  # a claim outlasts the budget by this: the last attempt's own timeout, pacing
# A destination a delivery gave up on is held off until the alert's next try (relay.inbox.retry); what comes
# for it meanwhile fails at once, to be tried on its own alert's next try, instead of queueing in its lane.
FAILING_HOLD_SECONDS = float(RETRY_SECONDS)


@dataclass
class Relay:
    """The ports one run of the pipeline needs."""

    ledger: Ledger
    vms: VmSource
    routes: Routes
    channel_for: Callable[[Receiver], Channel]
    operations: Routes | None = None  # where notices about the relay itself go
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    max_attempts: int = MAX_ATTEMPTS
    budget_seconds: float = DELIVERY_BUDGET_SECONDS
    pacer: Pacer | None = None
    lanes: Lanes = field(default_factory=Lanes)  # shared by the copies `replace` makes, as the pacer is
    urgent: UrgentSettings = field(default_factory=UrgentSettings)  # what goes through quiet hours (relay.hold)

    def __post_init__(self) -> None:
        if self.pacer is None:
            self.pacer = Pacer(clock=self.monotonic, sleep=lambda seconds: self.sleep(seconds))


@dataclass(frozen=True)
class Outcome:
    event: Event
    seen: Seen
    deliveries: tuple[Delivery, ...] = ()
    vm_count: int = 0
    superseded_by: str | None = None  # a newer communication of the thread was relayed first

    @property
    def ok(self) -> bool:
        return all(d.result.ok for d in self.deliveries)

    @property
    def retryable(self) -> bool:
        """True when some delivery failed and a later attempt may still succeed."""
        return any(not d.result.ok and d.result.retryable for d in self.deliveries)

    @property
    def why_retry(self) -> str:
        """Which receivers a later try may still reach."""
        failed = sorted(d.receiver for d in self.deliveries if not d.result.ok and d.result.retryable)
        return f"not delivered to {', '.join(failed)}"

    @property
    def status(self) -> str:
        if self.seen is Seen.DUPLICATE:
            return "duplicate"
        if self.superseded_by:
            return "superseded"
        return "delivered" if self.ok else "failed"


def process(raw: bytes | str, relay: Relay) -> Outcome:
    """Parse and relay one alert body. Raises alerts.PayloadError for bad input."""
    return process_event(parse_alert(raw), relay)


def process_event(event: Event, relay: Relay) -> Outcome:
    """Relay one event; returns when every delivery is done."""
    return start_event(event, relay).result()


def start(raw: bytes | str, relay: Relay) -> Future[Outcome]:
    """Parse one alert body and start relaying it. Raises alerts.PayloadError for bad input."""
    return start_event(parse_alert(raw), relay)


def start_event(event: Event, relay: Relay) -> Future[Outcome]:
    """Admit, enrich and route the event here, and submit each receiver's delivery to its lane; the future
    holds the outcome once every delivery is done."""
    now = relay.clock()
    receivers = wanted(event, relay.routes)
    admission = relay.ledger.admit(event, [r.name for r in receivers], now)
    if admission.seen is Seen.DUPLICATE:
        log.info("duplicate %s: already delivered, nothing sent", event.dedup_key)
        telemetry.count("duplicate", kind=event.kind.value)
        return _resolved(Outcome(event, Seen.DUPLICATE))
    if admission.superseded_by:  # a late arrival: telling it now would roll the story back
        log.info("late %s: the thread is already at %s; nothing sent", event.dedup_key, admission.superseded_by)
        return _resolved(Outcome(event, admission.seen, superseded_by=admission.superseded_by))
    notification = Notification(enrich(event, relay.vms, now), admission.prior)
    shares = split(notification, relay.routes)
    reached = {receiver.name for receiver, _ in shares}
    for receiver in receivers:
        if receiver.name in reached:
            continue
        told = last_told(notification, receiver, relay)
        if told is not None and told.vms:  # every VM it was told of left: it hears that they did
            shares.append((receiver, replace(_none_of_its_vms(notification), told=told)))
        else:  # none of its VMs: settled, so a redelivery is a duplicate
            relay.ledger.record_delivery(event.dedup_key, receiver.name,
                                         SendResult.delivered("nothing to send: no VM of this receiver"), attempts=0)
    silences = relay.ledger.silences()
    deliveries = [_submit(part, receiver, relay, silences) for receiver, part in shares]
    vm_count = len(notification.enriched.vms)
    return gather(deliveries, lambda done: Outcome(event, admission.seen, tuple(done), vm_count=vm_count))


def _submit(notification: Notification, receiver: Receiver, relay: Relay,
            silences: Sequence[Silence]) -> Future[Delivery]:
    """The delivery on the receiver's lane; or, when its destination is held off longer than a delivery may
    wait (a delivery gave up on it), failed at once, as it would fail there, without taking the lane's time."""
    key = notification.event.dedup_key
    limit = getattr(relay.channel_for(receiver), "limit", None)
    held = relay.pacer.held_off(limit, relay.budget_seconds) if relay.pacer else 0.0
    if held:
        log.info("not sending %s to %s now: its destination is held off for %.0f s more", key, receiver.name, held)
        return _resolved(_delivered_before(key, receiver, relay)
                    or Delivery(receiver.name, key, _held_off(held, "not tried"), attempts=0))
    return relay.lanes.submit(receiver.name, partial(_deliver_to, notification, receiver, relay, silences))


def _resolved(result: T) -> Future[T]:
    done: Future[T] = Future()
    done.set_result(result)
    return done


def file_stem(event: Event, now: datetime) -> str:
    """`<event time>-<trackingId>-<key>-<stage>`: readable, bounded, and one per communication. The short hash
    of the dedup key keeps apart what shares a second, an id and a stage (two Resource Health alerts, three
    relay notices); a redelivery of the same communication keeps its name."""
    when = (event.event_time or now).astimezone(UTC)
    name = event.tracking_id or (event.scheduled.event_id if event.scheduled else event.kind.value)
    stage = event.stage or event.status or "event"
    key = hashlib.sha256(event.dedup_key.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{when:%Y%m%dT%H%M%SZ}-{name[:STEM_PART]}-{key}-{stage[:STEM_PART]}"


def own_stem(event: Event, now: datetime, what: str) -> str:
    """The file stem of a message the relay sends of its own accord (a reminder, a release): named for when it
    goes out and what it is, beside the event's notices."""
    return f"{file_stem(replace(event, event_time=now), now)}-{what}"


def _delivered_before(key: str, receiver: Receiver, relay: Relay) -> Delivery | None:
    if relay.ledger.delivered(key, receiver.name):
        return Delivery(receiver.name, key, SendResult.delivered("delivered before"), attempts=0, skipped=True)
    return None


def _deliver_to(notification: Notification, receiver: Receiver, relay: Relay,
                silences: Sequence[Silence]) -> Delivery:
    key = notification.event.dedup_key
    if before := _delivered_before(key, receiver, relay):
        return before
    holder = f"{this_process()}:{uuid.uuid4().hex[:8]}"
    if not relay.ledger.claim(key, receiver.name, holder, relay.budget_seconds + CLAIM_MARGIN_SECONDS):
        log.info("not sending %s to %s: being delivered by another worker", key, receiver.name)
        return Delivery(receiver.name, key, SendResult.failed("being delivered by another worker", retryable=True),
                        attempts=0)
    if held := _held(notification, receiver, relay, silences):
        return held
    if notification.told is None:
        notification = replace(notification, told=last_told(notification, receiver, relay))
    try:
        message = replace(render(notification, receiver), file_stem=file_stem(notification.event, notification.enriched.now))
    except Exception:  # a rendering bug must not take the other receivers down, nor mark this one done
        log.exception("cannot render %s for %s", key, receiver.name)
        result = SendResult.failed("rendering failed; see the log", retryable=True)
        relay.ledger.record_delivery(key, receiver.name, result, attempts=0)
        return Delivery(receiver.name, key, result, attempts=0)
    result, attempts = send_once(relay.channel_for(receiver), message, relay)
    relay.ledger.record_delivery(key, receiver.name, result, attempts)
    telemetry.count("delivered" if result.ok else "failed", channel=receiver.channel)
    if result.ok:
        remember_told(notification, receiver, relay)
        if receiver.quiet_hours or silences:  # else nothing can be held for it: no write to look
            forget_held(notification.event.thread_key, receiver.name, relay)
        log.info("delivered %s to %s: %s", key, receiver.name, message.summary)
    else:
        log.warning("not delivered %s to %s after %d attempt(s): %s", key, receiver.name, attempts, result.detail)
    return Delivery(receiver.name, key, result, attempts)


def _held(notification: Notification, receiver: Receiver, relay: Relay,
          silences: Sequence[Silence]) -> Delivery | None:
    """A share silenced or in the receiver's quiet hours is held in the ledger (relay.hold.release sends the
    event's latest state when the hold ends) and its delivery is recorded as done: held, never lost."""
    now, event = relay.clock(), notification.event
    said = verdict(notification, receiver, silences, relay.urgent, now)
    if said.hold is None:
        if said.urgent:
            log.info("%s to %s: %s", event.dedup_key, receiver.name, said.why)
        return None
    relay.ledger.hold(Hold(event.thread_key, receiver.name, said.hold, now, event, notification.prior,
                           silence_id=said.silence.id if said.silence else None, until=said.until))
    result = SendResult.delivered(said.why)
    relay.ledger.record_delivery(event.dedup_key, receiver.name, result, attempts=0)
    telemetry.count("held", reason=said.hold)
    log.info("not sending %s to %s now: %s", event.dedup_key, receiver.name, said.why)
    return Delivery(receiver.name, event.dedup_key, result, attempts=0, held=said.hold)


def forget_held(thread_key: str, receiver: str, relay: Relay, released: Hold | None = None) -> None:
    """The receiver now has the event's latest state: what was held of it (`released`: only if still that) need
    not be sent. It went out already: failing to forget costs at most one message with the same state."""
    try:
        relay.ledger.drop_hold(thread_key, receiver, released)
    except Exception:
        log.exception("cannot forget what was held of %s for %s", thread_key, receiver)


def last_told(notification: Notification, receiver: Receiver, relay: Relay) -> NoticeSnapshot | None:
    """What the receiver was last told of its VMs in this thread, for the message to say per VM what changed.
    Only maintenance lists VMs. A snapshot that cannot be read costs the comparison, never the message."""
    event = notification.event
    if event.kind is not EventKind.MAINTENANCE:
        return None
    try:
        return relay.ledger.last_told(event.thread_key, receiver.name, other_than=event.dedup_key)
    except Exception:
        log.exception("cannot read what %s was last told in %s; sending without the changes", receiver.name,
                      event.thread_key)
        return None


def _none_of_its_vms(notification: Notification) -> Notification:
    """The share of a receiver none of whose VMs the event hits any more."""
    return Notification(replace(notification.enriched, vms=()), notification.prior,
                        affected=len(notification.enriched.vms))


def remember_told(notification: Notification, receiver: Receiver, relay: Relay) -> None:
    """Keep the VMs as this delivered message described them. It went out already: failing to keep them only
    costs the next message its per-VM changes."""
    if notification.event.kind is not EventKind.MAINTENANCE:
        return
    try:
        relay.ledger.record_told(notification.event.thread_key, receiver.name, notice_snapshot(notification))
    except Exception:
        log.exception("cannot keep what %s was told in %s", receiver.name, notification.event.thread_key)


def send_keyed(message: Message, relay: Relay) -> SendResult | None:
    """What the relay sends of its own accord (a digest, a reminder, a held message released), once: claimed,
    sent and marked under the message's notification key. None when another run holds the claim."""
    key, receiver = message.notification_key, message.receiver.name
    if relay.ledger.delivered(key, receiver):
        return SendResult.delivered("delivered before")
    holder = f"{this_process()}:{uuid.uuid4().hex[:8]}"
    if not relay.ledger.claim(key, receiver, holder, relay.budget_seconds + CLAIM_MARGIN_SECONDS):
        return None
    result, attempts = send_once(relay.channel_for(message.receiver), message, relay)
    relay.ledger.record_delivery(key, receiver, result, attempts)
    telemetry.count("delivered" if result.ok else "failed", channel=message.receiver.channel)
    return result


def send_once(channel: Channel, message: Message, relay: Relay) -> tuple[SendResult, int]:
    """send_with_retries, and for a destination that can say what it has (relay.channels.Checkable), first the
    question whether an earlier try of unknown outcome got through: found, the message is not sent again. The
    attempt is kept in the ledger before the send; the mark clears it."""
    if not callable(getattr(channel, "find", None)):
        return send_with_retries(channel, message, relay)
    key, receiver = message.notification_key, message.receiver.name
    earlier = relay.ledger.open_attempt(key, receiver)
    if earlier is not None:
        found = _ask(channel, replace(message, attempt=earlier), relay)
        if found is not None:
            return found, 0
    attempt = Attempt.begin(relay.clock())
    relay.ledger.begin_attempt(key, receiver, attempt)
    return send_with_retries(channel, replace(message, attempt=attempt), relay)


def _ask(channel, message: Message, relay: Relay) -> SendResult | None:
    """_find, asked again with backoff while the destination cannot tell and the budget lasts."""
    started = relay.monotonic()
    for attempt in range(1, relay.max_attempts + 1):
        found = _find(channel, message, relay)
        if found is None or found.ok or not found.retryable:
            return found
        wait = max(found.retry_after or 0.0, _backoff(attempt))
        if relay.monotonic() - started + wait > relay.budget_seconds:
            break
        relay.sleep(wait)
    return found


def _find(channel, message: Message, relay: Relay) -> SendResult | None:
    """The destination's answer on `message.attempt`: delivered, not there (None), or cannot tell now (failed,
    with the outcome still unknown, so that the next try asks again)."""
    limit = channel.lookup_limit
    try:
        relay.pacer.wait(limit, most=relay.budget_seconds)  # type: ignore[union-attr]  # set in __post_init__
        found = channel.find(message)
    except HeldOff as held:
        return SendResult.failed("the destination was not asked yet whether an earlier try got through",
                                 retryable=True, retry_after=held.seconds, unknown=True)
    except Exception as e:  # as _attempt: only the type, the text may carry a secret
        log.error("checking the destination of %s failed: %s", message.receiver.name, type(e).__name__)
        return SendResult.failed(f"could not ask the destination whether an earlier try got through "
                                 f"({type(e).__name__})", retryable=True, unknown=True)
    if found is None:
        return None
    if found.ok:
        log.info("not sending %s to %s again: %s", message.notification_key, message.receiver.name, found.detail)
        return found
    return replace(found, unknown=True)


def send_with_retries(channel: Channel, message: Message, relay: Relay) -> tuple[SendResult, int]:
    """Send, pacing each attempt to the channel's limit, retrying what may succeed (waiting at least its
    Retry-After, with jittered exponential backoff) until it works, cannot work, or the budget is spent.
    Giving up holds the destination off (FAILING_HOLD_SECONDS), and after that it gets one attempt a send
    until it answers well; an attempt the pacer would hold past the budget is not waited for: the send fails
    at once, to be tried again by the alert's next try."""
    limit = getattr(channel, "limit", None)
    pacer = relay.pacer
    if pacer is None:  # set by Relay.__post_init__; only unset by hand
        raise ValueError("the relay has no pacer")
    started = relay.monotonic()
    result = SendResult.failed("not sent", retryable=True)
    asking = False
    for attempt in range(1, relay.max_attempts + 1):
        try:
            pacer.wait(limit, most=relay.budget_seconds - (relay.monotonic() - started))
        except HeldOff as held:  # a delivery gave up on it, or it asked for a wait past the budget
            return _held_off(held.seconds, result.detail if attempt > 1 else "not tried"), attempt - 1
        result, asking = _try(channel, message, relay, asking)
        if result.ok or not result.retryable:
            pacer.answered(limit)
            return result, attempt
        wait = max(result.retry_after or 0.0, _backoff(attempt))
        spent = relay.monotonic() - started
        # A destination given up on before gets one attempt: retrying it would hold the lane for its budget.
        if attempt == relay.max_attempts or spent + wait > relay.budget_seconds or pacer.given_up(limit):
            break
        if limit is None:
            relay.sleep(wait)
        else:  # the pacer sleeps before the next attempt, and holds other messages to it off too
            pacer.hold_off(limit, wait)
    if not asking:  # a destination that only could not tell yet about one message is not failing
        pacer.give_up(limit, FAILING_HOLD_SECONDS)
    gave_up = f"{result.detail} (gave up after {attempt} attempt(s) in {relay.monotonic() - started:.0f} s)"
    return SendResult.failed(gave_up, retryable=True, retry_after=result.retry_after, unknown=result.unknown), attempt


def _try(channel: Channel, message: Message, relay: Relay, asking: bool) -> tuple[SendResult, bool]:
    """One try: the send, or, while a checkable destination has not said whether an earlier send with no answer got
    through (`asking`), that question first; after a send with no answer, the question. Returns the result and
    whether the next try is to ask again (the destination could not tell yet)."""
    if asking:
        found = _find(channel, message, relay)
        if found is not None:
            return found, not found.ok and found.retryable
    result = _attempt(channel, message)
    if not result.unknown or message.attempt is None:
        return result, False
    found = _find(channel, message, relay)
    return (result, False) if found is None else (found, not found.ok and found.retryable)


def _held_off(seconds: float, said: str) -> SendResult:
    return SendResult.failed(f"{said}: the destination is held off for {math.ceil(seconds)} s more after failing;"
                             " the next try after that sends it", retryable=True, retry_after=seconds)


def _attempt(channel: Channel, message: Message) -> SendResult:
    try:
        return channel.send(message)
    except Exception as e:  # a channel that raises is treated as a transient failure, which may have sent it
        # Only the type: an exception's text may carry the destination URL, which is a secret.
        log.error("channel error for %s: %s", message.receiver.name, type(e).__name__)
        return SendResult.failed(f"channel error: {type(e).__name__}", retryable=True, unknown=True)


def _backoff(attempt: int) -> float:
    """Exponential with full jitter: 0–1 s, 0–2 s, 0–4 s, … up to a minute."""
    return random.uniform(0, min(MAX_BACKOFF_SECONDS, 2.0 ** (attempt - 1)))
