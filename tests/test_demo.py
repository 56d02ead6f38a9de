"""`relay demo`: the example maintenance played as it happens, each message at its own clock, and the
preview page that shows them; the platform receiver stands in for a Teams bot, a thread an event. The demo runs
once, in this process, for the whole module."""
import contextlib
import email
import email.policy
import fnmatch
import io
import json
import re
from pathlib import Path

import pytest

from relay.channels.outbox_thread import FIRST, REPLY, read_thread
from relay.cli import main
from relay.cli.outbox_page import CARD_RENDERER, RENDERER_BUNDLE
from relay.config import load_config
from relay.render.teams import OUTBOX_BOT_TRANSPORT
from tests.teams_card import card_of, elements

SELF_SERVICE = ("今すぐ開始", "Start now")  # the portal state, and the advice that names it
WAS = re.compile(r"(今すぐ開始|Start now)\s*→")  # a VM's old state in "what changed": news, not advice
SECTION = re.compile(r'<section class="msg" data-path="([^"]+)">\s*<div class="meta">(.*?)</div>', re.S)
POST = re.compile(r'<div class="entry \w+" id="[^"]+" data-path="([^"]+)">\s*<div class="sender">(.*?)</div>', re.S)
CLOCK = re.compile(r"demo clock: ([^<]+)</span>")
THREAD = "platform/XY12-3ZQ"  # the platform's thread of the planned maintenance
EXAMPLE_CONFIG = Path(__file__).resolve().parent.parent / "examples" / "relay.yaml"


class Demo:
    def __init__(self, outbox: Path, stdout: str, code: int):
        self.outbox, self.stdout, self.code = outbox, stdout, code
        self.page = (outbox / "index.html").read_text(encoding="utf-8")

    def messages(self, pattern: str = "*") -> list[Path]:
        """The files of the messages whose name (or `<receiver>/<name>`) matches, a bot thread's reply by its name
        without its number (a thread's first card, which becomes the latest, only by its own name: first.json)."""
        files = [p for p in self.outbox.glob("*/**/*") if p.suffix in (".json", ".eml") and not p.name.startswith(".")]
        return sorted(p for p in files if fnmatch.fnmatch(
            f"{p.relative_to(self.outbox).parts[0]}/{named(p)}" if "/" in pattern else named(p), pattern))

    def sent(self, pattern: str = "*") -> list[str]:
        """The names of the messages sent that match: a bot thread's start by the name its own file would have."""
        starts = [f"{read_thread(p.parent).start}.json" for p in self.outbox.glob(f"*/*/{FIRST}")]
        return sorted(fnmatch.filter([named(p) for p in self.messages() if p.name != FIRST] + starts, pattern))

    def clocks_on_page(self) -> dict[str, str]:
        """Each message's path → the demo clock its preview shows."""
        return {path: m.group(1) if (m := CLOCK.search(meta)) else ""
                for path, meta in SECTION.findall(self.page) + POST.findall(self.page)}


def named(path: Path) -> str:
    """A message file's name, a bot thread's reply without its number."""
    reply = REPLY.fullmatch(path.name) if (path.parent / FIRST).is_file() else None
    return f"{reply.group(2)}.json" if reply else path.name


def run_demo(outbox: Path) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["demo", "--outbox", str(outbox)])
    return code, out.getvalue()


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Demo:
    outbox = tmp_path_factory.mktemp("demo") / "outbox"
    code, stdout = run_demo(outbox)
    return Demo(outbox, stdout, code)


def readable(path: Path) -> str:
    """What a reader of the message sees: an email's subject and parts, else the payload."""
    if path.suffix != ".eml":
        return path.read_text(encoding="utf-8")
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    parts = [part.get_content() for part in message.walk() if part.get_content_type() in ("text/plain", "text/html")]
    return "\n".join([str(message["Subject"]), *parts])


def test_demo_writes_every_message_and_an_index(demo):
    assert demo.code == 0
    assert "duplicate" in demo.stdout and "index.html" in demo.stdout
    by_receiver = {folder.name: len([p for p in demo.messages() if p.is_relative_to(folder)])
                   for folder in demo.outbox.iterdir() if folder.is_dir()}
    # the platform gets all 8 alerts that are not the duplicate and 4 reminders, in 4 threads (the planned
    # maintenance, the incident, the Resource Health alert, the metric alert); the web team has no VM in the
    # incident's news, nor is the ExpressRoute circuit's metric alert (Fired, Resolved) its, and gets 4 reminders;
    # the database team has no VM in the incident nor the Resource Health alert, and gets In progress and Complete
    # when its quiet hours end, and 1 reminder; managers get Planned and Rescheduled, and one digest
    assert by_receiver == {"platform": 12, "web-team": 9, "db-team": 5, "managers": 3}
    threads = sorted(p.name for p in (demo.outbox / "platform").iterdir())
    assert len(threads) == 4 and "XY12-3ZQ" in threads and all((demo.outbox / "platform" / t / FIRST).is_file()
                                                               for t in threads)
    web = json.loads(next((demo.outbox / "web-team").glob("*Planned.json")).read_bytes())
    assert "vm-web-01" in json.dumps(web) and "vm-db-01" not in json.dumps(web)  # only the web team's VMs
    assert demo.page.count('class="msg') == len(demo.messages()) - 12 + 4  # a section a thread, not a message
    assert demo.page.count('class="entry ') == 12 and f"Outbox preview — {len(demo.messages())} messages" in demo.page


def test_the_managers_email_carries_its_calendar_entries_and_the_page_offers_each_feed(demo):
    for path in demo.messages("managers/*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        (entries,) = [a for a in message.iter_attachments() if a.get_content_type() == "text/calendar"]
        assert entries.get_param("method") == "PUBLISH"
        assert entries.get_payload(decode=True).count(b"BEGIN:VEVENT") == 2, path.name
    feeds = sorted(p.name for p in demo.outbox.glob("calendar-*.ics"))
    assert feeds == ["calendar-db-team.ics", "calendar-managers.ics", "calendar-platform.ics", "calendar-web-team.ics"]
    for name in feeds:
        assert f'href="{name}"' in demo.page
        assert (demo.outbox / name).read_bytes().startswith(b"BEGIN:VCALENDAR\r\n")
    assert "Subscribe from web" in demo.page


def test_each_alert_is_relayed_at_its_own_time_and_the_digest_on_its_own_morning(demo):
    own = [name for name in demo.sent("2*") if "-reminder-" in name or name.endswith("-released.json")]
    stamps = sorted({name.split("-")[0] for name in demo.sent("2*") if name not in own})
    assert stamps == ["20270106T001205Z", "20270114T021853Z", "20270114T023107Z", "20270114T030211Z",
                      "20270114T034940Z", "20270120T084051Z", "20270219T150630Z",
                      "20270227T160158Z"]  # each alert's eventTimestamp; a metric alert's fired and resolved times
    assert [p.name for p in demo.messages("digest-*")] == ["digest-20270215.eml"]
    assert sorted({name.split("-")[0] for name in own}) == ["20270214T000000Z", "20270216T000000Z", "20270218T150000Z",
                                                          "20270221T230000Z", "20270228T230000Z"]  # the passes
    order = [demo.stdout.index(when) for when in ("Wed 6 Jan 2027 09:12 JST", "Wed 20 Jan 2027 17:40 JST",
                                                  "Mon 15 Feb 2027 09:00 JST", "Sat 20 Feb 2027 00:06 JST")]
    assert order == sorted(order)  # told in the order it happened
    assert "inventory/2027-02-15-digest.json" in demo.stdout


def test_self_service_is_advised_while_it_is_open_and_never_after(demo):
    planned = [readable(p) for p in demo.messages("*-Planned.*")]
    assert planned and all(any(word in text for word in SELF_SERVICE) for text in planned)
    later = demo.messages("*-InProgress*") + demo.messages("*-Complete*")
    assert len(later) == 9  # platform, web-team, db-team (released), each for both stages; 3 reboot reminders
    for path in later:
        text = WAS.sub("", readable(path))
        assert not [word for word in SELF_SERVICE if word in text], path.name


def test_the_digest_is_dated_its_own_morning_with_the_deadlines_of_that_week(demo):
    digest = readable(demo.outbox / "managers" / "digest-20270215.eml")
    assert "2027年2月15日(月) 9:00 JST" in digest
    assert "2027年2月17日(水) 9:00 JST" in digest  # the self-service deadline two days later


def test_the_preview_says_nothing_was_sent_and_shows_each_message_at_its_clock(demo):
    assert "Preview — nothing was sent." in demo.page
    clocks = demo.clocks_on_page()
    assert len(clocks) == len(demo.messages()) and all(clocks.values())
    def clock(pattern: str) -> str:
        (name,) = [name for name in clocks if fnmatch.fnmatch(name, pattern)]
        return clocks[name]

    assert clock("db-team/20270106T001205Z-XY12-3ZQ-*-Planned.json") == "Wed 6 Jan 2027 09:12 JST (2027-01-06 00:12 UTC)"
    assert clocks["managers/digest-20270215.eml"] == "Mon 15 Feb 2027 09:00 JST (2027-02-15 00:00 UTC)"
    assert clock(f"{THREAD}/07-20270227T160158Z-XY12-3ZQ-*-Complete.json").startswith("Sun 28 Feb 2027 01:01 JST")
    assert clock(f"{THREAD}/{FIRST}").startswith("Wed 6 Jan 2027 09:12 JST")  # the thread's start


@pytest.mark.skipif(not (CARD_RENDERER / RENDERER_BUNDLE).is_file(), reason="npm package adaptivecards not installed")
def test_the_preview_draws_teams_cards_with_the_adaptive_cards_renderer(demo):
    assert "adaptivecards.min.js" in demo.page and "Permission is hereby granted" in demo.page
    cards = [p for p in demo.messages("*.json") if "application/vnd.microsoft.card.adaptive" in p.read_text()]
    assert len(cards) == 17 and demo.page.count("data-card=") == len(cards)


def test_reminders_go_before_the_deadline_and_the_reboots_each_team_its_own_vms(demo):
    reminders = sorted((demo.outbox / "web-team").glob("*-reminder-*"))
    web = [readable(p) for p in reminders]
    assert [p.name.split("-reminder-")[1] for p in reminders] == [
        "deadline-3d.json", "deadline-1d.json", "reboot-1d.json", "reboot-1d.json"]
    assert all("reminder" in text for text in web) and not any("vm-db-" in text for text in web)
    assert "vm-web-03" in web[0]  # Retry now, with the deadline three days away


def test_what_comes_in_db_teams_quiet_hours_goes_when_they_end_with_the_latest_state(demo):
    assert "db-team: reminder:deadline:3d XY12-3ZQ: held" in demo.stdout  # Sunday 09:00: it waits
    db_team = demo.outbox / "db-team"
    assert not list(db_team.glob("*-InProgress.json"))  # Saturday 00:06: held, not lost …
    (released,) = db_team.glob("*-InProgress-released.json")  # … released on Monday at 08:00
    assert released.name.startswith("20270221T230000Z")
    text = readable(released)
    assert "保留" in text and "2027年2月20日(土) 0:06 JST" in text  # held, and since when
    assert demo.clocks_on_page()["db-team/" + released.name].startswith("Mon 22 Feb 2027 08:00 JST")


def test_the_platform_reads_each_event_as_a_bot_thread_its_first_card_as_it_ends(demo):
    (platform,) = [r for r in load_config(EXAMPLE_CONFIG).routes if r.receiver.name == "platform"]
    assert platform.receiver.transport == OUTBOX_BOT_TRANSPORT  # channel outbox, format teams, via: bot
    thread = read_thread(demo.outbox / THREAD)
    assert thread.start.endswith("-XY12-3ZQ-fcab9025-Planned") and thread.key == "XY12-3ZQ"
    replies = [REPLY.fullmatch(name).group(2).split("-", 1)[1] for name in thread.replies]
    assert replies == ["XY12-3ZQ-4533f5cf-Rescheduled",
                       "XY12-3ZQ-4533f5cf-Rescheduled-reminder-deadline-3d",
                       "XY12-3ZQ-4533f5cf-Rescheduled-reminder-deadline-1d",
                       "XY12-3ZQ-4533f5cf-Rescheduled-reminder-reboot-1d",
                       "XY12-3ZQ-9dc4f7c9-InProgress",
                       "XY12-3ZQ-9dc4f7c9-InProgress-reminder-reboot-1d",  # Monday's reboots
                       "XY12-3ZQ-a219af3e-Complete"]
    first = (demo.outbox / THREAD / FIRST).read_bytes()
    assert first == (demo.outbox / THREAD / thread.replies[-1]).read_bytes()  # the Complete card, as the bot updated it

    def buttons(body: bytes) -> set[str]:
        return {e["verb"] for e in elements(card_of(body)) if e["type"] == "Action.Execute"}

    assert "[Complete] Japan East VM reboot XY12-3ZQ" in readable(demo.outbox / THREAD / FIRST)
    assert buttons(first) == {"ack"}  # I'm on it; nothing left to start
    assert buttons((demo.outbox / THREAD / thread.replies[0]).read_bytes()) == {"ack", "start"}  # Rescheduled
    assert not any(buttons(p.read_bytes()) for p in demo.messages("db-team/*.json"))  # the Workflows webhook's
    shown = demo.page[demo.page.index(f'data-path="{THREAD}"'):]
    assert ">7 replies</div>" in shown and "Edited: the card as of Sun 28 Feb 2027 01:01 JST" in shown
    assert shown.index(f'data-path="{THREAD}/{FIRST}"') < shown.index(f'data-path="{THREAD}/{thread.replies[0]}"')


def test_demo_can_run_again_over_its_own_outbox(tmp_path):
    assert run_demo(tmp_path / "outbox")[0] == 0
    assert run_demo(tmp_path / "outbox")[0] == 0


def test_demo_refuses_to_empty_a_folder_it_did_not_make(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    assert run_demo(tmp_path)[0] == 2
    assert (tmp_path / "precious.txt").exists()
