"""The notices of `relay maintain start`: who started it (from the token's claims, else the OS user), and
what the started and finished notices say, in both languages, in the maintenance's thread."""
import base64
import getpass
import json
from datetime import UTC, datetime

from relay.maintain.execute import Outcome, Result
from relay.maintain.notice import Run, finished, interrupted, operator, started
from relay.maintain.plan import Skip, Skipped
from relay.model import Enriched, Event, EventKind, Notification
from relay.render.notices import worded
from relay.render.view import build_view
from tests.factories import make_vm

AT = datetime(2026, 1, 20, 3, 0, tzinfo=UTC)
LIST_LIMIT = 20  # VMs a list names (templates/notices/maintain.j2); the rest are counted


def words(event: Event) -> tuple[str, str]:
    """The notice's title and text, as every channel words them for a bilingual receiver."""
    view = worded(build_view(Notification(Enriched(event, AT))), ("ja", "en"))
    return view.title, view.communication


def token(claims: dict) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJub25lIn0.{payload}.signature"


def test_operator_is_the_user_or_application_the_token_names_else_the_os_user():
    assert operator(token({"upn": "hanako@example.co.jp", "appid": "x"})) == "hanako@example.co.jp"
    assert operator(token({"appid": "1234"})) == "application 1234"
    assert operator("emulator.not-a-jwt") == getpass.getuser()
    assert operator(None) == getpass.getuser()


def test_started_and_finished_notices_share_the_thread_and_differ_as_files():
    vms = tuple(make_vm(f"vm-{i}").vm for i in range(LIST_LIMIT + 3))
    run = Run("abc123", "Sato", "XY12-3ZQ", vms, waves=5, max_parallel=5)
    first = started(run, AT)
    assert first.kind is EventKind.RELAY and first.thread_key == "XY12-3ZQ"
    _, text = words(first)
    assert "Sato" in text and "VM 23 台" in text
    assert "ほか 3 台" in text and "and 3 more" in text
    results = [Result(vms[0], Outcome.COMPLETED), Result(vms[1], Outcome.FAILED, "OperationNotAllowed: no"),
               Result(vms[2], Outcome.TIMED_OUT)]
    last = finished(run, results, [Skipped(vms[3], Skip.SCHEDULED)], AT)
    assert last.thread_key == first.thread_key and last.dedup_key != first.dedup_key
    assert last.status != first.status
    title, text = words(last)
    assert "完了 1 台・失敗 2 台" in title and "1 completed, 2 failed" in title
    assert "OperationNotAllowed: no" in text
    assert "did not end in time" in text and "時間内に終わりませんでした" in text
    assert "セルフサービスの対象外です" in text


def test_an_interrupted_run_says_the_operations_go_on_in_the_same_thread():
    vms = tuple(make_vm(f"vm-{i}").vm for i in range(3))
    run = Run("abc123", "Sato", "XY12-3ZQ", vms, waves=1, max_parallel=5)
    stopped = interrupted(run, AT)
    assert stopped.thread_key == started(run, AT).thread_key and stopped.dedup_key != started(run, AT).dedup_key
    _, text = words(stopped)
    assert "開始済みの操作は Azure で続いています" in text
    assert "Operations already started go on in Azure" in text
    assert "vm-0、vm-1、vm-2" in text


def test_a_notice_in_the_maintenances_thread_is_not_worded_as_an_update_of_azures_notice():
    from relay.model import PriorNotice, Receiver, Window
    from relay.render import render

    run = Run("abc123", "Sato", "XY12-3ZQ", (make_vm("vm-1").vm,), waves=1, max_parallel=1)
    prior = PriorNotice("Planned", Window(AT, AT), AT)  # what the thread said before: Azure's Planned
    notification = Notification(Enriched(started(run, AT), AT), prior)
    assert not build_view(notification).is_update and build_view(notification).prior_window is None
    card = render(notification, Receiver("platform", "teams")).body.decode()
    assert "（更新）" not in card and "(update)" not in card


def test_each_part_of_the_outcome_is_a_line_of_its_own():
    vms = tuple(make_vm(f"vm-{i}").vm for i in range(3))
    run = Run("abc123", "Sato", "XY12-3ZQ", vms, waves=1, max_parallel=1)
    results = [Result(vms[0], Outcome.COMPLETED, "", 300.0), Result(vms[1], Outcome.FAILED, "aborted", 30.0)]
    _, text = words(finished(run, results, [Skipped(vms[2], Skip.ALREADY_UPDATED)], AT))
    for line in ("完了: vm-0", "・vm-1: aborted", "開始しなかった VM:", "Completed: vm-0", "- vm-1: aborted",
                 "Not started:"):
        assert f"\n{line}" in text, line
