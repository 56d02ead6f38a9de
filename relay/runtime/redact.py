"""Secrets never reach a log: every record this process logs has webhook URLs' secret parts, tokens,
keys, passwords and connection-string keys replaced before any handler formats it.

`install()` wraps the logging record factory, so it covers every logger and every handler, including
the Functions host's and those added later; an exception's traceback text is redacted too.
"""
from __future__ import annotations

import logging
import re
import traceback

MASK = "[redacted]"
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # query parameters that carry a secret: Workflows/Logic Apps `sig`, a function key `code`, tokens
    (re.compile(r"(?i)\b(sig|code|key|token|access_token|client_secret|password|secret)=[^&\s;,\"'<>]+"), rf"\1={MASK}"),
    # connection strings: Storage AccountKey, SAS, Service Bus / ACS access keys
    (re.compile(r"(?i)\b(AccountKey|SharedAccessKey|SharedAccessSignature|AccessKey)=[^;\s\"'<>]+"), rf"\1={MASK}"),
    # Slack tokens (xoxb-, xoxp-, xapp- …) and incoming-webhook paths
    (re.compile(r"\b(xox[a-z]|xapp)-[A-Za-z0-9-]{6,}"), rf"\1-{MASK}"),
    (re.compile(r"(/services/T[A-Za-z0-9]+/B[A-Za-z0-9]+/)[^\s\"'<>/?]+"), rf"\1{MASK}"),
    # JWTs and bearer credentials
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"), MASK),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/-]{8,}=*"), rf"\1 {MASK}"),
    # user:password@ in any URL (smtp://user:password@host)
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/\s@]+:)[^@\s/]+@", re.I), rf"\1{MASK}@"),
    # retired Office 365 connector URLs carry their secret in the path
    (re.compile(r"(?i)(webhook\.office\.com/webhookb2/)[^\s\"'<>]+"), rf"\1{MASK}"),
)


def redact(text: str) -> str:
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def install() -> None:
    """Redact every log record from now on (once per process, however often it is called)."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "redacting", False):
        return

    def make_record(*args, **kwargs) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        try:
            record.msg, record.args = redact(record.getMessage()), None
        except Exception:  # a record whose arguments do not fit its format: logging reports it itself
            return record
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
        return record

    make_record.redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(make_record)
