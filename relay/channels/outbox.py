"""The embedded channel: every message becomes a file, `<outbox>/<receiver>/<stem>.json|.eml`.

Writing is atomic (temporary file, then rename) and idempotent: the same message keeps the same name,
so a redelivered or resumed notification overwrites its own file instead of adding another. A failed
write leaves no temporary file behind. Names are safe on any file system and never shared: a receiver
whose name had to be changed to be safe (`ops.`) gets a short hash of its own name (`ops-…`), so it
cannot land in another receiver's folder (`ops`). A receiver that stands in for a Teams bot (via: bot) writes
its threads instead, a folder an event: relay.channels.outbox_thread.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from pathlib import Path

from relay.model import Message, SendResult

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
NAME_LIMIT = 160  # characters of a file or folder name, well inside the 255 bytes file systems allow


def safe_name(part: str) -> str:
    return _UNSAFE.sub("_", part).strip("._")[:NAME_LIMIT] or "message"


def folder_name(receiver: str) -> str:
    safe = safe_name(receiver)
    if safe == receiver:
        return safe
    return f"{safe}-{hashlib.sha256(receiver.encode('utf-8', 'surrogatepass')).hexdigest()[:6]}"


class OutboxChannel:
    limit = None  # a local folder needs no pacing

    def __init__(self, root: Path):
        self.root = Path(root)

    def path_for(self, message: Message) -> Path:
        suffix = ".eml" if message.content_type == "message/rfc822" else ".json"
        return self.root / folder_name(message.receiver.name) / f"{message_stem(message)}{suffix}"

    def send(self, message: Message) -> SendResult:
        path = self.path_for(message)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_file(path, message.body)
        except OSError as e:
            return SendResult.failed(f"cannot write {path}: {e.strerror}", retryable=True)
        return SendResult.delivered(detail=f"written to {path}", reference=str(path))


def message_stem(message: Message) -> str:
    """The name of a message's file, without its suffix: the same for the same message."""
    return safe_name(message.file_stem or message.notification_key)


def write_file(path: Path, data: bytes) -> None:
    """`data` as the file at `path`, whole or not at all: a failed write raises OSError and leaves no temporary
    file behind."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".writing-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise
