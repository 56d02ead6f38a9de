"""Checks the render tests share: the Adaptive Card validator (Node), Slack's Block Kit models, email parsing.

Imported by tests/test_render_*.py (not a conftest: nothing here is picked up implicitly).
"""
from __future__ import annotations

import email
import io
import json
import re
import shutil
import subprocess
import zipfile
from dataclasses import replace
from datetime import timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from relay.enrich.state import by_urgency
from relay.model import (
    Enriched,
    MaintenanceState,
    NoticeSnapshot,
    Notification,
    PriorNotice,
    Release,
    Reminder,
    VmSnapshot,
)
from tests import factories as f

ROOT = Path(__file__).resolve().parent.parent
VALIDATOR = ROOT / "tests" / "js" / "validate_cards.js"
JAPANESE = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uff00-\uffef]")


def run_card_validator(envelopes: dict[str, bytes], directory: Path) -> subprocess.CompletedProcess:
    """Runs tests/js/validate_cards.js over the envelopes (written as <name>.json). Fails the test, never
    skips it, when Node or the npm packages are missing."""
    if shutil.which("node") is None:
        pytest.fail("node is not on PATH: install Node.js 20, then run npm ci")
    if not (ROOT / "node_modules" / "adaptivecards").is_dir():
        pytest.fail("node_modules/adaptivecards is missing: run npm ci")
    paths = []
    for name, body in envelopes.items():
        path = directory / f"{name}.json"
        path.write_bytes(body)
        paths.append(str(path))
    return subprocess.run(
        ["node", str(VALIDATOR), *paths], capture_output=True, text=True, cwd=ROOT, timeout=300, check=False
    )


def assert_cards_valid(envelopes: dict[str, bytes], directory: Path) -> None:
    result = run_card_validator(envelopes, directory)
    assert result.returncode == 0, f"invalid cards:\n{result.stderr}{result.stdout}"
    assert f"{len(envelopes)} of {len(envelopes)} envelope(s) valid" in result.stdout


def card_of(body: bytes) -> dict[str, Any]:
    envelope = json.loads(body)
    return envelope["attachments"][0]["content"]


def strings(node: Any) -> list[str]:
    """Every string value in a JSON document (keys excluded)."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in strings(value)]
    return []


def card_texts(body: bytes) -> list[str]:
    """The text a Teams reader sees: TextBlock texts, fact titles and values, action titles, in order."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "TextBlock":
                found.append(node["text"])
            if node.get("type") == "FactSet":
                for fact in node["facts"]:
                    found.extend((fact["title"], fact["value"]))
            if node.get("type") == "Action.OpenUrl":
                found.append(node["title"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card_of(body))
    return found


def vm_rows(body: bytes) -> list[dict[str, Any]]:
    """The VM rows of a Teams card (ColumnSets after the header row)."""
    column_sets = [b for b in card_of(body)["body"] if b["type"] == "ColumnSet"]
    return column_sets[1:]


def slack_payload(body: bytes) -> dict[str, Any]:
    """The Slack message, checked against slack_sdk's Block Kit models: every block parses to its model,
    passes validate_json(), and survives a to_dict() round trip unchanged."""
    payload = json.loads(body)
    assert set(payload) == {"text", "blocks"}
    models = Block.parse_all(payload["blocks"])
    assert len(models) == len(payload["blocks"])
    for raw, model in zip(payload["blocks"], models, strict=True):
        assert model is not None and model.type == raw["type"], raw
        model.validate_json()
        assert model.to_dict() == raw
    return payload


def slack_texts(payload: dict[str, Any]) -> list[str]:
    return [payload["text"]] + strings(payload["blocks"])


def parse_email(body: bytes) -> EmailMessage:
    return email.message_from_bytes(body, policy=default_policy)


def email_parts(message: EmailMessage) -> tuple[str, str]:
    """The text and HTML of the multipart/alternative, checking it has exactly those two, text first."""
    alternative = message if message.get_content_type() == "multipart/alternative" else next(
        part for part in message.iter_parts() if part.get_content_type() == "multipart/alternative"
    )
    parts = list(alternative.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    return parts[0].get_content(), parts[1].get_content()


def csv_attachment(message: EmailMessage) -> tuple[str, bytes] | None:
    """The attached CSV's name and bytes, taken out of its ZIP when it came in one."""
    attachments = [a for a in message.iter_attachments() if a.get_content_type() != "text/calendar"]
    if not attachments:
        return None
    assert len(attachments) == 1
    part = attachments[0]
    if part.get_content_type() == "application/zip":
        with zipfile.ZipFile(io.BytesIO(part.get_payload(decode=True))) as archive:
            (name,) = archive.namelist()
            assert part.get_filename() == name.removesuffix(".csv") + ".zip"
            return name, archive.read(name)
    assert part.get_content_type() == "text/csv"
    return part.get_filename(), part.get_payload(decode=True)


# ---------------------------------------------------------------------------------------------------
# Reminders (relay.remind) and released messages (relay.hold): a maintenance notification as those pass it to
# render. A reminder's event carries no text of Azure's; it still has the thread's prior notice and what the
# receiver was last told, which render must not treat as news.

S = MaintenanceState
REMINDER_BEFORE = timedelta(days=1)
DEADLINE_AT = f.SELF_SERVICE.end - REMINDER_BEFORE  # 2026-01-22 07:30 UTC: a day before the self-service deadline
REBOOT_AT = f.SCHEDULED.start - REMINDER_BEFORE  # 2026-01-23 15:00 UTC: a day before Azure's reboot window
ALL_DONE_AT = f.SCHEDULED.end + timedelta(hours=2)
HELD_SINCE = f.NOW - timedelta(hours=9)  # 2026-01-19 18:00 UTC, 2026-01-20 03:00 JST


def _reminder(reminder: Reminder, vms, now) -> Notification:
    told = NoticeSnapshot("xy12-3zq/11223344", f.NOW - timedelta(days=3), f.NOW - timedelta(days=3),
                          (VmSnapshot("gone", "vm-gone-01", S.START_NOW),))
    return Notification(
        Enriched(f.maintenance_event(communication=""), now, by_urgency(vms), "impacted list"),
        prior=PriorNotice("Planned", f.PRIOR_WINDOW, f.NOW - timedelta(days=3)),
        told=told,
        reminder=reminder,
    )


def deadline_reminder() -> Notification:
    """The self-service deadline a day away: the receiver's two VMs still in Start now / Retry now."""
    now = DEADLINE_AT
    vms = [f.make_vm("vm-web-01", S.START_NOW, zones=(), public_ip_allocation="Dynamic", now=now),
           f.make_vm("vm-web-02", S.RETRY_NOW, now=now)]
    return _reminder(Reminder("deadline", f.SELF_SERVICE.end, REMINDER_BEFORE), vms, now)


def reboot_reminder() -> Notification:
    """Azure's reboot window a day away: three Scheduled VMs, one a single instance with a dynamic public IP."""
    now = REBOOT_AT
    vms = [f.make_vm("vm-db-01", S.SCHEDULED, resource_group="rg-db", zones=(), public_ip_allocation="Dynamic",
                     now=now),
           f.make_vm("vm-db-02", S.SCHEDULED, resource_group="rg-db", now=now),
           f.make_vm("vm-db-03", S.SCHEDULED, resource_group="rg-db", now=now)]
    return _reminder(Reminder("reboot", f.SCHEDULED.start, REMINDER_BEFORE), vms, now)


def all_done_reminder() -> Notification:
    """The receiver's last VM of the maintenance done: its three VMs Already updated."""
    now = ALL_DONE_AT
    vms = [f.make_vm(f"vm-web-0{i}", S.ALREADY_UPDATED, now=now) for i in range(1, 4)]
    return _reminder(Reminder("all_done"), vms, now)


def released(reason: str = "quiet_hours") -> Notification:
    """A Rescheduled update held for the receiver (two messages since HELD_SINCE), sent with the latest state."""
    return replace(f.rescheduled_update(), released=Release(reason, HELD_SINCE, 2))


FOLLOW_UPS = {
    "deadline_reminder": deadline_reminder,
    "reboot_reminder": reboot_reminder,
    "all_done_reminder": all_done_reminder,
    "released_quiet_hours": released,
    "released_silence": lambda: released("silence"),
}
