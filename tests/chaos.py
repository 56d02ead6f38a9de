"""A chaos run of `relay serve`: many alerts (a share of them sent twice), Teams and Slack sinks that fail a
share of calls (429, 503, timeouts, dropped connections), and the serve process killed with SIGKILL at
random moments and started again on the same files. Then every (alert, receiver) is accounted for:
delivered exactly once, or recorded as failed with a reason — else lost, or duplicated.

Used by tests/test_chaos.py (a small run) and bench/chaos.py (the large one). A sink counts a message
only when it answered 2xx; a call it fails was never accepted, so a duplicate can only come from a kill
between a destination's acceptance and the ledger's mark (see relay/store/__init__.py). The check says
whether each duplicate is explained so: a kill landed between its first and second arrival.
"""
from __future__ import annotations

import http.client
import json
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.sinks.server import Reply, Request, Sink
from tests.sinks.slack import SlackSink
from tests.sinks.teams import TeamsSink

ROOT = Path(__file__).resolve().parent.parent
PLANNED = json.loads((ROOT / "examples" / "alerts" / "01-planned.json").read_text(encoding="utf-8"))
RECEIVERS = ("teams", "slack")
CLIENT_TIMEOUT = 10.0  # the channels' HTTP timeout (relay/channels/http.py)
ID = re.compile(rb"CHAOS-\d{5}")
DEAD_SERVER = (OSError, http.client.HTTPException)  # a SIGKILL can land between the headers and the body


@dataclass(frozen=True)
class Plan:
    alerts: int = 1000
    duplicates: float = 0.10  # share of alerts the Action Group delivers twice
    failures: float = 0.20  # share of calls each sink fails
    kills: int = 10
    workers: int = 2  # relay serve --workers
    post_rate: float = 50.0  # alerts posted a second, so that kills land during the intake too
    seed: int = 1
    timeout_share: float = 0.02  # of the failures: answered after the client gave up (costs CLIENT_TIMEOUT)
    deadline: float = 1200.0  # seconds to wait for the inbox to empty after the last post


@dataclass
class Report:
    plan: Plan
    seconds: float = 0.0
    posts: int = 0  # webhook calls answered 202 (re-posts after a kill included)
    refused_posts: int = 0  # calls that met a killed server and were sent again
    kills: list[float] = field(default_factory=list)  # monotonic times
    sink_calls: int = 0
    sink_failures: int = 0
    delivered_once: int = 0
    failed_recorded: int = 0
    duplicated: list[tuple[str, str]] = field(default_factory=list)
    unexplained_duplicates: list[tuple[str, str]] = field(default_factory=list)
    lost: list[tuple[str, str]] = field(default_factory=list)
    parked: int = 0
    unfinished: dict[str, int] = field(default_factory=dict)  # inbox items still waiting at the deadline

    def figures(self) -> dict:
        pairs = self.plan.alerts * len(RECEIVERS)
        return {
            "alerts": self.plan.alerts, "receivers": len(RECEIVERS), "pairs": pairs,
            "duplicate_share": self.plan.duplicates, "sink_failure_share": self.plan.failures,
            "kills": len(self.kills), "workers": self.plan.workers, "seconds": round(self.seconds, 1),
            "posts_202": self.posts, "posts_sent_again": self.refused_posts,
            "sink_calls": self.sink_calls, "sink_failures": self.sink_failures,
            "delivered_once": self.delivered_once, "failed_recorded": self.failed_recorded,
            "lost": len(self.lost), "duplicated": len(self.duplicated),
            "duplicated_unexplained": len(self.unexplained_duplicates),
            "parked": self.parked, "unfinished": sum(self.unfinished.values()),
        }


def alert(n: int) -> bytes:
    """A distinct planned maintenance: its own trackingId, so each is a notification of its own."""
    body = json.loads(json.dumps(PLANNED))
    properties = body["data"]["alertContext"]["properties"]
    properties["trackingId"] = f"CHAOS-{n:05d}"
    properties["communicationId"] = f"7{n:017d}"
    body["data"]["essentials"]["alertId"] = f"/subscriptions/x/providers/Microsoft.AlertsManagement/alerts/chaos-{n}"
    return json.dumps(body).encode()


class Flaky:
    """Fails a share of a sink's calls at random, and records the bodies it accepted (2xx) with the time."""

    def __init__(self, sink: Sink, share: float, timeout_share: float, rng: random.Random):
        self.share, self.timeout_share, self.rng = share, timeout_share, rng
        self.accepted: list[tuple[float, bytes]] = []
        self.calls = self.failures = 0
        self._routes = sink.server.routes
        self._lock = threading.Lock()
        sink.server.routes = self

    def __call__(self, request: Request) -> Reply:
        with self._lock:
            self.calls += 1
            roll = self.rng.random()
            fail = roll < self.share
            self.failures += fail
        if fail:
            return self._fault(roll / self.share)
        reply = self._routes(request)
        if reply.status < 300:
            with self._lock:
                self.accepted.append((time.monotonic(), request.body))
        return reply

    def _fault(self, roll: float) -> Reply:
        if roll < self.timeout_share:
            return Reply(503, delay=CLIENT_TIMEOUT + 0.5)  # the relay has given up by then
        kinds = (Reply(429, headers={"Retry-After": "1"}), Reply(503), Reply(500), Reply(drop=True))
        return kinds[int(roll * len(kinds)) % len(kinds)]


class Serve:
    """`relay serve` as a child process that can be killed and started again on the same files and port."""

    def __init__(self, workdir: Path, env: dict[str, str], workers: int):
        self.workdir, self.env, self.workers = workdir, env, workers
        self.port = _free_port()
        self.process: subprocess.Popen | None = None
        self.log = open(workdir / "serve.log", "ab")

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "relay", "serve", "--port", str(self.port), "--workers", str(self.workers),
             "--config", str(self.workdir / "relay.yaml"), "--inbox", str(self.workdir / "inbox.sqlite"),
             "--state", str(self.workdir / "ledger.sqlite"), "-v"],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.health() is not None:
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"relay serve exited with {self.process.returncode}; see serve.log")
            time.sleep(0.05)
        raise RuntimeError("relay serve did not answer within 60 s")

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.log.close()

    def health(self) -> dict | None:
        try:
            status, body = self._call("GET", "/api/health")
        except DEAD_SERVER:
            return None
        return json.loads(body) if status == 200 else None

    def post(self, body: bytes) -> int:
        return self._call("POST", "/api/alerts", body)[0]

    def _call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()


def run(plan: Plan, workdir: Path, progress=lambda text: None) -> Report:
    rng = random.Random(plan.seed)
    report = Report(plan)
    bodies = [alert(n) for n in range(plan.alerts)]
    again = rng.sample(range(plan.alerts), round(plan.alerts * plan.duplicates))
    sends = [(n, bodies[n]) for n in range(plan.alerts)]
    for n in again:  # the second delivery comes a little later, as an Action Group's would
        sends.insert(min(len(sends), sends.index((n, bodies[n])) + rng.randint(1, 50)), (n, bodies[n]))

    with TeamsSink() as teams, SlackSink() as slack:
        flaky = {"teams": Flaky(teams, plan.failures, plan.timeout_share, random.Random(plan.seed + 1)),
                 "slack": Flaky(slack, plan.failures, plan.timeout_share, random.Random(plan.seed + 2))}
        (workdir / "relay.yaml").write_text(json.dumps({"receivers": [
            {"name": "teams", "channel": "teams", "destination": "CHAOS_TEAMS_URL", "max_per_second": 1000},
            {"name": "slack", "channel": "slack", "destination": "CHAOS_SLACK_URL", "max_per_second": 1000},
        ]}))
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT),
               "CHAOS_TEAMS_URL": teams.url, "CHAOS_SLACK_URL": slack.webhook_url}
        serve = Serve(workdir, env, plan.workers)
        serve.start()
        started = time.monotonic()
        crashed: list[BaseException] = []

        def poster() -> None:
            try:
                post_all()
            except BaseException as error:  # surfaced after join, not lost as a thread warning
                crashed.append(error)

        def post_all() -> None:
            for i, (_, body) in enumerate(sends):
                time.sleep(max(0.0, started + i / plan.post_rate - time.monotonic()))
                while True:
                    try:
                        status = serve.post(body)
                    except DEAD_SERVER:  # killed mid-call (even between headers and body), or not listening yet
                        status = None
                    if status == 202:
                        report.posts += 1
                        break
                    report.refused_posts += 1  # the Action Group retries what did not get a 202
                    time.sleep(0.05)

        thread = threading.Thread(target=poster, daemon=True)
        thread.start()
        try:
            # Kills spread over the posting and the relaying behind it: roughly every couple of seconds.
            for k in range(plan.kills):
                time.sleep(rng.uniform(0.5, 4.0))
                serve.kill()
                report.kills.append(time.monotonic())
                serve.start()
                progress(f"kill {k + 1}/{plan.kills}: {report.posts} alerts accepted so far")
            thread.join()
            if crashed:
                raise RuntimeError("the poster thread stopped early") from crashed[0]
            report.unfinished = _wait_for_empty_inbox(serve, plan.deadline, progress)
        finally:
            serve.stop()
        report.seconds = time.monotonic() - started
        report.sink_calls = sum(f.calls for f in flaky.values())
        report.sink_failures = sum(f.failures for f in flaky.values())
        _account(report, flaky, workdir)
    return report


def _wait_for_empty_inbox(serve: Serve, deadline: float, progress) -> dict[str, int]:
    until = time.monotonic() + deadline
    last = None
    while time.monotonic() < until:
        counts = (serve.health() or {}).get("inbox", {})
        pending = {state: n for state, n in counts.items() if state != "dead"}
        if not pending:
            return {}
        if pending != last:
            progress(f"waiting for the inbox: {pending}")
            last = pending
        time.sleep(0.5)
    return pending


def _account(report: Report, flaky: dict[str, Flaky], workdir: Path) -> None:
    with sqlite3.connect(workdir / "ledger.sqlite") as db:
        recorded = {(key, receiver): (ok, detail) for key, receiver, ok, detail
                    in db.execute("SELECT notification_key, receiver, ok, detail FROM deliveries")}
    with sqlite3.connect(workdir / "inbox.sqlite") as db:
        parked_bodies = [bytes(b) for (b,) in db.execute("SELECT body FROM inbox WHERE state = 'dead'")]
    report.parked = len(parked_bodies)
    parked_ids = {m.group().decode() for b in parked_bodies for m in [ID.search(b)] if m}
    for receiver, sink in flaky.items():
        arrivals: dict[str, list[float]] = {}
        for at, body in sink.accepted:
            for found in {m.decode() for m in ID.findall(body)}:
                arrivals.setdefault(found, []).append(at)
        for n in range(report.plan.alerts):
            tracking = f"CHAOS-{n:05d}"
            times = sorted(arrivals.get(tracking, []))
            key = f"{tracking}/7{n:017d}".lower()
            if len(times) == 1:
                report.delivered_once += 1
            elif len(times) > 1:
                report.duplicated.append((tracking, receiver))
                if not any(times[0] < kill < times[-1] for kill in report.kills):
                    report.unexplained_duplicates.append((tracking, receiver))
            elif (key, receiver) in recorded and not recorded[key, receiver][0] and recorded[key, receiver][1]:
                report.failed_recorded += 1
            elif tracking in parked_ids:
                report.failed_recorded += 1
            else:
                report.lost.append((tracking, receiver))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
