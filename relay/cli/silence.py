"""`relay silence add|list|expire`: hold back the messages that match, for a while, as Alertmanager's silences do."""
from __future__ import annotations

import argparse
import os
import re
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

from relay.cli.common import EXIT_OK, add_now, config_of, fail, instant
from relay.cli.vm_table import jst_minute, text_table
from relay.config.followup import duration
from relay.hold.silences import matchers_text
from relay.model import SILENCE_FIELDS, EventKind, Matcher, Silence
from relay.render.times import format_duration, format_time_both
from relay.store.holds import RecordTooLarge

LONGEST = timedelta(days=90)
COLUMNS = ("id", "state", "matchers", "start – end (JST)", "by", "comment")  # of `relay silence list`

DESCRIPTION = """\
A silence keeps the messages it matches from going out for a while: planned work you know of, a noisy
subscription, a team away for the day. Every matcher must hold for every VM of a receiver's share (the
VM's subscription, resource group, tags and region, and the event's fields), or for the event itself
when it names no VM: a silence that matches only some of a team's VMs does not silence the message, as
the others still need telling. Values compare in any case ("Japan East" and japaneast are one region);
a regular expression must match the whole value.

Matched messages are held, not dropped. When the silence ends (its end passes, or it is expired), the
next `relay remind` pass (every 15 minutes on the Function App) sends each receiver one message per
event still open, with its latest state. The relay's own notices are never silenced.

Silences are kept in the ledger: the config's SQLite file (or --state), or Table Storage when
RELAY_TABLES_CONNECTION is set, as on the Function App. Times are shown in JST with UTC beside."""

EPILOG = """\
examples:
  relay silence add --match resource_group=rg-web --for 2h --by sato --comment "web tier patching"
  relay silence list
  relay silence list --all                   the expired ones too
  relay silence expire 1a2b3c4d              end it now"""

ADD_DESCRIPTION = f"""\
Adds a silence from --start (default now) for --for, or until --until, and prints its id. FIELD is
one of subscription, resource_group, tag:NAME (a VM's tag), region, service, kind (maintenance,
incident, health_advisory, security, resource_health, scheduled, alert), stage (Planned, Rescheduled,
InProgress, …), tracking_id, or receiver (a receiver's name in the config). A time without a zone is
UTC: 2027-01-12T09:00+09:00 is 09:00 JST. A silence lasts at most {LONGEST.days} days.
Exit 2, saying why, when something is wrong."""

ADD_EPILOG = """\
examples:
  relay silence add --match resource_group=rg-web --for 2h --by sato --comment "web tier patching"
  relay silence add --match tag:env=dev --match-re "stage=Planned|Rescheduled" --until 2027-01-20T09:00+09:00 \\
      --by sato --comment "dev VMs: no maintenance news this week"
  relay silence add --match receiver=db-team --start 2027-01-12T09:00+09:00 --for 8h --by tanaka \\
      --comment "training day" --config relay.yaml"""


def register(command) -> None:
    p = command("silence", help="hold back the messages that match, for a while (add, list, expire)",
                description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(title="actions", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="silence what matches, from now or --start, for a while",
                             description=ADD_DESCRIPTION, epilog=ADD_EPILOG,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    add.add_argument("--match", action="append", default=[], type=_exact, metavar="FIELD=VALUE",
                     help="a field equal to VALUE, in any case (repeat: all must hold)")
    add.add_argument("--match-re", action="append", default=[], type=_regex, metavar="FIELD=REGEX",
                     help="a field matching REGEX whole, in any case (repeat: all must hold)")
    length = add.add_mutually_exclusive_group(required=True)
    length.add_argument("--for", dest="duration", type=_duration, metavar="DURATION", help="how long: 30m, 2h, 3d, 1w")
    length.add_argument("--until", type=instant, metavar="TIME", help="when it ends (ISO 8601; no zone = UTC)")
    add.add_argument("--start", type=instant, metavar="TIME", help="when it starts (ISO 8601; no zone = UTC);"
                     " default: now")
    add.add_argument("--by", required=True, metavar="NAME", help="who sets it")
    add.add_argument("--comment", required=True, metavar="TEXT", help="why (the list shows it beside the silence)")
    listing = actions.add_parser("list", help="show the active and pending silences (--all: the expired too)",
                                 description="Shows the silences active now and those still to start, by start:"
                                             " id, state, matchers (FIELD=VALUE, FIELD=~REGEX), start – end in JST,"
                                             " who set them and why.",
                                 epilog="examples:\n  relay silence list --config relay.yaml\n"
                                        "  relay silence list --all --now 2027-01-12T00:00:00Z",
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    listing.add_argument("--all", action="store_true", help="the expired silences too")
    expire = actions.add_parser("expire", help="end a silence now",
                                description="Ends the silence now: what it held of events still open goes out on"
                                            " the next `relay remind` pass. Exit 2 when no silence has the id.",
                                epilog="example:\n  relay silence expire 1a2b3c4d",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    expire.add_argument("id", metavar="ID", help="the silence's id, as `relay silence list` shows it")
    for action in (add, listing, expire):
        action.add_argument("--config", type=Path, help="YAML config: where the ledger is")
        action.add_argument("--state", type=Path, help="ledger file (SQLite); overrides the config"
                            " (default .relay/ledger.sqlite)")
        add_now(action)
    add.set_defaults(run=run_add)
    listing.set_defaults(run=run_list)
    expire.set_defaults(run=run_expire)


def run_add(args) -> int:
    now = args.now or datetime.now(UTC)
    starts = args.start or now
    ends = args.until or starts + args.duration
    matchers = (*args.match, *args.match_re)
    by, comment = args.by.strip(), args.comment.strip()
    if not matchers:
        return fail("a silence needs at least one --match or --match-re: what it silences")
    if not by or not comment:
        return fail("say who sets the silence (--by) and why (--comment)")
    if unknown := _never_matches(matchers, config_of(args).receivers()):
        return fail(unknown)
    if ends <= starts:
        return fail(f"the silence would end before it starts: from {format_time_both(starts, 'en')}"
                    f" until {format_time_both(ends, 'en')}")
    if ends <= now:
        return fail(f"the silence would be over already: it ends {format_time_both(ends, 'en')}")
    if ends - starts > LONGEST:
        return fail(f"a silence lasts at most {LONGEST.days} days, and this one would last"
                    f" {format_duration(ends - starts, 'en')}: one that long is easily forgotten; set a new one when"
                    " it ends")
    ledger = _ledger(args)
    try:
        silence = Silence(_new_id({s.id for s in ledger.silences()}), matchers, starts, ends, by, comment, now)
        ledger.add_silence(silence)
    except RecordTooLarge as e:
        return fail(f"{e}: shorten the comment or the matchers")
    finally:
        ledger.close()
    print(_summary(silence, now))
    return EXIT_OK


def run_list(args) -> int:
    now = args.now or datetime.now(UTC)
    ledger = _ledger(args)
    try:
        shown = [s for s in ledger.silences() if args.all or _state(s, now) != "expired"]
    finally:
        ledger.close()
    if not shown:
        print("no silences" if args.all else "no active or pending silences (--all shows the expired too)")
        return EXIT_OK
    print(text_table(COLUMNS, [dict(zip(COLUMNS, _row(s, now), strict=True)) for s in shown]))
    return EXIT_OK


def run_expire(args) -> int:
    now = args.now or datetime.now(UTC)
    ledger = _ledger(args)
    try:
        ended = ledger.expire_silence(args.id, now)
    finally:
        ledger.close()
    if ended is None:
        return fail(f"no silence has the id {args.id!r}: `relay silence list --all` shows them")
    print(_summary(ended, now))
    return EXIT_OK


def _ledger(args):
    from relay.hosts.wiring import open_ledger

    return open_ledger(args.state or config_of(args).ledger, os.environ)


def _never_matches(matchers: tuple[Matcher, ...], receivers) -> str | None:
    """Why an exact matcher on a receiver or a kind could never hold (a typo), or None."""
    kinds = [kind.value for kind in EventKind]
    for m in matchers:
        if m.regex:
            continue
        if m.field == "receiver" and m.value not in receivers:
            return f"no receiver is named {m.value!r}: the config has {', '.join(receivers)}"
        if m.field == "kind" and m.value.lower() not in kinds:
            return f"no kind is named {m.value!r}: the kinds are {', '.join(kinds)}"
    return None


def _new_id(taken: set[str]) -> str:
    while (silence_id := secrets.token_hex(4)) in taken:
        pass
    return silence_id


def _state(silence: Silence, now: datetime) -> str:
    if silence.ends <= now:
        return "expired"
    return "active" if silence.active(now) else "pending"


def _row(silence: Silence, now: datetime) -> tuple[str, ...]:
    return (silence.id, _state(silence, now), matchers_text(silence.matchers),
            f"{jst_minute(silence.starts)} – {jst_minute(silence.ends)}", silence.created_by, silence.comment)


def _summary(silence: Silence, now: datetime) -> str:
    state = _state(silence, now)
    starts, ends = format_time_both(silence.starts, "en"), format_time_both(silence.ends, "en")
    when = {"active": f"until {ends}", "pending": f"from {starts} until {ends}", "expired": f"at {ends}"}[state]
    matchers = matchers_text(silence.matchers)
    return f"{silence.id}  {state} {when}: {matchers} ({silence.created_by}: {silence.comment})"


def _matcher(text: str, regex: bool) -> Matcher:
    name, sep, value = text.partition("=")
    field, _, tag = name.strip().partition(":")
    if not sep or not value:
        raise argparse.ArgumentTypeError(f"not FIELD=VALUE: {text!r} (like resource_group=rg-web or tag:env=prod)")
    if field == "tag" and not tag.strip():
        raise argparse.ArgumentTypeError(f"a tag has a name: tag:NAME=VALUE, not {text!r}")
    if field not in SILENCE_FIELDS or (tag and field != "tag"):
        fields = ", ".join(f for f in SILENCE_FIELDS if f != "tag")
        raise argparse.ArgumentTypeError(f"no field {name.strip()!r}: the fields are {fields}, and tag:NAME")
    if regex:
        try:
            re.compile(value)
        except re.error as e:
            raise argparse.ArgumentTypeError(f"not a regular expression: {value!r} ({e})") from None
    return Matcher(field, value, regex=regex, tag=tag.strip())


def _exact(text: str) -> Matcher:
    return _matcher(text, regex=False)


def _regex(text: str) -> Matcher:
    return _matcher(text, regex=True)


def _duration(text: str) -> timedelta:
    span = duration(text)
    if not span:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (like 30m, 2h, 3d or 1w)")
    return span
