"""`relay serve` relays in a process of its own: at a lower CPU priority than the intake, started again when it
ends unasked, and never left running when relay serve is killed."""
import os
import signal
from pathlib import Path

import pytest

from tests.chaos import ROOT, Serve
from tests.polling import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")]


def relaying_processes(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def niceness(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def serve(tmp_path):
    (tmp_path / "relay.yaml").write_text(f"inventory: {ROOT / 'examples' / 'inventory.json'}\n"
                                         f"outbox: {tmp_path / 'outbox'}\n")
    server = Serve(tmp_path, {**os.environ, "PYTHONPATH": str(ROOT)}, workers=1)
    server.start()
    yield server
    server.stop()


def test_the_relaying_process_runs_below_the_intake_and_relays(serve, tmp_path):
    assert wait_for(lambda: len(relaying_processes(serve.process.pid)) == 1)
    child = relaying_processes(serve.process.pid)[0]
    assert wait_for(lambda: niceness(child) == niceness(serve.process.pid) + 10)
    assert serve.post((ROOT / "examples" / "alerts" / "01-planned.json").read_bytes()) == 202
    assert wait_for(lambda: any((tmp_path / "outbox").rglob("*.json")), seconds=30)


def test_a_relaying_process_that_ends_unasked_is_started_again(serve, tmp_path):
    assert wait_for(lambda: len(relaying_processes(serve.process.pid)) == 1)
    first = relaying_processes(serve.process.pid)[0]
    os.kill(first, signal.SIGKILL)
    assert wait_for(lambda: relaying_processes(serve.process.pid) not in ([], [first]), seconds=30)
    assert serve.post((ROOT / "examples" / "alerts" / "01-planned.json").read_bytes()) == 202
    assert wait_for(lambda: any((tmp_path / "outbox").rglob("*.json")), seconds=30)
    assert "the relaying process ended with -9; starting it again" in (tmp_path / "serve.log").read_text()


def test_killing_relay_serve_kills_its_relaying_process(serve):
    assert wait_for(lambda: len(relaying_processes(serve.process.pid)) == 1)
    child = relaying_processes(serve.process.pid)[0]
    serve.kill()
    assert wait_for(lambda: not alive(child))

