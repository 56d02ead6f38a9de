"""The notices of `relay maintain start`: who started it (from the token's claims, else the OS user), and
what the started and finished notices say, in both languages, in the maintenance's thread."""
import base64
import getpass
import json
from datetime import UTC, datetime

from relay.maintain.execute import Outcome, Result
from relay.maintain.notice import LIST_LIMIT, Run, finished, interrupted, operator, started
from relay.maintain.plan import Skip, Skipped
from relay.model import EventKind
from tests.factories import make_vm

AT = datetime(2026, 1, 20, 3, 0, tzinfo=UTC)


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
    assert "Sato" in first.communication and "VM 23 台" in first.communication
    assert "ほか 3 台" in first.communication and "and 3 more" in first.communication
    results = [Result(vms[0], Outcome.COMPLETED), Result(vms[1], Outcome.FAILED, "OperationNotAllowed: no"),
               Result(vms[2], Outcome.TIMED_OUT)]
    last = finished(run, results, [Skipped(vms[3], Skip.SCHEDULED)], AT)
    assert last.thread_key == first.thread_key and last.dedup_key != first.dedup_key
    assert last.status != first.status
    assert "完了 1 台・失敗 2 台" in last.title and "1 completed, 2 failed" in last.title
    assert "OperationNotAllowed: no" in last.communication
    assert "did not end in time" in last.communication and "時間内に終わりませんでした" in last.communication
    assert "セルフサービスの対象外です" in last.communication


def test_an_interrupted_run_says_the_operations_go_on_in_the_same_thread():
    vms = tuple(make_vm(f"vm-{i}").vm for i in range(3))
    run = Run("abc123", "Sato", "XY12-3ZQ", vms, waves=1, max_parallel=5)
    stopped = interrupted(run, AT)
    assert stopped.thread_key == started(run, AT).thread_key and stopped.dedup_key != started(run, AT).dedup_key
    assert "開始済みの操作は Azure で続いています" in stopped.communication
    assert "Operations already started go on in Azure" in stopped.communication
    assert "vm-0、vm-1、vm-2" in stopped.communication
