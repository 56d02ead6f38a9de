"""Relaying what the inbox holds: `relay serve`'s worker threads, in the server's process or in one of their own.

The command runs them in a child process (`relay serve --relay-only PID`, which it starts itself), so that
relaying never holds the interpreter lock the intake answers with. The child dies with its parent: a relay serve
killed with SIGKILL must leave nothing running that its successor would find holding the inbox's items.
"""
from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import threading
import time

from relay.hosts import worker
from relay.hosts.parked import announce_parked
from relay.inbox.sqlite import SqliteInbox
from relay.pipeline import Relay

log = logging.getLogger("relay.serve")

# The relaying process yields the CPU to the intake: a 202 is owed within milliseconds, a message within seconds.
RELAYING_NICENESS = 10
RESTART_SECONDS = 5.0  # after the relaying process ended unasked, before it is started again
PR_SET_PDEATHSIG = 1  # Linux prctl(2): the signal this process gets when its parent dies
PARENT_CHECK_SECONDS = 1.0


class Relaying:
    def __init__(self, inbox: SqliteInbox, relay: Relay, workers: int = 1):
        self.inbox, self.relay = inbox, relay
        self.stopping = threading.Event()
        self.workers = [threading.Thread(target=worker.run, args=(inbox, relay, self.stopping), daemon=True,
                                         name=f"relay-worker-{n}") for n in range(workers)]

    def start(self) -> None:
        """What a killed predecessor on this machine had taken is taken up at once, and what it parked without
        telling anyone is announced (in the background: it may take a while)."""
        orphans = self.inbox.release_orphans()
        if orphans:
            log.warning("taking up %d alert(s) a stopped relay serve had not finished", orphans)
        for thread in self.workers:
            thread.start()
        threading.Thread(target=announce_parked, args=(self.inbox, self.relay), daemon=True,
                         name="relay-announce-parked").start()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.workers:
            if thread.is_alive():
                thread.join(timeout=10)
        self.relay.lanes.shutdown()  # what it cuts off stays taken in the inbox, and is taken up at the next start


class RelayingProcess:
    """The relaying process of `relay serve`, started from `argv`; started again when it ends unasked, stopped
    (SIGTERM, then SIGKILL after 20 s) by `stop()`."""

    def __init__(self, argv: list[str]):
        self.argv = argv
        self.stopping = threading.Event()
        self.process = subprocess.Popen(argv)
        self.watch = threading.Thread(target=self._keep_running, daemon=True, name="relaying-process")
        self.watch.start()

    def _keep_running(self) -> None:
        while True:
            code = self.process.wait()
            if self.stopping.wait(RESTART_SECONDS):
                return
            log.error("the relaying process ended with %s; starting it again", code)
            self.process = subprocess.Popen(self.argv)

    def stop(self) -> None:
        self.stopping.set()
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def relay_until_stopped(inbox: SqliteInbox, relay: Relay, workers: int) -> None:
    """The relaying process's life: relay until SIGTERM or SIGINT, with the CPU left to the intake first."""
    if hasattr(os, "nice"):  # not on Windows
        os.nice(RELAYING_NICENESS)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    relaying = Relaying(inbox, relay, workers)
    relaying.start()
    stop.wait()
    relaying.stop()


def die_with(parent: int) -> None:
    """End this process when `parent` ends: at once on Linux, else within PARENT_CHECK_SECONDS."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # not Linux: the watch below does it
    threading.Thread(target=_watch, args=(parent,), daemon=True, name="relay-parent-watch").start()


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    log.error("relay serve (process %d) is gone; its relaying stops", parent)
    os._exit(1)
