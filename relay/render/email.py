"""Email: multipart/alternative (text, then HTML), with a CSV of every VM when the body cannot list them all
(in a ZIP when large: Graph takes at most 4 MB a request, and a CSV costs 16/9 of its size once in MIME and
then in base64 for Graph; 10,000 VMs make a CSV of about 2.6 MB).

A receiver with `audience: managers` gets maintenance worded for managers (templates/email/manager_*.j2): an
opening summary, the week's decisions (relay/render/decisions.py) and no commands. Other news, and every other
receiver, get the on-call email (templates/email/body.*.j2)."""
from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Protocol

# The module, not its names: it reads relay.render's times and templates, so either may be imported first.
from relay.calendar import file as calendar_file
from relay.calendar.entries import of_view
from relay.model import Receiver
from relay.render import times
from relay.render.decisions import decisions, tagged
from relay.render.markup import FMT, environment, macros
from relay.render.sanitize import safe_html
from relay.render.view import View, VmRow
from relay.text import shorten

EMAIL_MAX_ROWS = 50
EMAIL_COMMUNICATION = 20_000
DEFAULT_TO = "platform-team@example.invalid"
DEFAULT_FROM = "azure-maintenance-relay@example.invalid"
# Headers are not folded short: Python's folding of a long Japanese subject can drop the space between an
# encoded word and the next ("VM 再起動" read back as "VM再起動"). RFC 5322 allows 998 characters a line;
# the bodies are base64, so only the headers feel this.
UNFOLDED = SMTP.clone(max_line_length=998)
ZIP_OVER_BYTES = 1_000_000  # a CSV larger than this is attached in a ZIP (it shrinks ten times or more)
DECISION_ROWS = 20  # VMs listed under each heading of the week's decisions; the rest are counted


class VmTable(Protocol):
    """What vm_csv reads: a notification's View or the digest's."""

    @property
    def rows(self) -> tuple[VmRow, ...]: ...

    @property
    def counts(self) -> tuple[tuple[str, int], ...]: ...


@dataclass(frozen=True)
class Attachment:
    filename: str
    data: bytes
    zipped: bool  # a ZIP holding one CSV; templates say so ("zip"), or "csv"

    @classmethod
    def csv(cls, stem: str, data: bytes, now) -> Attachment:
        if len(data) <= ZIP_OVER_BYTES:
            return cls(f"{stem}.csv", data, False)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            # dated in JST, as people unpacking it read it; no other varying field, so the same email is the same bytes
            archive.writestr(zipfile.ZipInfo(f"{stem}.csv", times.to_jst(now).timetuple()[:6]), data,
                             compress_type=zipfile.ZIP_DEFLATED)
        return cls(f"{stem}.zip", out.getvalue(), True)

    @property
    def kind(self) -> str:
        return "zip" if self.zipped else "csv"


def message(view: View, langs: tuple[str, ...], receiver: Receiver) -> tuple[str, bytes]:
    """The email of one notification: the on-call email, or the managers' for a managers' receiver."""
    shown = view.rows[:EMAIL_MAX_ROWS]
    attachment = None
    if view.total > len(shown):
        attachment = Attachment.csv(f"affected-vms-{_file_part(view.tracking_id) or 'event'}", vm_csv(view, langs),
                                    view.now)
    context = {
        "v": view,
        "langs": langs,
        "rows": shown,
        "more": view.total - len(shown),
        "actions": view.action_rows[:EMAIL_MAX_ROWS],
        "more_actions": max(0, len(view.action_rows) - EMAIL_MAX_ROWS),
        "attached": attachment.kind if attachment else None,
        "communication": shorten(view.communication, EMAIL_COMMUNICATION),
        "communication_html": safe_html(view.communication_html),
    }
    templates = "email/subject.txt.j2", "email/body.txt.j2", "email/body.html.j2"
    calendar = None
    if for_managers(view, receiver):
        context |= manager_context(view, receiver, shown)
        templates = "email/manager_subject.txt.j2", "email/manager_body.txt.j2", "email/manager_body.html.j2"
        # A completed maintenance leaves the entries as they were, and so does a reminder: it is no news.
        if view.change != "complete" and view.reminder is None:
            stem = f"maintenance-{_file_part(view.tracking_id) or 'event'}"
            calendar = calendar_file.calendar_attachment(of_view(view), receiver, langs, stem)
    text_env, html_env = environment("text"), environment("html")
    subject = " ".join(text_env.get_template(templates[0]).render(context).split())
    text_body = text_env.get_template(templates[1]).render(context, fmt=FMT["text"])
    html_body = html_env.get_template(templates[2]).render(context, fmt=FMT["html"])
    return "message/rfc822", assemble(receiver, view.now, subject, text_body, html_body,
                                      identity=_identity(view, receiver), thread=view.thread, attachment=attachment,
                                      calendar=calendar)


def _identity(view: View, receiver: Receiver) -> tuple[str, ...]:
    """What names the email (its Message-ID): the communication and the receiver; a reminder, which shares its
    communication with the notice it reminds of, by its kind and point too."""
    r = view.reminder
    return (view.key, receiver.name) + ((r.kind, times.iso_utc(r.due) or "", str(r.before or "")) if r else ())


def for_managers(view: View, receiver: Receiver) -> bool:
    """Maintenance to a managers' receiver; any other news reads the same for everyone."""
    return receiver.audience == "managers" and view.shows_vms


def manager_context(view: View, receiver: Receiver, shown: tuple[VmRow, ...]) -> dict[str, object]:
    """What the managers' templates read besides the on-call context: the week's decisions (none once the
    maintenance is closed: complete, canceled, or every VM done), and the listed rows with their owner and environment."""
    table = tuple(tagged(row, receiver.tags) for row in shown)
    return {
        "decisions": decisions(() if view.closed else view.rows, view.now, receiver.tags),
        "decision_rows": DECISION_ROWS,
        "notes": ("self_service", "deallocated") if view.reboot_count and not view.closed else (),
        "table": table,
        "owner_column": any(vm.owner for vm in table),
        "environment_column": any(vm.environment for vm in table),
    }


def assemble(receiver: Receiver, now, subject: str, text_body: str, html_body: str, *, identity: tuple[str, ...],
             thread: str | None = None, attachment: Attachment | None = None,
             calendar: calendar_file.CalendarFile | None = None) -> bytes:
    """The email's bytes: text then HTML, and the attachments when given: the CSV, then the calendar entries
    (text/calendar; method=PUBLISH, which Outlook offers to add). `identity` names the message (its Message-ID
    derives from it); messages with the same `thread` share a parent, as one conversation."""
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = receiver.options.get("from") or DEFAULT_FROM
    msg["To"] = receiver.options.get("to") or DEFAULT_TO
    msg["Date"] = format_datetime(now)
    domain = msg["From"].addresses[0].domain or "relay.invalid"
    msg["Message-ID"] = f"<{_digest(*identity)}@{domain}>"
    if thread is not None:
        parent = f"<thread-{_digest(thread)}@{domain}>"
        msg["References"] = parent
        msg["In-Reply-To"] = parent
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text_body, charset="utf-8", cte="base64")
    msg.add_alternative(html_body, subtype="html", charset="utf-8", cte="base64")
    if attachment is not None:
        maintype, subtype = ("application", "zip") if attachment.zipped else ("text", "csv")
        msg.add_attachment(attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename)
    if calendar is not None:
        msg.add_attachment(calendar.data, maintype="text", subtype="calendar", filename=calendar.filename,
                           params={"method": "PUBLISH", "charset": "utf-8"})
    # Fixed boundaries (random by default) make the same notification the same bytes; "_" never
    # occurs in the base64 bodies.
    for i, part in enumerate(p for p in msg.walk() if p.is_multipart()):
        part.set_boundary(f"relay_{_digest(msg['Message-ID'])}_{i}")
    return msg.as_bytes(policy=UNFOLDED)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]


def _file_part(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9-]+", "_", value)[:40].strip("_")


# ---------------------------------------------------------------------------------------------------
# The CSV attachment.

CSV_COLUMNS = (
    "name",
    "resource_group",
    "subscription",
    "location",
    "state",
    "self_service_start",
    "self_service_start_jst",
    "self_service_end",
    "self_service_end_jst",
    "scheduled_start",
    "scheduled_start_jst",
    "scheduled_end",
    "scheduled_end_jst",
    "risks",
    "last_attempt",
)


def vm_csv(view: VmTable, langs: tuple[str, ...]) -> bytes:
    """Every affected VM, most urgent first, as UTF-8 CSV with a byte-order mark (Excel reads Japanese right).
    Each time in UTC (ISO 8601), then the same in JST as Excel reads a date and time (2027-01-06 09:00)."""
    labels = macros("text", "common/labels.j2")
    lang0 = langs[0]  # cells in the first language, headers in all: the file stays small enough to mail
    state_labels = {key: labels.state(key, lang0) for key, _ in view.counts}
    risk_labels: dict[str, str] = {}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([labels.each(labels.title, key, langs) for key in CSV_COLUMNS])
    for row in view.rows:
        risks = []
        for risk in row.risks:
            if risk not in risk_labels:
                risk_labels[risk] = labels.risk(risk, lang0)
            risks.append(risk_labels[risk])
        self_service, scheduled = row.self_service, row.scheduled
        writer.writerow(
            [
                _csv_safe(row.name),
                _csv_safe(row.resource_group),
                _csv_safe(row.subscription_id),
                _csv_safe(row.location),
                state_labels[row.state],
                *_utc_and_jst(self_service.start if self_service else None),
                *_utc_and_jst(self_service.end if self_service else None),
                *_utc_and_jst(scheduled.start if scheduled else None),
                *_utc_and_jst(scheduled.end if scheduled else None),
                "; ".join(risks),
                _csv_safe(row.last_attempt),
            ]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _utc_and_jst(when: datetime | None) -> tuple[str, str]:
    """Two CSV cells: 2027-01-06T00:00:00Z and 2027-01-06 09:00; both empty when the time is unknown."""
    if when is None:
        return "", ""
    return times.iso_utc(when) or "", f"{times.to_jst(when):%Y-%m-%d %H:%M}"


def _csv_safe(value: str | None) -> str:
    """A cell Excel will not run as a formula (=, +, -, @ at the start)."""
    value = value or ""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
