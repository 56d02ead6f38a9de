"""The outbox standing in for a Teams bot (transport outbox-bot: channel outbox, format teams, via: bot): a folder a
thread, `<outbox>/<receiver>/<thread>/`, written as relay.channels.teams_bot posts in a channel.

The first message of an event starts its thread: `first.json`. Each later message of the event (news, a reminder, a
held message released) is a reply, `NN-<stem>.json`, numbered in the order they came (01, 02, …), and `first.json`
is rewritten to the same card, as the bot updates its first card in place: the first card shows the event as it
ends. The cards are the bot's, with its buttons (relay.render.teams.is_bot), as rendered: nobody can press a button
in a folder, so nobody is on the event and no button is stamped.

`.thread.json` keeps the event's thread key and which message started the thread (for outbox/index.html too).
Writing is idempotent as the outbox's is: the same message keeps its file, so a redelivered one rewrites its own
(and `first.json` when it is the thread's latest) and adds none. The start is kept before `first.json` is written,
so whatever a failed write left, the message's redelivery makes whole.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relay.channels.outbox import folder_name, message_stem, write_file
from relay.model import Message, SendResult

FIRST = "first.json"  # the thread's first card, as it ends
RECORD = ".thread.json"  # {"thread": the event's thread key, "start": the stem of the message that started it}
REPLY = re.compile(r"(\d{2,})-(.+)\.json")  # NN-<stem>.json
THREAD_PART = 60  # characters of a thread key's readable part in its folder's name
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")

log = logging.getLogger(__name__)


def thread_folder(thread_key: str) -> str:
    """The folder of an event's thread: its key when that is a safe name (XY12-3ZQ), else the key's last part made
    safe, with a short hash of the whole key so that no two threads share a folder."""
    if 0 < len(thread_key) <= THREAD_PART and not _UNSAFE.search(thread_key):
        return thread_key
    last = [part for part in thread_key.split("/") if part][-1:] or ["thread"]
    readable = _UNSAFE.sub("_", last[0]).strip("_-")[:THREAD_PART] or "thread"
    return f"{readable}-{hashlib.sha256(thread_key.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"


@dataclass(frozen=True)
class Thread:
    """A thread as its folder holds it: its event's thread key, the message that started it, its replies."""

    key: str
    start: str  # the stem of the message that started it; "" when its record is gone
    replies: list[str]  # NN-<stem>.json, in the order they were posted


def read_thread(folder: Path) -> Thread:
    """The thread in `folder`; without its record (or with one that cannot be read), named by its folder."""
    record = _record(folder) or {}
    return Thread(str(record.get("thread") or folder.name), str(record.get("start") or ""), _replies(folder))


class ThreadOutboxChannel:
    limit = None  # a local folder needs no pacing

    def __init__(self, root: Path):
        self.root = Path(root)
        self._lock = threading.Lock()  # a thread's numbering is read, then written: one message at a time

    def folder_for(self, message: Message) -> Path:
        return self.root / folder_name(message.receiver.name) / thread_folder(message.thread_key)

    def send(self, message: Message) -> SendResult:
        if message.content_type != "application/json":
            return SendResult.failed("a Teams bot's thread holds cards: an outbox receiver with via: bot is of format"
                                     " teams", retryable=False)
        folder = self.folder_for(message)
        with self._lock:
            try:
                folder.mkdir(parents=True, exist_ok=True)
                return self._post(folder, message)
            except OSError as e:
                return SendResult.failed(f"cannot write in {folder}: {e.strerror}", retryable=True)

    def _post(self, folder: Path, message: Message) -> SendResult:
        stem, first = message_stem(message), folder / FIRST
        record = _record(folder)
        if record is None or not record.get("start"):
            _keep(folder, {"thread": message.thread_key, "start": stem})
            write_file(first, message.body)
            return SendResult.delivered(f"started the thread {first}", reference=str(first))
        replies = _replies(folder)
        if stem == record["start"]:  # the start again: the first card is its own only while nothing replied
            if not replies:
                write_file(first, message.body)
            return SendResult.delivered(f"started the thread {first}", reference=str(first))
        known = {reply.group(2): reply.group(0) for reply in map(REPLY.fullmatch, replies) if reply}
        name = known.get(stem) or f"{_number(replies[-1]) + 1 if replies else 1:02d}-{stem}.json"
        write_file(folder / name, message.body)
        latest = not replies or _number(name) >= _number(replies[-1])
        if latest:
            write_file(first, message.body)  # the bot's update of its first card
        shown = "; the first card shows it" if latest else ""
        return SendResult.delivered(f"replied in the thread {folder}: {name}{shown}", reference=str(folder / name))


def _replies(folder: Path) -> list[str]:
    """The replies' files, in the order they were posted."""
    try:
        names = [p.name for p in folder.iterdir() if REPLY.fullmatch(p.name)]
    except OSError:
        return []
    return sorted(names, key=lambda name: (_number(name), name))


def _number(name: str) -> int:
    reply = REPLY.fullmatch(name)
    return int(reply.group(1)) if reply else 0


def _record(folder: Path) -> dict[str, Any] | None:
    try:
        record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        log.warning("cannot read %s (%s); the next message starts the thread again", folder / RECORD, e)
        return None
    return record if isinstance(record, dict) else None


def _keep(folder: Path, record: dict[str, Any]) -> None:
    write_file(folder / RECORD, (json.dumps(record, indent=1, sort_keys=True) + "\n").encode())
