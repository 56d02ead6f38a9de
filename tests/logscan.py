"""Runs every log record of the whole test suite through a scanner for secrets: webhook signatures,
function keys, Slack tokens, JWTs, storage keys, passwords in URLs. The relay's redaction (relay/runtime/redact.py)
is installed as in production; a record that still carries a secret fails the run, naming the test and
the logger (never the secret). The patterns are written independently of the redaction's.

Loaded by tests/conftest.py; `scan(text)` also checks the logs of child processes (relay serve).
"""
from __future__ import annotations

import logging
import re

import pytest

from relay.runtime.redact import install

SECRETS = {
    "workflow signature": re.compile(r"sig=(?!\[redacted\])[A-Za-z0-9%_-]{8,}"),
    "function key": re.compile(r"[?&]code=(?!\[redacted\])[A-Za-z0-9_=-]{8,}"),
    "Slack token": re.compile(r"xox[a-z]-\d+-"),
    "Slack webhook path": re.compile(r"/services/T\w+/B\w+/(?!\[redacted\])[A-Za-z0-9_-]{8,}"),
    "JWT": re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ"),
    "storage key": re.compile(r"AccountKey=(?!\[redacted\])[A-Za-z0-9+/]{16,}"),
    "password in a URL": re.compile(r"://[^/\s:@\[]+:(?!\[redacted\])[^@\s/]{3,}@"),
}


def scan(text: str) -> list[str]:
    """The kinds of secret found in the text."""
    return [name for name, pattern in SECRETS.items() if pattern.search(text)]


class _Scanner(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.test = "(collection)"
        self.leaks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage() + (record.exc_text or "")
        for kind in scan(text):
            self.leaks.append(f"{self.test}: {kind} in a record of logger {record.name!r}")


_scanner = _Scanner()


def pytest_configure(config) -> None:
    install()
    root = logging.getLogger()
    root.addHandler(_scanner)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)


def pytest_runtest_logstart(nodeid, location) -> None:
    _scanner.test = nodeid


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus) -> None:
    if _scanner.leaks:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter) -> None:
    if _scanner.leaks:
        terminalreporter.section("secrets in the logs", red=True)
        for line in sorted(set(_scanner.leaks)):
            terminalreporter.line(line)
