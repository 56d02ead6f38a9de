"""The render stage: one Notification → one channel-native Message per receiver, within the channel's budget.

    render(notification, receiver) -> Message

Wording lives in templates/ (common/ for labels and sentences every channel shares, then teams/, slack/,
email/). Python here decides layout and size, never words:

    view.py      what a notification says, as plain facts every channel shares (no wording)
    alert.py     what an Azure Monitor alert's message shows: severity and its tone, targets, criteria, times, links
    portal.py    the links into the Azure portal a message offers
    changes.py   per VM, what moved since the receiver's last notice; where Azure contradicts itself
    times.py     JST with weekday and UTC beside, in Japanese or English
    markup.py    each channel's escaping, and the Jinja environments that apply it
    notices.py   the relay's own notices worded in the receiver's languages (templates/notices/)
    budget.py    fitting the most urgent VMs into a channel's size limits
    teams.py     Adaptive Card in a Workflows envelope, ≤ 24 KiB
    slack.py     Block Kit: ≤ 50 blocks, ≤ 3,000 characters a section, ≤ 12,000 characters of blocks
    email.py     text and HTML, ≤ 50 rows in the body, a CSV of every VM attached
    sanitize.py  Azure's HTML made safe for an email
"""
from __future__ import annotations

from dataclasses import replace

from relay.model import Message, Notification, Receiver
from relay.render import email, slack, teams
from relay.render.changes import FEWER_CHANGE_LINES
from relay.render.markup import LANGUAGES, OverBudget, RenderError
from relay.render.notices import worded
from relay.render.view import View, build_view

_BUILDERS = {"teams": teams.message, "slack": slack.message, "email": email.message}


def render(notification: Notification, receiver: Receiver) -> Message:
    """The message for one receiver: Teams/Slack JSON or an RFC 822 email, in the receiver's language(s)."""
    langs = LANGUAGES.get(receiver.language)
    if langs is None:
        raise RenderError(f"receiver {receiver.name!r}: unknown language {receiver.language!r}")
    builder = _BUILDERS.get(receiver.channel)
    if builder is None:
        raise RenderError(f"receiver {receiver.name!r}: unknown channel {receiver.channel!r}")
    view = build_view(notification)
    if view.notice is not None:
        view = worded(view, langs)
    content_type, body = _within_budget(builder, view, langs, receiver)
    return Message(
        receiver=receiver,
        notification_key=view.key,
        thread_key=view.thread,
        content_type=content_type,
        body=body,
        summary=summary_line(view),
    )


def _within_budget(builder, view: View, langs: tuple[str, ...], receiver: Receiver) -> tuple[str, bytes]:
    """The channel's message; when even its fewest VM rows are over the channel's budget, again in shorter forms
    (_shorter), the last of which raises OverBudget if it still does not fit."""
    *longer, shortest = _shorter(view)
    for candidate in longer:
        try:
            return builder(candidate, langs, receiver)
        except OverBudget:
            continue
    return builder(shortest, langs, receiver)


def _shorter(view: View) -> list[View]:
    """The view, then with fewer per-VM change lines in the note (they repeat what the VM rows show), down to
    none (the changes are counted); an alert, then in brief (relay.render.alert.AlertView.brief)."""
    views = [view] + [replace(view, change_lines=n) for n in FEWER_CHANGE_LINES if view.changes and n < view.change_lines]
    if view.alert is not None:
        views.append(replace(view, alert=view.alert.brief()))
    return views


def summary_line(view: View) -> str:
    """One plain line for logs and the outbox index: kind (and reminder:<kind>, released:<reason>), stage,
    trackingId, VM count."""
    what = [view.kind]
    if view.reminder is not None:
        what.append(f"reminder:{view.reminder.kind}")
    if view.released is not None:
        what.append(f"released:{view.released.reason}")
    return f"{' '.join(what)} {view.stage or '-'} {view.tracking_id or '-'} vms={view.total}"
