"""The digest as an email: text and HTML from templates/digest/, every VM in a CSV attachment (zipped when large),
and its maintenance as calendar entries (relay/calendar)."""
from __future__ import annotations

from relay.calendar.entries import Entry
from relay.calendar.file import CalendarFile, calendar_file
from relay.digest.view import DigestView
from relay.model import Message, Receiver
from relay.render import times
from relay.render.email import DECISION_ROWS, Attachment, assemble, vm_csv
from relay.render.markup import FMT, LANGUAGES, RenderError, environment


def digest_message(view: DigestView, receiver: Receiver, key: str, calendar: tuple[Entry, ...] = ()) -> Message:
    """`key` names this digest (one a day per receiver): the Message-ID and the ledger's record derive from it.
    `calendar`: the entries it carries, as a text/calendar attachment."""
    langs = LANGUAGES.get(receiver.language)
    if langs is None:
        raise RenderError(f"receiver {receiver.name!r}: unknown language {receiver.language!r}")
    day = f"{times.to_jst(view.now):%Y%m%d}"
    attachment = Attachment.csv(f"maintenance-vms-{day}", vm_csv(view, langs), view.now) if view.rows else None
    context = {"d": view, "langs": langs, "attached": attachment.kind if attachment else None,
               "decision_rows": DECISION_ROWS}
    text_env, html_env = environment("text"), environment("html")
    subject = " ".join(text_env.get_template("digest/subject.txt.j2").render(context).split())
    text_body = text_env.get_template("digest/body.txt.j2").render(context, fmt=FMT["text"])
    html_body = html_env.get_template("digest/body.html.j2").render(context, fmt=FMT["html"])
    ics = CalendarFile(f"maintenance-{day}.ics", calendar_file(calendar, receiver.name, langs)) if calendar else None
    body = assemble(receiver, view.now, subject, text_body, html_body, identity=(key,), attachment=attachment,
                    calendar=ics)
    return Message(
        receiver=receiver,
        notification_key=key,
        thread_key=f"digest/{receiver.name}",
        content_type="message/rfc822",
        body=body,
        summary=summary_line(view),
        file_stem=f"digest-{day}",
    )


def summary_line(view: DigestView) -> str:
    """One plain line for logs, the outbox index and `relay digest --dry-run`."""
    if view.empty:
        return "all clear: no maintenance in the horizon, nothing completed or canceled"
    alerts = f" alerts={view.alerts.total}" if view.alerts else ""
    silences = f" silences={len(view.silences)} held={sum(s.total for s in view.silences)}" if view.silences else ""
    return (f"maintenance={len(view.upcoming)} changed={len(view.changes)} closed={len(view.closed)}"
            f" vms={view.total} deadlines<={view.deadline_days}d={len(view.deadlines)} reboots={len(view.reboots)}"
            + alerts + silences)
