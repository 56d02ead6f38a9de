"""Azurite, the Storage emulator from npm (package.json), for the tests and benchmarks: in memory, telemetry
off, on free loopback ports. A test module asks for it with `pytest_plugins = ["tests.azurite"]` and gets
the connection string from the `azurite` fixture (one Azurite per test session); a benchmark uses the
`Azurite` class itself.
"""
from __future__ import annotations

import queue
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

BINARY = Path(__file__).resolve().parent.parent / "node_modules" / ".bin" / "azurite"
ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key, the same in every installation; it guards nothing.
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
START_SECONDS = 60
_LISTENING = re.compile(r"Azurite (Blob|Queue|Table) service is successfully listening at (http://\S+)")


class AzuriteUnavailable(RuntimeError):
    """Azurite is not installed, or did not start; the message says which and what it printed."""


class Azurite:
    def __init__(self, workdir: Path):
        if not BINARY.exists():
            raise AzuriteUnavailable("Azurite is not installed: run npm ci (or make test)")
        workdir.mkdir(parents=True, exist_ok=True)
        # Port 0: the system picks free ports, and Azurite prints them.
        self.process = subprocess.Popen(
            [str(BINARY), "--blobPort", "0", "--queuePort", "0", "--tablePort", "0",
             "--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck", "--silent"],
            cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        try:
            endpoints = self._endpoints()
            _wait_until_it_answers(endpoints["Queue"])
        except BaseException:
            self.close()
            raise
        self.connection_string = (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
            f"BlobEndpoint={endpoints['Blob']}/{ACCOUNT};QueueEndpoint={endpoints['Queue']}/{ACCOUNT};"
            f"TableEndpoint={endpoints['Table']}/{ACCOUNT};")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def _endpoints(self) -> dict[str, str]:
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_pump, args=(self.process.stdout, lines), daemon=True).start()
        endpoints: dict[str, str] = {}
        seen: list[str] = []
        deadline = time.monotonic() + START_SECONDS
        while len(endpoints) < 3:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AzuriteUnavailable(f"Azurite did not start within {START_SECONDS} s:\n{''.join(seen)}") from None
            if not line:
                raise AzuriteUnavailable(f"Azurite exited ({self.process.wait()}):\n{''.join(seen)}")
            seen.append(line)
            if match := _LISTENING.search(line):
                endpoints[match[1]] = match[2]
        return endpoints


@pytest.fixture(scope="session")
def azurite(tmp_path_factory) -> Iterator[str]:
    try:
        emulator = Azurite(tmp_path_factory.mktemp("azurite"))
    except AzuriteUnavailable as e:
        pytest.fail(str(e), pytrace=False)
    try:
        yield emulator.connection_string
    finally:
        emulator.close()


def _pump(stream, lines: queue.Queue[str]) -> None:
    """Reads the output to the end, so that Azurite never blocks on a full pipe; "" marks the end."""
    for line in stream:
        lines.put(line)
    lines.put("")


def _wait_until_it_answers(endpoint: str) -> None:
    deadline = time.monotonic() + START_SECONDS
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/{ACCOUNT}?comp=list", timeout=5)
            return
        except urllib.error.HTTPError:  # any answer will do (this one is unauthenticated)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise AzuriteUnavailable(f"Azurite does not answer at {endpoint}") from None
            time.sleep(0.1)


@pytest.fixture(params=["sqlite", pytest.param("tables", marks=pytest.mark.integration)])
def open_ledger(request, tmp_path):
    """Opens a ledger on one storage, SQLite or a fresh table of Azurite: each call another ledger object on it, as
    another process (or the same one started again) would have."""
    from relay.store.sqlite import SqliteLedger
    from relay.store.tables import TableLedger

    opened = []
    table = f"ledger{uuid.uuid4().hex[:16]}"

    def opener():
        if request.param == "sqlite":
            ledger = SqliteLedger(tmp_path / "ledger.sqlite")
        else:
            ledger = TableLedger.from_connection_string(request.getfixturevalue("azurite"), table)
        opened.append(ledger)
        return ledger

    yield opener
    for ledger in opened:
        ledger.close()
