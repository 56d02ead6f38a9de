"""Silences and held messages as the ledgers keep them: JSON text that fits one Table Storage string property.

    silence  {"id", "matchers": [{"field", "value", "regex", "tag"}, …], "starts", "ends", "created_by",
              "comment", "created_at"}
    hold     {"thread_key", "receiver", "reason", "since", "held", "silence_id", "until",
              "prior": {"stage", "window": [start, end], "sent_at", "reschedules"} | null,
              "event": event_record(event, text=True)}

Times are ISO text in UTC. A held event keeps its communication text, up to HELD_TEXT_LIMIT characters or
less when the whole would not fit otherwise.
"""
from __future__ import annotations

import json
from bisect import bisect_right
from dataclasses import asdict, replace
from datetime import UTC, datetime

from relay.model import Event, Hold, Matcher, PriorNotice, Silence, Window
from relay.store import HELD_TEXT_LIMIT, event_from_record, event_record

RECORD_LIMIT = 32_000  # UTF-16 code units, as Table Storage counts the 32K characters a string property holds


class RecordTooLarge(ValueError):
    """A record that one Table Storage string property cannot hold."""


def silence_record(silence: Silence) -> str:
    record = _json({
        "id": silence.id, "matchers": [asdict(m) for m in silence.matchers], "starts": _iso(silence.starts),
        "ends": _iso(silence.ends), "created_by": silence.created_by, "comment": silence.comment,
        "created_at": _iso(silence.created_at),
    })
    if (size := _size(record)) > RECORD_LIMIT:
        raise RecordTooLarge(f"the silence takes {size} characters, more than the {RECORD_LIMIT} the ledger keeps"
                             " of one")
    return record


def silence_from_record(text: str) -> Silence:
    data = json.loads(text)
    return Silence(id=data["id"], matchers=tuple(Matcher(**m) for m in data["matchers"]),
                   starts=_time(data["starts"]), ends=_time(data["ends"]), created_by=data["created_by"],
                   comment=data["comment"], created_at=_time(data["created_at"]))


def hold_record(hold: Hold) -> str:
    """With as much of the communication text as fits; RecordTooLarge when the hold does not fit without it."""
    text = hold.event.communication[:HELD_TEXT_LIMIT]

    def record(length: int) -> str:
        return _json({
            "thread_key": hold.thread_key, "receiver": hold.receiver, "reason": hold.reason,
            "since": _iso(hold.since), "held": hold.held, "silence_id": hold.silence_id,
            "until": _iso_or_none(hold.until), "prior": _prior_record(hold.prior),
            "event": event_record(replace(hold.event, communication=text[:length]), text=True),
        })

    whole = record(len(text))
    if _size(whole) <= RECORD_LIMIT:
        return whole
    fits = bisect_right(range(len(text) + 1), RECORD_LIMIT, key=lambda length: _size(record(length))) - 1
    if fits < 0:
        raise RecordTooLarge(f"the held event takes {_size(record(0))} characters without its text, more than the"
                             f" {RECORD_LIMIT} the ledger keeps of one")
    return record(fits)


def hold_from_record(text: str) -> Hold:
    data = json.loads(text)
    return Hold(thread_key=data["thread_key"], receiver=data["receiver"], reason=data["reason"],
                since=_time(data["since"]), event=event_from_record(data["event"]),
                prior=_prior_from(data["prior"]), held=data["held"], silence_id=data["silence_id"],
                until=_time_or_none(data["until"]))


def merge(kept: Hold, kept_key: str, new: Hold) -> tuple[Hold, str]:
    """What is held once `new` joins `kept` (Ledger.hold), and the dedup key of the communication it keeps.
    `kept_key` is that of kept's event as it came: an event read back from its record may not give it."""
    if _newer_or_same(new.event, kept.event):
        event, prior, key = new.event, new.prior, new.event.dedup_key
    else:
        event, prior, key = kept.event, kept.prior, kept_key
    held = kept.held if new.event.dedup_key == kept_key else kept.held + 1
    return replace(new, since=min(kept.since, new.since), event=event, prior=prior, held=held), key


def _newer_or_same(new: Event, kept: Event) -> bool:
    """By event time, none counting as oldest."""
    if new.event_time is None or kept.event_time is None:
        return kept.event_time is None
    return new.event_time >= kept.event_time


def _prior_record(prior: PriorNotice | None) -> dict | None:
    if prior is None:
        return None
    return {"stage": prior.stage, "window": [_iso_or_none(prior.window.start), _iso_or_none(prior.window.end)],
            "sent_at": _iso(prior.sent_at), "reschedules": prior.reschedules}


def _prior_from(data: dict | None) -> PriorNotice | None:
    if data is None:
        return None
    start, end = data["window"]
    return PriorNotice(stage=data["stage"], window=Window(_time_or_none(start), _time_or_none(end)),
                       sent_at=_time(data["sent_at"]), reschedules=data["reschedules"])


def _json(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def _size(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat()


def _iso_or_none(when: datetime | None) -> str | None:
    return _iso(when) if when else None


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _time_or_none(text: str | None) -> datetime | None:
    return _time(text) if text else None
