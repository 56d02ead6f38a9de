"""The embedded channel: every message becomes a file, `<outbox>/<receiver>/<stem>.json|.eml`.

Writing is atomic (temporary file, then rename) and idempotent: the same message keeps the same name,
so a redelivered or resumed notification overwrites its own file instead of adding another. A failed
write leaves no temporary file behind. Names are safe on any file system and never shared: a receiver
whose name had to be changed to be safe (`ops.`) gets a short hash of its own name (`ops-…`), so it
cannot land in another receiver's folder (`ops`).
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


def _safe(part: str) -> str:
    return _UNSAFE.sub("_", part).strip("._")[:NAME_LIMIT] or "message"


def folder_name(receiver: str) -> str:
    safe = _safe(receiver)
    if safe == receiver:
        return safe
    return f"{safe}-{hashlib.sha256(receiver.encode('utf-8', 'surrogatepass')).hexdigest()[:6]}"


class OutboxChannel:
    limit = None  # a local folder needs no pacing

    def __init__(self, root: Path):
        self.root = Path(root)

    def path_for(self, message: Message) -> Path:
        suffix = ".eml" if message.content_type == "message/rfc822" else ".json"
        stem = _safe(message.file_stem or message.notification_key)
        return self.root / folder_name(message.receiver.name) / f"{stem}{suffix}"

    def send(self, message: Message) -> SendResult:
        path = self.path_for(message)
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".writing-")
            with os.fdopen(fd, "wb") as f:
                f.write(message.body)
            os.replace(tmp, path)
        except OSError as e:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            return SendResult.failed(f"cannot write {path}: {e.strerror}", retryable=True)
        return SendResult.delivered(detail=f"written to {path}", reference=str(path))
