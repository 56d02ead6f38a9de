"""Intake under load: how fast a webhook call gets its 202, with 50 senders at once (goal: p99 under 50 ms).

    serve      `relay serve` as a process of its own on 127.0.0.1 (SQLite inbox; its relaying process's worker
               threads relay to an outbox folder); the clients post over keep-alive HTTP/1.1 connections. Afterwards, how
               long the worker takes to empty the inbox: the relay's throughput behind the intake. Then an open
               loop at --rate, and the same again beside --stalled slow clients that never finish a request
               head (the goal holds there too).
    function   the Function's HTTP trigger (handlers/ingest.py) called in this process with azure.functions
               request objects from as many threads, keeping alerts on the Storage Queue in Azurite (the
               Functions host runs synchronous functions in a thread pool the same way). Needs Azurite
               from npm (node_modules); without it this part is skipped.

Every body is a distinct valid alert made from examples/alerts (its own trackingId, communicationId and
eventDataId), so each is new to the relay. Each client sends its next alert as soon as the last is
answered. Figures: requests a second, time to the answer (p50, p90, p99, max), answers other than 202
(must be 0), the goal check and p99 / 50 ms. The last line printed is one JSON object with every figure.

    python bench/ingest.py                          # 5,000 alerts from 50 clients, each part
    python bench/ingest.py --requests 500 --clients 10 --only serve
"""
from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import http.client
import json
import logging
import multiprocessing
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import results  # noqa: E402
from relay.hosts.serve import open_files_allowed  # noqa: E402

GOAL_MS = 50.0
HOST = "127.0.0.1"
TEMPLATES = [json.loads(path.read_text(encoding="utf-8")) for path in sorted((ROOT / "examples" / "alerts").glob("*.json"))]
MESSAGES_AN_ALERT = 3  # the default config: one outbox receiver for each of Teams, Slack and email


class Skipped(Exception):
    """A part that cannot run here (Azurite not installed or not starting)."""


# ---------------------------------------------------------------------------------------------------------------
# Alerts and figures


def alerts(n: int, tag: str, start: int = 0) -> list[bytes]:
    """N distinct alerts cycling through the examples, numbered from `start`; `tag` marks the run they are for.
    Resource Health alerts have no trackingId: each gets a VM and an event time of its own instead, so that
    it starts its own thread and its own outbox files. A metric alert is its own by its alertId."""
    bodies = []
    for i in range(start, start + n):
        alert = json.loads(json.dumps(TEMPLATES[i % len(TEMPLATES)]))
        data = alert["data"]
        log = data["alertContext"] if "alertContext" in data else data["context"]["activityLog"]
        properties = log.get("properties") or {}
        if "trackingId" in properties:
            properties["trackingId"] = f"{tag}{i:06d}"
        if "communicationId" in properties:
            properties["communicationId"] = f"7{ord(tag[0]):03d}{i:014d}"
        log["eventDataId"] = f"bench-{tag}-{i}"
        if essentials := data.get("essentials"):
            essentials["alertId"] = (f"/subscriptions/00000000-0000-0000-0000-000000000000/providers/"
                                     f"Microsoft.AlertsManagement/alerts/bench-{tag}-{i}")
            if "trackingId" not in properties and "eventTimestamp" in log:
                when = datetime.fromisoformat(log["eventTimestamp"]) + timedelta(seconds=i)
                log["eventTimestamp"] = when.isoformat()
                essentials["alertTargetIDs"] = [f"{target.rsplit('/', 1)[0]}/vm-bench-{i:06d}"
                                                for target in essentials["alertTargetIDs"]]
        bodies.append(json.dumps(alert).encode())
    return bodies


def percentile(ordered: list[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p % of the values at or below it."""
    if not ordered:
        return float("nan")
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def figures(times_ms: list[float], statuses: list[int], errors: int, seconds: float, clients: int) -> dict:
    """Time to the answer of every request, whatever its status; errors are requests that got none."""
    ordered = sorted(times_ms)
    p99 = percentile(ordered, 99)
    return {
        "requests": len(statuses) + errors, "clients": clients, "seconds": round(seconds, 3),
        "requests_per_second": round(len(statuses) / seconds, 1),
        "p50_ms": round(percentile(ordered, 50), 2), "p90_ms": round(percentile(ordered, 90), 2),
        "p99_ms": round(p99, 2), "max_ms": round(ordered[-1], 2) if ordered else float("nan"),
        "mean_ms": round(sum(ordered) / len(ordered), 2) if ordered else float("nan"),
        "non_202": sum(status != 202 for status in statuses), "errors": errors,
        "goal_p99_ms": GOAL_MS, "goal_met": p99 < GOAL_MS, "p99_to_goal_ratio": round(p99 / GOAL_MS, 3),
    }


def describe(label: str, row: dict) -> str:
    return (f"{label}: {row['requests']:,} requests from {row['clients']} clients in {row['seconds']:.2f} s, "
            f"{row['requests_per_second']:,.0f}/s; time to 202 p50 {row['p50_ms']:.1f} ms, p90 {row['p90_ms']:.1f}, "
            f"p99 {row['p99_ms']:.1f}, max {row['max_ms']:.1f}; not 202: {row['non_202']} (+{row['errors']} errors); "
            f"p99 {'meets' if row['goal_met'] else 'misses'} the 50 ms goal ({row['p99_to_goal_ratio']:.2f}x)")


def cpu_seconds(pid: int | None = None) -> float | None:
    """CPU time (user + system) of another process so far, from /proc (None where there is none);
    of this one, every thread included, when pid is None."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def children(pid: int) -> list[int]:
    """The processes `pid` started (relay serve's relaying process), from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def cpu_used(before: float | None, after: float | None) -> float | None:
    return round(after - before, 2) if before is not None and after is not None else None


# ---------------------------------------------------------------------------------------------------------------
# `relay serve`


class Server:
    """`relay serve` in a process of its own, on a port the system picks (it prints which)."""

    def __init__(self, workdir: Path):
        self.log = workdir / "serve.log"
        self.outbox = workdir / "outbox"
        workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "relay", "serve", "--host", HOST, "--port", "0",
                 "--inbox", str(workdir / "inbox.sqlite"), "--state", str(workdir / "ledger.sqlite"),
                 "--outbox", str(self.outbox), "--inventory", str(ROOT / "examples" / "inventory.json")],
                cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )
        self.port = self._port()
        self._wait_for_health()

    def _port(self) -> int:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            for line in text.splitlines():
                if "listening on http://" in line:
                    return int(line.split("listening on http://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.close()
        raise RuntimeError(f"relay serve did not start:\n{self.log.read_text(errors='replace')}")

    def _wait_for_health(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                self.inbox()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def inbox(self) -> dict[str, int]:
        """GET /api/health's inbox counts by state (waiting, taken, dead); {} when empty."""
        conn = http.client.HTTPConnection(HOST, self.port, timeout=10)
        try:
            conn.request("GET", "/api/health")
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"GET /api/health answered {response.status}")
            return json.loads(body)["inbox"]
        finally:
            conn.close()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # Ctrl-C: it stops its workers and closes the ledger
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# The clients are coroutines on one asyncio loop in this process, each with its own keep-alive connection,
# writing requests and reading answers on the bare stream. Threads with http.client would put 50 client
# threads behind this process's GIL: a thread whose answer has arrived can wait a switch interval (5 ms)
# or more before it may read the clock, and that wait would be counted as the server's. On one loop a
# request costs the client some tens of microseconds and nothing waits for a lock; the figures report
# the client's CPU time beside the server's, so that its share of the machine is visible.


class Client:
    """One sender: a keep-alive connection, opened and used once during the warm-up, so that the measured
    requests do not include connection set-up (nor the wait of a connection in a full accept queue)."""

    def __init__(self, port: int):
        self.port = port
        self.reader = self.writer = None

    async def connect(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader, self.writer = await asyncio.open_connection(HOST, self.port)

    async def exchange(self, request: bytes) -> int:
        """Sends one request and reads its whole answer; returns the status."""
        self.writer.write(request)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        length, close = 0, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
            elif name.strip().lower() == "connection" and value.strip().lower() == "close":
                close = True
        await self.reader.readexactly(length)
        if close:  # answered with Connection: close (an error): carry on over a new connection
            await self.connect()
        return int(status_line.split()[1])

    async def post_all(self, bodies, times_ms: list[float], statuses: list[int], errors: list[str], due) -> None:
        head = (f"POST /api/alerts HTTP/1.1\r\nHost: {HOST}:{self.port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: ")
        for i, body in bodies:  # shared by every client of the loop: each takes the next one in turn
            request = f"{head}{len(body)}\r\n\r\n".encode() + body
            started = time.perf_counter()
            if (when := due(i)) is not None:  # open loop: counted from when it was due, waiting for a sender too
                await asyncio.sleep(max(0.0, when - started))
                started = when
            try:
                status = await self.exchange(request)
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as e:
                errors.append(f"{type(e).__name__}: {e}")
                await self.connect()
                continue
            times_ms.append((time.perf_counter() - started) * 1000)
            statuses.append(status)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class Stallers:
    """Slow clients: `n` connections that each send the start of a request head and then nothing more, as one
    attacker with many sockets would. One the server closes (its header deadline, or the connection cap) is
    opened again at once, so that `n` stay open or opening for the whole run. They run in a process of their
    own, as an attacker is another machine: on the measuring clients' loop their work would count as the
    server's."""

    def __init__(self, port: int, n: int):
        self.port, self.n = port, n
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._counts = context.Array("q", 2)  # closed by the server, could not connect
        self._process = context.Process(target=_stall, args=(port, n, self._stop, self._counts), daemon=True)

    @property
    def closed_by_server(self) -> int:
        return self._counts[0]

    @property
    def refused(self) -> int:
        return self._counts[1]

    async def start(self) -> None:
        if self.n:
            self._process.start()
            await asyncio.sleep(2.0)  # most are connected before the measured requests start

    async def stop(self) -> None:
        if self.n:
            self._stop.set()
            await asyncio.to_thread(self._process.join, 10)


def _stall(port: int, n: int, stop, counts) -> None:
    async def one() -> None:
        while True:
            try:
                reader, writer = await asyncio.open_connection(HOST, port)
            except OSError:
                counts[1] += 1
                await asyncio.sleep(0.1)
                continue
            try:
                writer.write(f"POST /api/alerts HTTP/1.1\r\nHost: {HOST}\r\n".encode())
                await reader.read()  # returns when the server closes the connection
            except OSError:
                pass
            finally:
                counts[0] += 1
                writer.close()

    async def until_stopped() -> None:
        tasks = [asyncio.create_task(one()) for _ in range(n)]
        while not stop.is_set():
            await asyncio.sleep(0.1)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    open_files_allowed()
    asyncio.run(until_stopped())


def schedule(started: float, rate: float | None):
    """When request i is due: None in a closed loop (each sender goes on as soon as it is answered)."""
    return (lambda i: started + i / rate) if rate else (lambda i: None)


async def _load(clients: list[Client], bodies: list[bytes], rate: float | None = None):
    times_ms: list[float] = []
    statuses: list[int] = []
    errors: list[str] = []
    shared = enumerate(bodies)
    started = time.perf_counter()
    due = schedule(started, rate)
    await asyncio.gather(*(client.post_all(shared, times_ms, statuses, errors, due) for client in clients))
    return times_ms, statuses, errors, time.perf_counter() - started


async def _serve_load(port: int, pid: int, clients: int, warmup_bodies: list[bytes], bodies: list[bytes],
                      rate: float | None, stalled: int = 0):
    senders = [Client(port) for _ in range(clients)]
    stallers = Stallers(port, stalled)
    try:
        await stallers.start()
        await asyncio.gather(*(client.connect() for client in senders))
        health = f"GET /api/health HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode()
        await asyncio.gather(*(client.exchange(health) for client in senders))  # every connection answered once
        await _load(senders, warmup_bodies)
        relaying = (children(pid) or [None])[0]
        before = cpu_seconds(), cpu_seconds(pid), cpu_seconds(relaying) if relaying else None
        measured = await _load(senders, bodies, rate)
        after = cpu_seconds(), cpu_seconds(pid), cpu_seconds(relaying) if relaying else None
    finally:
        await stallers.stop()
        for client in senders:
            client.close()
    return (*measured, *(cpu_used(b, a) for b, a in zip(before, after, strict=True)), stallers)


def bench_serve(requests: int, clients: int, warmup: int, drain_timeout: float, workdir: Path,
                rate: float | None = None, stalled: int = 0) -> dict:
    label = f"relay serve, open loop at {rate:g}/s" if rate else "relay serve"
    if stalled:
        label += f", beside {stalled:,} stalled connections"
    warmup_bodies, bodies = alerts(warmup, "W"), alerts(requests, "S", start=warmup)
    server = Server(workdir)
    try:
        times_ms, statuses, errors, seconds, client_cpu, server_cpu, relaying_cpu, stallers = asyncio.run(
            _serve_load(server.port, server.process.pid, clients, warmup_bodies, bodies, rate, stalled))
        intake_done = time.perf_counter()
        row = figures(times_ms, statuses, len(errors), seconds, clients)
        row.update(client_cpu_seconds=client_cpu, server_cpu_seconds=server_cpu, relaying_cpu_seconds=relaying_cpu,
                   server_cpu_ms_per_request=round(1000 * server_cpu / requests, 2) if server_cpu else None)
        if errors:
            row["first_error"] = errors[0]
        if stalled:
            row.update(stalled_connections=stalled, stalled_closed_by_server=stallers.closed_by_server,
                       stalled_refused=stallers.refused)
        print(describe(label, row), flush=True)
        if stalled:
            print(f"  the server closed {stallers.closed_by_server:,} stalled connections (header deadline or cap);"
                  f" {stallers.refused:,} could not connect", flush=True)
        print(f"  CPU in those {seconds:.1f} s on {os.cpu_count()} cores: the intake {server_cpu} s "
              f"({row['server_cpu_ms_per_request']} ms a request), the relaying process {relaying_cpu} s, "
              f"the clients {client_cpu} s", flush=True)
        row["drain"] = drain(server, intake_done, drain_timeout, warmup + requests)
    finally:
        server.close()
    relayed = row["drain"]["relayed"]
    outbox = sum(1 for path in server.outbox.rglob("*") if path.is_file()) if server.outbox.exists() else 0
    # Not drained, the worker may have finished another alert or two after the last count: nothing to expect.
    expected = MESSAGES_AN_ALERT * relayed if row["drain"]["drained"] else None
    row["drain"].update(outbox_messages=outbox, outbox_messages_expected=expected)
    if row["drain"]["drained"]:
        print(f"  the outbox holds {outbox:,} messages ({MESSAGES_AN_ALERT * relayed:,} expected: "
              f"{MESSAGES_AN_ALERT} for each of {relayed:,} alerts)", flush=True)
    return row


def drain(server: Server, intake_done: float, timeout: float, accepted: int) -> dict:
    """Polls the inbox until the worker has relayed everything (or `timeout` passes)."""
    def pending(counts: dict[str, int]) -> int:
        return counts.get("waiting", 0) + counts.get("taken", 0)

    backlog = pending(server.inbox())
    left = backlog
    while left and time.perf_counter() - intake_done < timeout:
        time.sleep(0.1)
        counts = server.inbox()
        left = pending(counts)
    seconds = time.perf_counter() - intake_done
    counts = server.inbox()
    relayed_after = backlog - left
    rate = relayed_after / seconds if seconds and relayed_after else None
    row = {
        "accepted": accepted, "backlog_at_end_of_intake": backlog, "drained": left == 0,
        "seconds_after_intake": round(seconds, 2), "left": left, "dead": counts.get("dead", 0),
        "relayed": accepted - left - counts.get("dead", 0),
        "relayed_per_second": round(rate, 1) if rate else None,
        "estimated_seconds_to_drain": round(backlog / rate, 1) if rate and left else None,
    }
    if left:
        print(f"  the worker relayed {relayed_after:,} of the {backlog:,} alerts still in the inbox after the intake "
              f"in {seconds:.1f} s ({rate or 0:.1f}/s) and stopped waiting (--drain-timeout); all of them would take "
              f"about {row['estimated_seconds_to_drain'] or float('nan'):.0f} s", flush=True)
    else:
        print(f"  the worker emptied the inbox ({backlog:,} alerts left when the intake ended) {seconds:.1f} s after "
              f"the last 202: {rate or 0:.1f} alerts/s relayed to the outbox; dead: {row['dead']}", flush=True)
    return row


# ---------------------------------------------------------------------------------------------------------------
# The Function's HTTP trigger, in this process, with the Storage Queue on Azurite


def start_azurite(workdir: Path):
    """Azurite as the test suite starts it; Skipped when it cannot run here."""
    try:
        from tests.azurite import Azurite, AzuriteUnavailable
    except ImportError as e:
        raise Skipped(f"the test helpers cannot be imported ({e}); install requirements-dev.txt") from None
    try:
        return Azurite(workdir)
    except AzuriteUnavailable as e:
        raise Skipped(str(e)) from None


def _call(handler, bodies: list[bytes], clients: int, rate: float | None = None):
    """Calls the handler from `clients` threads at once; each takes the next body when it is done with one
    (closed loop), or when it is due (open loop, at `rate` a second)."""
    import azure.functions as func

    times_ms: list[float] = []
    statuses: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()
    shared = enumerate(bodies)

    def client() -> None:
        while True:
            with lock:
                i, body = next(shared, (None, None))
            if body is None:
                return
            # The host builds the request before it calls the function: not part of the time to 202.
            request = func.HttpRequest(method="POST", url="/api/alerts", body=body,
                                       headers={"content-type": "application/json"})
            started = time.perf_counter()
            if (when := due(i)) is not None:
                time.sleep(max(0.0, when - started))
                started = when
            try:
                status = handler(request).status_code
            except Exception as e:
                with lock:
                    errors.append(f"{type(e).__name__}: {e}")
                continue
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                times_ms.append(elapsed)
                statuses.append(status)

    started = time.perf_counter()
    due = schedule(started, rate)
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(client) for _ in range(clients)]:
            future.result()
    return times_ms, statuses, errors, time.perf_counter() - started


def bench_function(requests: int, clients: int, warmup: int, workdir: Path, rate: float | None = None,
                   rate_requests: int = 0) -> dict:
    azurite = start_azurite(workdir / "azurite")
    # With 50 threads the Storage client's HTTP pool (10 connections) overflows and urllib3 says so for
    # every connection it discards; count them instead of printing them.
    discarded = _Counter()
    pool_log = logging.getLogger("urllib3.connectionpool")
    pool_log.addHandler(discarded)
    pool_log.propagate = False
    try:
        from function_app import build_app
        from relay.hosts.function import FunctionHost

        app = build_app(FunctionHost({
            "AzureWebJobsStorage": azurite.connection_string,
            "RELAY_INVENTORY": str(ROOT / "examples" / "inventory.json"),
            "RELAY_LEDGER": str(workdir / "function-ledger.sqlite"),
            "RELAY_OUTBOX": str(workdir / "function-outbox"),
        }))
        handler = {f.get_function_name(): f for f in app.get_functions()}["ingest"].get_user_function()
        if warmup:
            _call(handler, alerts(warmup, "V"), clients)  # also creates the queue
        bodies = alerts(requests, "F", start=warmup)
        discarded.count = 0
        before = cpu_seconds(), cpu_seconds(azurite.process.pid)
        times_ms, statuses, errors, seconds = _call(handler, bodies, clients)
        after = cpu_seconds(), cpu_seconds(azurite.process.pid)
        row = figures(times_ms, statuses, len(errors), seconds, clients)
        row.update(handler_cpu_seconds=cpu_used(before[0], after[0]), azurite_cpu_seconds=cpu_used(before[1], after[1]))
        if rate:
            paced = _call(handler, alerts(rate_requests, "G", start=warmup + requests), clients, rate)
            row["at_rate"] = {"rate": rate, **figures(paced[0], paced[1], len(paced[2]), paced[3], clients)}
            print(describe(f"Function ingest, open loop at {rate:g}/s", row["at_rate"]), flush=True)
        if errors:
            row["first_error"] = errors[0]
        row["queue_messages"] = _queue_length(azurite.connection_string)
        paced_202 = sum(status == 202 for status in paced[1]) if rate else 0
        row["queue_messages_expected"] = warmup + sum(status == 202 for status in statuses) + paced_202
        row["http_connections_discarded"] = discarded.count
        print(describe("Function ingest", row), flush=True)
        print(f"  CPU in those {seconds:.1f} s on {os.cpu_count()} cores: this process (the handler and its "
              f"{clients} threads) {row['handler_cpu_seconds']} s, Azurite {row['azurite_cpu_seconds']} s", flush=True)
        print(f"  the queue holds {row['queue_messages']:,} messages ({row['queue_messages_expected']:,} expected); "
              f"the Storage client opened and dropped {discarded.count:,} connections over its pool of 10", flush=True)
        return row
    finally:
        pool_log.removeHandler(discarded)
        pool_log.propagate = True
        azurite.close()


def _queue_length(connection_string: str) -> int:
    from azure.storage.queue import QueueClient

    from relay.inbox.storage import QUEUE

    with QueueClient.from_connection_string(connection_string, QUEUE) as queue:
        return queue.get_queue_properties().approximate_message_count


class _Counter(logging.Handler):
    def __init__(self):
        super().__init__()
        self.count = 0
        self._lock_count = threading.Lock()

    def emit(self, record) -> None:
        if "pool is full" in record.getMessage():
            with self._lock_count:
                self.count += 1
        else:
            sys.stderr.write(self.format(record) + "\n")


# ---------------------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=5000, help="alerts measured, each part (default 5000)")
    parser.add_argument("--clients", type=int, default=50, help="senders at once (default 50)")
    parser.add_argument("--warmup", type=int, default=200, help="alerts sent first and not measured (default 200)")
    parser.add_argument("--only", choices=("serve", "function"), help="run one part only")
    parser.add_argument("--rate", type=float, default=100.0,
                        help="then an open loop: alerts due at this rate a second over the same senders, each timed"
                             " from when it was due (default 100; 0: closed loop only)")
    parser.add_argument("--rate-requests", type=int, default=2000, help="alerts of the open loop (default 2000)")
    parser.add_argument("--stalled", type=int, default=1000, metavar="N",
                        help="then the open loop again beside N connections that send half a request head and stop,"
                             " reopened whenever the server closes them (default 1000; 0: leave this pass out)")
    parser.add_argument("--drain-timeout", type=float, default=30.0, metavar="SECONDS",
                        help="how long to wait for relay serve's worker to empty the inbox after the intake; "
                             "when it has not, its rate so far gives an estimate (default 30)")
    results.add_option(parser)
    args = parser.parse_args()
    if args.requests < 1 or args.clients < 1 or args.warmup < 0:
        parser.error("--requests and --clients must be at least 1, --warmup at least 0")

    open_files_allowed()  # the stalled connections need more than a default 1,024 descriptors
    with results.recorded("ingest", args.write_results):
        result: dict = {"requests": args.requests, "clients": args.clients, "warmup": args.warmup,
                        "goal_p99_ms": GOAL_MS, "cpus": os.cpu_count()}
        failures: list[str] = []
        with tempfile.TemporaryDirectory() as tmp:
            if args.only in (None, "serve"):
                result["serve"] = row = bench_serve(args.requests, args.clients, args.warmup, args.drain_timeout,
                                                    Path(tmp) / "serve")
                if args.rate:
                    paced = bench_serve(args.rate_requests, args.clients, args.warmup, 0.0, Path(tmp) / "serve-rate",
                                        args.rate)
                    row["at_rate"] = {"rate": args.rate, **{k: v for k, v in paced.items() if k != "drain"}}
                    if args.stalled:
                        stalled = bench_serve(args.rate_requests, args.clients, args.warmup, 0.0,
                                              Path(tmp) / "serve-stalled", args.rate, args.stalled)
                        row["at_rate_stalled"] = {"rate": args.rate, **{k: v for k, v in stalled.items() if k != "drain"}}
                        if stalled["non_202"] or stalled["errors"] or not stalled["goal_met"]:
                            failures.append(f"relay serve beside {args.stalled} stalled connections: p99 "
                                            f"{stalled['p99_ms']} ms, {stalled['non_202']} answers other than 202, "
                                            f"{stalled['errors']} without answer")
                drained = row["drain"]
                if row["non_202"] or row["errors"]:
                    failures.append(f"relay serve: {row['non_202']} answers other than 202, {row['errors']} without answer")
                if drained["dead"]:
                    failures.append(f"relay serve: the worker gave up on {drained['dead']} alerts")
                if drained["drained"] and drained["outbox_messages"] != drained["outbox_messages_expected"]:
                    failures.append(f"relay serve: {drained['outbox_messages']} messages in the outbox, "
                                    f"{drained['outbox_messages_expected']} expected")
            if args.only in (None, "function"):
                try:
                    result["function"] = row = bench_function(args.requests, args.clients, args.warmup, Path(tmp) / "function",
                                                              args.rate, args.rate_requests)
                    if row["non_202"] or row["errors"]:
                        failures.append(f"Function ingest: {row['non_202']} answers other than 202, {row['errors']} errors")
                    if row["queue_messages"] != row["queue_messages_expected"]:
                        failures.append(f"Function ingest: {row['queue_messages']} queue messages, "
                                        f"{row['queue_messages_expected']} expected")
                except Skipped as e:
                    print(f"Function ingest: skipped: {e}", file=sys.stderr, flush=True)
                    result["function"] = {"skipped": str(e)}
                    if args.only == "function":
                        failures.append("Function ingest: skipped, and it was the only part asked for")

        parts = [(name, result[name]) for name in ("serve", "function") if "p99_ms" in result.get(name, {})]
        if len(parts) == 2:
            (_, serve), (_, function) = parts
            print(f"{'':>16} {'requests/s':>11} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8} {'not 202':>8}  p99 < 50 ms")
            rows = [("relay serve", serve), ("Function ingest", function)]
            rows += [(f"{label} {row['at_rate']['rate']:g}/s", row["at_rate"]) for label, row in
                     (("serve at", serve), ("Function at", function)) if "at_rate" in row]
            if "at_rate_stalled" in serve:
                rows.append(("serve, stalled", serve["at_rate_stalled"]))
            for label, row in rows:
                print(f"{label:>16} {row['requests_per_second']:>11,.0f} {row['p50_ms']:>8.1f} {row['p90_ms']:>8.1f} "
                      f"{row['p99_ms']:>8.1f} {row['max_ms']:>8.1f} {row['non_202'] + row['errors']:>8}  {row['goal_met']}")
            result["function_to_serve_p99_ratio"] = round(function["p99_ms"] / serve["p99_ms"], 3)
            result["function_to_serve_throughput_ratio"] = round(
                function["requests_per_second"] / serve["requests_per_second"], 3)
        for name, row in parts:
            # Every client sends again as soon as it is answered, so the mean time to 202 is clients / throughput
            # (Little's law): at 50 clients a p99 under 50 ms asks for well over 1,000 answers a second.
            if row["requests_per_second"]:
                print(f"{name}: {args.clients} clients / {row['requests_per_second']:,.0f} answers a second = "
                      f"{1000 * args.clients / row['requests_per_second']:.0f} ms, the measured mean {row['mean_ms']:.0f} ms: "
                      f"the time to 202 is mostly waiting for a turn, set by the throughput")
        for failure in failures:
            print(f"FAILED: {failure}", file=sys.stderr, flush=True)
        print(json.dumps(result))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
