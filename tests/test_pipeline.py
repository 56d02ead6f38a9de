"""The whole pipeline over the bundled examples, with the real ledger, inventory, renderers and outbox."""
import fnmatch
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import pytest

from relay.cli import main
from relay.config import default_config, load_config
from relay.hosts.wiring import Paths, open_relay
from relay.model import SendResult
from relay.pipeline import process
from relay.render.markup import macros, plain
from relay.store import Seen
from tests.render_fixtures import card_texts, email_parts, parse_email, slack_payload, slack_texts

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NOW = datetime(2027, 1, 12, tzinfo=UTC)
INVENTORIES = Path(__file__).resolve().parent / "inventories"  # the VMs before and after Azure rescheduled
RESCHEDULED_AT = datetime(2027, 1, 20, 8, 45, tzinfo=UTC)


LABELS = macros("text", "common/labels.j2")


class Windows(NamedTuple):
    """The maintenance window of examples/alerts/01 (Planned) and 03 (Rescheduled), in JST as one language
    says it: its end moved from 2027-02-20 15:00 UTC to 2027-02-27 15:00 UTC."""

    lang: str
    planned: str
    rescheduled: str


WINDOWS = (
    Windows("ja", "2027年1月6日(水) 9:00〜2月21日(日) 0:00 JST", "2027年1月6日(水) 9:00〜2月28日(日) 0:00 JST"),
    Windows("en", "Wed 6 Jan 2027 09:00 – Sun 21 Feb 2027 00:00 JST", "Wed 6 Jan 2027 09:00 – Sun 28 Feb 2027 00:00 JST"),
)


def alert(name: str) -> bytes:
    return next((EXAMPLES / "alerts").glob(f"{name}*.json")).read_bytes()


@pytest.fixture
def relay(tmp_path):
    relay = open_relay(default_config(), Paths(EXAMPLES / "inventory.json", tmp_path / "ledger.sqlite",
                                               tmp_path / "outbox"), now=NOW)
    relay.sleep = lambda seconds: None
    yield relay
    relay.ledger.close()


def files(tmp_path) -> list[str]:
    return sorted(str(p.relative_to(tmp_path / "outbox")) for p in (tmp_path / "outbox").glob("*/*"))


def test_planned_maintenance_reaches_every_channel_once(relay, tmp_path):
    first = process(alert("01"), relay)
    assert first.seen is Seen.NEW and first.ok
    assert first.vm_count > 0
    written = files(tmp_path)
    assert [f.split("/")[0] for f in written] == ["email", "slack", "teams"]
    assert fnmatch.fnmatch(written[0], "*-XY12-3ZQ-*-Planned.eml") and fnmatch.fnmatch(written[2], "*-XY12-3ZQ-*-Planned.json")

    again = process(alert("02"), relay)  # the Action Group redelivers the same communication
    assert again.status == "duplicate" and again.deliveries == ()
    assert files(tmp_path) == written


def readable(path: Path) -> str:
    """What a reader of the message sees, whichever the channel: card texts, Slack text and blocks, the
    email's subject and text part."""
    body = path.read_bytes()
    if path.parent.name == "teams":
        return "\n".join(card_texts(body))
    if path.parent.name == "slack":
        return "\n".join(slack_texts(slack_payload(body)))
    mail = parse_email(body)
    return "\n".join([mail["Subject"], email_parts(mail)[0]])


def moved_line(text: str, w: Windows) -> str | None:
    """The "what changed" line: the Planned window, then →, then the Rescheduled one."""
    for line in text.splitlines():
        before, arrow, after = line.partition("→")
        if arrow and w.planned in before and w.rescheduled in after:
            return line
    return None


def what_changed_is_missing(text: str) -> list[str]:
    """What an update of the Planned notice must say and this text does not, in both languages: that it is
    an update (the headline's mark), the window old → new, and the previous window as a fact of its own
    (labels from templates/common/labels.j2)."""
    missing = []
    for w in WINDOWS:
        update = plain(LABELS.title("update", w.lang))
        mark = f"（{update}）" if w.lang == "ja" else f"({update.lower()})"
        if mark not in text:
            missing.append(f"the update mark {mark}")
        if moved_line(text, w) is None:
            missing.append(f"the line {w.planned} → {w.rescheduled}")
        previous = plain(LABELS.title("prior_window", w.lang))
        if not re.search(re.escape(previous) + r"[*:：\s]*" + re.escape(w.planned), text):
            missing.append(f"the fact {previous}: {w.planned}")
    return missing


def test_rescheduled_is_an_update_of_the_planned_thread(relay, tmp_path):
    process(alert("01"), relay)
    update = process(alert("03"), relay)
    assert update.seen is Seen.NEW and update.ok
    outbox = tmp_path / "outbox"
    rescheduled = sorted(outbox.glob("*/*-XY12-3ZQ-*-Rescheduled.*"))
    assert [p.parent.name for p in rescheduled] == ["email", "slack", "teams"]
    for path in rescheduled:
        assert what_changed_is_missing(readable(path)) == [], path.parent.name
    (planned_mail,) = outbox.glob("email/*-Planned.eml")
    thread = parse_email(planned_mail.read_bytes())["In-Reply-To"]
    assert thread and parse_email(rescheduled[0].read_bytes())["In-Reply-To"] == thread


def test_relay_process_tells_the_old_and_the_new_window_in_jst(tmp_path, capsys):
    outbox = tmp_path / "outbox"
    alerts = [str(EXAMPLES / "alerts" / name) for name in ("01-planned.json", "03-rescheduled.json")]
    status = main(["process", *alerts, "--inventory", str(EXAMPLES / "inventory.json"), "--outbox", str(outbox),
                   "--state", str(tmp_path / "ledger.sqlite"), "--now", "2027-01-12T00:00:00Z"])
    assert status == 0, capsys.readouterr()
    rescheduled = sorted(outbox.glob("*/*-Rescheduled.*"))
    assert len(rescheduled) == 3
    for path in rescheduled:
        text = readable(path)
        assert [w.lang for w in WINDOWS if moved_line(text, w) is None] == [], path.parent.name


def test_a_late_communication_never_rolls_the_story_back(relay, tmp_path):
    process(alert("01"), relay)
    process(alert("05"), relay)  # Complete
    written = files(tmp_path)
    late = process(alert("03"), relay)  # Rescheduled, delivered after Complete
    assert late.status == "superseded" and late.superseded_by == "Complete" and late.ok
    assert late.deliveries == () and files(tmp_path) == written


class Flaky:
    """A channel adapter that fails a given number of times first."""

    def __init__(self, failures: int, retryable: bool = True, retry_after: float | None = None):
        self.failures, self.retryable, self.retry_after, self.sent = failures, retryable, retry_after, []

    def send(self, message):
        if self.failures:
            self.failures -= 1
            return SendResult.failed("HTTP 503", retryable=self.retryable, retry_after=self.retry_after)
        self.sent.append(message)
        return SendResult.delivered()


def test_retries_honour_retry_after_and_then_deliver(relay):
    flaky, good, waits = Flaky(failures=2, retry_after=7), Flaky(failures=0), []
    relay.channel_for = lambda receiver: flaky if receiver.name == "teams" else good
    relay.sleep = waits.append
    outcome = process(alert("01"), relay)
    assert outcome.ok and waits == [7, 7]
    assert {d.receiver: d.attempts for d in outcome.deliveries} == {"teams": 3, "slack": 1, "email": 1}


def test_a_cut_off_delivery_is_resumed_without_resending_the_rest(relay):
    flaky = Flaky(failures=99)
    good = Flaky(failures=0)
    relay.channel_for = lambda receiver: flaky if receiver.name == "slack" else good
    first = process(alert("01"), relay)
    assert not first.ok and first.retryable
    assert len(good.sent) == 2

    flaky.failures = 0  # Slack is back; the Action Group (or the queue) delivers the alert again
    second = process(alert("01"), relay)
    assert second.seen is Seen.RESUMED and second.ok
    assert [d.receiver for d in second.deliveries if d.skipped] == ["teams", "email"]
    assert len(flaky.sent) == 1 and len(good.sent) == 2
    assert process(alert("01"), relay).status == "duplicate"


def test_a_permanent_failure_is_not_retried(relay):
    broken = Flaky(failures=99, retryable=False)
    relay.channel_for = lambda receiver: broken
    outcome = process(alert("06"), relay)
    assert not outcome.ok and not outcome.retryable
    assert {d.attempts for d in outcome.deliveries} == {1}


class Throttled(Flaky):
    """A paced channel: the pipeline must wait through its pacer, not by sleeping itself."""

    def __init__(self, failures: int, retry_after: float):
        super().__init__(failures, retry_after=retry_after)
        from relay.channels import RateLimit

        self.limit = RateLimit("sink", per_second=1000)


def test_a_retry_budget_bounds_the_time_spent_and_the_failure_is_kept(relay):
    clock = {"now": 0.0}
    relay.monotonic = lambda: clock["now"]
    relay.sleep = lambda seconds: clock.__setitem__("now", clock["now"] + seconds)
    relay.pacer = None
    relay.__post_init__()
    relay.budget_seconds = 100
    always_429, good = Throttled(failures=999, retry_after=30), Flaky(failures=0)
    relay.channel_for = lambda receiver: always_429 if receiver.name == "teams" else good  # only its lane waits
    outcome = process(alert("01"), relay)
    assert not outcome.ok and outcome.retryable
    (teams,) = [d for d in outcome.deliveries if d.receiver == "teams"]
    assert teams.attempts == 4  # at 0, 30, 60, 90 s; one more wait would pass 100 s
    assert "gave up after 4 attempt(s)" in teams.result.detail
    assert not relay.ledger.delivered(outcome.event.dedup_key, "teams")


def relay_with(inventory: str, tmp_path, now: datetime):
    """One run of the relay on the ledger and outbox in tmp_path, with the VMs as tests/inventories/ has them."""
    relay = open_relay(default_config(), Paths(INVENTORIES / inventory, tmp_path / "ledger.sqlite", tmp_path / "outbox"),
                       now=now)
    relay.sleep = lambda seconds: None
    return relay


def test_each_receiver_hears_what_moved_since_its_own_last_notice_never_since_this_one(tmp_path):
    planned = relay_with("rescheduled-before.json", tmp_path, NOW)
    process(alert("01"), planned)
    planned.ledger.close()
    relay = relay_with("rescheduled-after.json", tmp_path, RESCHEDULED_AT)
    slack, others = Flaky(failures=99), Flaky(failures=0)
    relay.channel_for = lambda receiver: slack if receiver.name == "slack" else others
    first = process(alert("03"), relay)
    key, thread = first.event.dedup_key, first.event.thread_key
    assert not first.ok and first.retryable and len(others.sent) == 2
    told_teams = relay.ledger.last_told(thread, "teams", other_than="")
    assert told_teams is not None and told_teams.notification_key == key  # kept once delivered
    assert {vm.name for vm in told_teams.vms} == {"vm-db-04", "vm-web-01", "vm-web-02", "vm-db-02", "vm-ops-01"}
    told_slack = relay.ledger.last_told(thread, "slack", other_than="")
    assert told_slack is not None and told_slack.notification_key != key  # not while its delivery failed

    slack.failures = 0  # Slack is back; the queue delivers the alert again
    again = process(alert("03"), relay)
    assert again.seen is Seen.RESUMED and again.ok and len(slack.sent) == 1 and len(others.sent) == 2
    said = "\n".join(slack_texts(slack_payload(slack.sent[0].body)))
    # compared with the Planned notice Slack got, not with what this communication told the others
    assert "vm-db-04: セルフサービス期限 2/10(水) 9:00 → 2/17(水) 9:00 JST" in said
    told_slack = relay.ledger.last_told(thread, "slack", other_than="")
    assert told_slack is not None and told_slack.notification_key == key
    relay.ledger.close()


BATCH_TEAM = """
receivers:
  - {name: platform, channel: outbox, format: teams, language: both}
  - {name: batch-team, channel: outbox, format: slack, language: ja}
route:
  receiver: platform
  routes:
    - {receiver: platform, continue: true}
    - {receiver: batch-team, match: {resource_group: rg-batch}}
"""


def test_a_receiver_whose_vms_all_left_hears_that_they_did_once(tmp_path):
    (tmp_path / "relay.yaml").write_text(BATCH_TEAM, encoding="utf-8")
    config = load_config(tmp_path / "relay.yaml")

    def run(name: str, inventory: str, now: datetime) -> list[str]:
        relay = open_relay(config, Paths(INVENTORIES / inventory, tmp_path / "ledger.sqlite", tmp_path / "outbox"),
                           now=now)
        try:
            outcome = process(alert(name), relay)
        finally:
            relay.ledger.close()
        assert outcome.ok
        return sorted(d.receiver for d in outcome.deliveries)

    assert run("01", "rescheduled-before.json", NOW) == ["batch-team", "platform"]  # vm-batch-01
    assert run("03", "rescheduled-after.json", RESCHEDULED_AT) == ["batch-team", "platform"]  # it left
    [told] = (tmp_path / "outbox" / "batch-team").glob("*-Rescheduled.json")
    said = slack_texts(slack_payload(told.read_bytes()))
    assert any("対象外になった VM: vm-batch-01" in text for text in said)
    assert run("04", "rescheduled-after.json", RESCHEDULED_AT) == ["platform"]  # told already: nothing more


def test_only_maintenance_keeps_what_it_told(relay):
    incident = process(alert("06"), relay)
    assert incident.ok and relay.ledger.last_told(incident.event.thread_key, "teams", other_than="") is None
