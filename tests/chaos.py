"""A chaos run of `relay serve`: many alerts (a share of them sent twice), sinks that fail a share of calls (429,
503, timeouts, dropped connections), and the serve process killed with SIGKILL at random moments and started
again on the same files. Then every (alert, receiver) is accounted for: delivered exactly once, or recorded as
failed with a reason — else lost, or duplicated.

Two kinds of receivers. Webhooks (Teams Workflows, Slack incoming webhook) take no idempotency key: a webhook
sink counts a message only when it answered 2xx, so a duplicate can only come from a kill between its acceptance
and the ledger's mark (see relay/store/__init__.py), and the check says whether each is explained so: a kill
landed between its first and second arrival. The destinations the relay can ask (Slack bot, Graph, ACS) also
accept a share of messages and then drop the connection unanswered; what they hold is read from the sinks
themselves, and none may hold a message twice.

Used by tests/test_chaos.py (small runs) and bench/chaos.py (the large one).
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
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from tests.sinks.acs import AcsSink
from tests.sinks.graph import GraphSink
from tests.sinks.server import Reply, Request, Sink, TestCA
from tests.sinks.slack import CHANNEL, SlackSink
from tests.sinks.teams import TeamsSink

ROOT = Path(__file__).resolve().parent.parent
PLANNED = json.loads((ROOT / "examples" / "alerts" / "01-planned.json").read_text(encoding="utf-8"))
WEBHOOKS = ("teams", "slack")
CHECKABLE = ("slack-bot", "graph", "acs")
MAILBOX, TO = "relay@contoso.example", "oncall@contoso.example"
CLIENT_TIMEOUT = 10.0  # the channels' HTTP timeout (relay/channels/http.py)
ID = re.compile(rb"CHAOS-\d{5}")
PROGRESS_SECONDS = 30.0  # between lines saying what the inbox still holds
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
    receivers: tuple[str, ...] = WEBHOOKS + CHECKABLE
    lost_answers: float = 0.25  # of a checkable sink's failures: accepted, then the connection dropped unanswered


@dataclass
class Report:
    plan: Plan
    seconds: float = 0.0
    posts: int = 0  # webhook calls answered 202 (re-posts after a kill included)
    refused_posts: int = 0  # calls that met a killed server and were sent again
    kills: list[float] = field(default_factory=list)  # monotonic times
    sink_calls: int = 0
    sink_failures: int = 0
    answers_lost: int = 0  # calls a checkable sink took and answered to no one
    delivered_once: int = 0
    failed_recorded: int = 0
    duplicated: list[tuple[str, str]] = field(default_factory=list)
    unexplained_duplicates: list[tuple[str, str]] = field(default_factory=list)
    lost: list[tuple[str, str]] = field(default_factory=list)
    parked: int = 0
    unfinished: dict[str, int] = field(default_factory=dict)  # inbox items still waiting at the deadline
    by_receiver: dict[str, dict[str, int]] = field(default_factory=dict)  # the counts above, per receiver

    def figures(self) -> dict:
        pairs = self.plan.alerts * len(self.plan.receivers)
        return {
            "alerts": self.plan.alerts, "receivers": len(self.plan.receivers), "pairs": pairs,
            "duplicate_share": self.plan.duplicates, "sink_failure_share": self.plan.failures,
            "kills": len(self.kills), "workers": self.plan.workers, "seconds": round(self.seconds, 1),
            "posts_202": self.posts, "posts_sent_again": self.refused_posts,
            "sink_calls": self.sink_calls, "sink_failures": self.sink_failures, "answers_lost": self.answers_lost,
            "delivered_once": self.delivered_once, "failed_recorded": self.failed_recorded,
            "lost": len(self.lost), "duplicated": len(self.duplicated),
            "duplicated_unexplained": len(self.unexplained_duplicates),
            "parked": self.parked, "unfinished": sum(self.unfinished.values()), "by_receiver": self.by_receiver,
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
    """Fails a share of a sink's calls at random, and records the bodies it accepted (2xx) with the time. With
    `lost_answers`, that share of the failures is a call the sink takes and answers to no one."""

    def __init__(self, sink: Sink, share: float, timeout_share: float, rng: random.Random, lost_answers: float = 0.0):
        self.share, self.timeout_share, self.rng, self.lost_answers = share, timeout_share, rng, lost_answers
        self.accepted: list[tuple[float, bytes]] = []
        self.calls = self.failures = self.answers_lost = 0
        self._routes = sink.server.routes
        self._lock = threading.Lock()
        sink.server.routes = self

    def __call__(self, request: Request) -> Reply:
        with self._lock:
            self.calls += 1
            roll = self.rng.random()
            fail = roll < self.share
            self.failures += fail
        if fail and roll / self.share < self.lost_answers:
            if self._routes(request).status >= 300:
                return Reply(503)
            with self._lock:
                self.answers_lost += 1
            return Reply(drop=True)
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

    tls = TestCA()
    with ExitStack() as stack:
        receivers = [_RECEIVERS[name](stack, plan, tls) for name in plan.receivers]
        (workdir / "relay.yaml").write_text(json.dumps({"receivers": [r.config for r in receivers]}))
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT),
               "SSL_CERT_FILE": str(tls.bundle), "REQUESTS_CA_BUNDLE": str(tls.bundle)}
        for r in receivers:
            env.update(r.env)
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
        report.sink_calls = sum(r.flaky.calls for r in receivers)
        report.sink_failures = sum(r.flaky.failures for r in receivers)
        report.answers_lost = sum(r.flaky.answers_lost for r in receivers)
        _account(report, receivers, workdir)
    return report


def _wait_for_empty_inbox(serve: Serve, deadline: float, progress) -> dict[str, int]:
    until = time.monotonic() + deadline
    said = 0.0
    while time.monotonic() < until:
        counts = (serve.health() or {}).get("inbox", {})
        pending = {state: n for state, n in counts.items() if state != "dead"}
        if not pending:
            return {}
        if time.monotonic() - said >= PROGRESS_SECONDS:
            progress(f"waiting for the inbox: {pending}")
            said = time.monotonic()
        time.sleep(0.5)
    return pending


@dataclass
class Receiver:
    """One receiver of the run: its config entry, the variables it reads, its flaky sink, and what arrived there."""

    config: dict
    env: dict[str, str]
    flaky: Flaky
    arrivals: Callable[[], list[tuple[float, bytes]]]  # (monotonic time, 0.0 when the sink keeps none; content)

    @property
    def name(self) -> str:
        return self.config["name"]


FAST = {"max_per_second": 1000}  # no pacing: the run is about crashes, not rates
LOOKUPS = {"lookup_per_second": 1000}


def _flaky(sink: Sink, plan: Plan, seed: int, lost_answers: float = 0.0) -> Flaky:
    return Flaky(sink, plan.failures, plan.timeout_share, random.Random(plan.seed + seed), lost_answers)


def _teams(stack: ExitStack, plan: Plan, tls: TestCA) -> Receiver:
    sink = stack.enter_context(TeamsSink())
    flaky = _flaky(sink, plan, 1)
    return Receiver({"name": "teams", "channel": "teams", "destination": "CHAOS_TEAMS_URL", **FAST},
                    {"CHAOS_TEAMS_URL": sink.url}, flaky, lambda: flaky.accepted)


def _slack(stack: ExitStack, plan: Plan, tls: TestCA) -> Receiver:
    sink = stack.enter_context(SlackSink())
    flaky = _flaky(sink, plan, 2)
    return Receiver({"name": "slack", "channel": "slack", "destination": "CHAOS_SLACK_URL", **FAST},
                    {"CHAOS_SLACK_URL": sink.webhook_url}, flaky, lambda: flaky.accepted)


def _slack_bot(stack: ExitStack, plan: Plan, tls: TestCA) -> Receiver:
    sink = stack.enter_context(SlackSink(tls=tls, epoch=None))
    return Receiver({"name": "slack-bot", "channel": "slack", "token": "CHAOS_SLACK_BOT_TOKEN",
                     "slack_channel": CHANNEL, "api_url": sink.api_url, **FAST, **LOOKUPS},
                    {"CHAOS_SLACK_BOT_TOKEN": sink.token}, _flaky(sink, plan, 3, plan.lost_answers),
                    lambda: [(0.0, json.dumps(message).encode()) for message in sink.messages])


def _graph(stack: ExitStack, plan: Plan, tls: TestCA) -> Receiver:
    sink = stack.enter_context(GraphSink(tls, client_secret="chaos-secret", mailboxes=(MAILBOX,)))
    return Receiver({"name": "graph", "channel": "email", "via": "graph", "sender": MAILBOX, "from": MAILBOX,
                     "to": [TO], "graph_url": sink.url, "authority": sink.url, **FAST, **LOOKUPS},
                    sink.environ(), _flaky(sink, plan, 4, plan.lost_answers),
                    lambda: [(0.0, _text(mail.parsed())) for mail in sink.mails])


def _acs(stack: ExitStack, plan: Plan, tls: TestCA) -> Receiver:
    sink = stack.enter_context(AcsSink(tls))
    sink.poll_after_ms = 50  # else each email's first status check waits the client's 1 s
    return Receiver({"name": "acs", "channel": "email", "via": "acs", "destination": "CHAOS_ACS",
                     "from": "DoNotReply@contoso.example", "to": [TO], **FAST, **LOOKUPS},
                    {"CHAOS_ACS": sink.connection_string}, _flaky(sink, plan, 5, plan.lost_answers),
                    lambda: [(0.0, json.dumps(body).encode()) for body in sink.sent])


_RECEIVERS: dict[str, Callable[[ExitStack, Plan, TestCA], Receiver]] = {
    "teams": _teams, "slack": _slack, "slack-bot": _slack_bot, "graph": _graph, "acs": _acs}


def _text(mail) -> bytes:
    """Every text part of an email, decoded: where its trackingId is written."""
    return "\n".join(part.get_content() for part in mail.walk() if part.get_content_maintype() == "text").encode()


def _account(report: Report, receivers: list[Receiver], workdir: Path) -> None:
    with sqlite3.connect(workdir / "ledger.sqlite") as db:
        recorded = {(key, receiver): (ok, detail) for key, receiver, ok, detail
                    in db.execute("SELECT notification_key, receiver, ok, detail FROM deliveries")}
    with sqlite3.connect(workdir / "inbox.sqlite") as db:
        parked_bodies = [bytes(b) for (b,) in db.execute("SELECT body FROM inbox WHERE state = 'dead'")]
    report.parked = len(parked_bodies)
    parked_ids = {m.group().decode() for b in parked_bodies for m in [ID.search(b)] if m}
    for r in receivers:
        receiver, counts = r.name, {"delivered_once": 0, "failed_recorded": 0, "lost": 0, "duplicated": 0,
                                    "duplicated_unexplained": 0}
        report.by_receiver[receiver] = counts
        arrivals: dict[str, list[float]] = {}
        for at, body in r.arrivals():
            for found in {m.decode() for m in ID.findall(body)}:
                arrivals.setdefault(found, []).append(at)
        for n in range(report.plan.alerts):
            tracking = f"CHAOS-{n:05d}"
            times = sorted(arrivals.get(tracking, []))
            key = f"{tracking}/7{n:017d}".lower()
            if len(times) == 1:
                outcome = "delivered_once"
            elif len(times) > 1:
                outcome = "duplicated"
                report.duplicated.append((tracking, receiver))
                if not any(times[0] < kill < times[-1] for kill in report.kills):  # never for a sink that keeps no time
                    counts["duplicated_unexplained"] += 1
                    report.unexplained_duplicates.append((tracking, receiver))
            elif tracking in parked_ids or ((key, receiver) in recorded and not recorded[key, receiver][0]
                                            and recorded[key, receiver][1]):
                outcome = "failed_recorded"
            else:
                outcome = "lost"
                report.lost.append((tracking, receiver))
            counts[outcome] += 1
        report.delivered_once += counts["delivered_once"]
        report.failed_recorded += counts["failed_recorded"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
