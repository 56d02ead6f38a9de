"""How fast GET /api/calendar.ics answers for a ledger of 1,000 maintenance events (goal: p99 under 50 ms).

It fills a SQLite ledger with --events maintenance threads for one receiver, as the pipeline leaves them: each
announced (Planned), a third of them moved (Rescheduled), a tenth canceled, and each with what the receiver was
told of its --vms VMs (the told snapshot). Two ledgers: "spread", one event every --every-hours back from now,
so that only the open and recent ones are in the feed; and "all open", every event still ahead. Then it asks
`relay serve` (its own thread, keep-alive HTTP on 127.0.0.1) for the receiver's feed --requests times, with and
without If-None-Match, and prints the answer times (p50, p90, p99, max). An unchanged ledger is answered from
the file kept for it; so two more are timed on their own: the first answer after start (no entry written
yet), and answers each right after another connection recorded what a receiver was told (the file is built
again from the ledger, its unchanged entries already written). Last, one JSON object with every figure.

    python bench/feed.py
    python bench/feed.py --events 5000 --vms 50 --requests 500
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402

from bench import results  # noqa: E402
from relay.config import parse_config  # noqa: E402
from relay.hosts.serve import RelayServer  # noqa: E402
from relay.hosts.wiring import Paths, open_relay  # noqa: E402
from relay.inbox.sqlite import SqliteInbox  # noqa: E402
from relay.model import Event, EventKind, MaintenanceState, NoticeSnapshot, VmSnapshot, Window  # noqa: E402
from relay.store.sqlite import SqliteLedger  # noqa: E402

NOW = datetime(2027, 6, 1, tzinfo=UTC)
GOAL_MS = 50.0
RECEIVER = "managers"
CONFIG = {"receivers": [{"name": RECEIVER, "channel": "outbox", "format": "email", "audience": "managers"}]}
STATES = (MaintenanceState.START_NOW, MaintenanceState.SCHEDULED, MaintenanceState.RETRY_LATER,
          MaintenanceState.ALREADY_UPDATED, MaintenanceState.START_NOW)


def fill(path: Path, events: int, vms: int, every: timedelta) -> None:
    """The ledger the pipeline would leave after relaying `events` maintenance threads to one receiver."""
    ledger = SqliteLedger(path)
    for n in range(events):
        announced = NOW - every * n
        stages = ["Planned"] + ["Rescheduled"] * (n % 3 == 0) + ["Canceled"] * (n % 10 == 0)
        for step, stage in enumerate(stages):
            at = announced + timedelta(days=2 * step)
            moved = timedelta(days=7 * (stage == "Rescheduled"))
            deadline = announced + timedelta(days=35) + moved
            scheduled = Window(deadline + timedelta(days=2), deadline + timedelta(days=4))
            event = Event(kind=EventKind.MAINTENANCE, schema="common", communication="",
                          title=f"Planned maintenance: Virtual Machines - Japan East (reboot required) {n}",
                          tracking_id=f"B{n:04d}-XYZ", communication_id=f"7{n:08d}{step}", stage=stage,
                          services=("Virtual Machines",), regions=("Japan East",),
                          subscription_ids=("11111111-2222-3333-4444-555555555555",),
                          window=Window(announced, scheduled.end), event_time=at)
            ledger.admit(event, [RECEIVER], at)
            told = tuple(VmSnapshot(f"/subscriptions/x/vm-{n}-{i}", f"vm-{n:04d}-{i:03d}", STATES[(n + i) % len(STATES)],
                                    Window(announced, deadline + timedelta(hours=i % 24)), scheduled)
                         for i in range(vms))
            ledger.record_told(event.thread_key, RECEIVER, NoticeSnapshot(event.dedup_key, at, at, told))
    ledger.close()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def timed(conn: http.client.HTTPConnection, headers: dict[str, str]) -> tuple[float, int, str, int]:
    start = time.perf_counter()
    conn.request("GET", f"/api/calendar.ics?receiver={RECEIVER}", headers=headers)
    response = conn.getresponse()
    body = response.read()
    return (time.perf_counter() - start) * 1000, response.status, response.getheader("ETag") or "", len(body)


def told_again(writer: SqliteLedger, n: int) -> None:
    """What the worker does when it delivers again: the receiver's VMs of thread n recorded anew."""
    at = NOW + timedelta(days=30, seconds=n)  # later than every communication of the thread
    vms = (VmSnapshot("/subscriptions/x/vm", "vm-moved", MaintenanceState.START_NOW,
                      Window(NOW, NOW + timedelta(days=3)), Window(NOW + timedelta(days=5), NOW + timedelta(days=6))),)
    writer.record_told(f"B{n:04d}-XYZ", RECEIVER, NoticeSnapshot(f"b{n:04d}-xyz/again", at, at, vms))


def measure(name: str, ledger: Path, workdir: Path, requests: int, changes: int) -> dict:
    relay = open_relay(parse_config(CONFIG), Paths(None, ledger, workdir / "outbox"), now=NOW)
    server = RelayServer(("127.0.0.1", 0), relay, SqliteInbox(workdir / f"inbox-{name}.sqlite"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
    try:
        first_ms, status, etag, size = timed(conn, {})
        assert status == 200, status
        full = [timed(conn, {}) for _ in range(requests)]
        conditional = [timed(conn, {"If-None-Match": etag}) for _ in range(requests)]
        assert all(r[1] == 200 for r in full) and all(r[1] == 304 for r in conditional)
        writer = SqliteLedger(ledger)
        changed = []
        for n in range(changes):
            told_again(writer, n)
            changed.append(timed(conn, {"If-None-Match": etag}))
            etag = changed[-1][2]
        writer.close()
        assert all(r[1] == 200 for r in changed)
    finally:
        conn.close()
        server.shutdown()
        server.server_close()
        relay.ledger.close()
    entries = relay_entries(ledger)

    def figures(rows) -> dict:
        times = [r[0] for r in rows]
        return {"p50_ms": statistics.median(times), "p90_ms": percentile(times, 0.9),
                "p99_ms": percentile(times, 0.99), "max_ms": max(times)}

    return {"ledger": name, "feed_entries": entries, "feed_bytes": size, "first_ms": first_ms,
            "full": figures(full), "if_none_match": figures(conditional), "after_a_change": figures(changed)}


def relay_entries(ledger: Path) -> int:
    from relay.calendar.feed import receiver_entries

    store = SqliteLedger(ledger)
    try:
        return len(receiver_entries(store, parse_config(CONFIG).receivers()[RECEIVER], NOW))
    finally:
        store.close()


def line(row: dict) -> str:
    def times(kind: str) -> str:
        f = row[kind]
        return f"p50 {f['p50_ms']:.1f} / p90 {f['p90_ms']:.1f} / p99 {f['p99_ms']:.1f} / max {f['max_ms']:.1f} ms"

    return (f"{row['ledger']:>9}: {row['feed_entries']:,} entries, {row['feed_bytes']:,} B · first answer after start "
            f"{row['first_ms']:.0f} ms\n{'':>11}200 {times('full')} · 304 {times('if_none_match')}\n{'':>11}right "
            f"after a change {times('after_a_change')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1000, help="maintenance events in the ledger (default 1000)")
    parser.add_argument("--vms", type=int, default=20, help="VMs the receiver was told of per event (default 20)")
    parser.add_argument("--every-hours", type=float, default=12.0,
                        help='the "spread" ledger: hours between two events (default 12: 1,000 over 500 days)')
    parser.add_argument("--requests", type=int, default=300, help="timed requests of each kind (default 300)")
    parser.add_argument("--changes", type=int, default=30,
                        help="requests timed each right after a change to the ledger (default 30)")
    results.add_option(parser)
    args = parser.parse_args()
    with results.recorded("feed", args.write_results):
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            print(f"{args.events:,} maintenance events, {args.vms} VMs each told to {RECEIVER}; "
                  f"{args.requests} requests of each kind to relay serve", flush=True)
            for name, every in (("spread", timedelta(hours=args.every_hours)), ("all open", timedelta(minutes=10))):
                ledger = workdir / f"{name.replace(' ', '-')}.sqlite"
                started = time.perf_counter()
                fill(ledger, args.events, args.vms, every)
                print(f"{name:>9}: ledger filled in {time.perf_counter() - started:.1f} s", flush=True)
                rows.append(measure(name, ledger, workdir, args.requests, args.changes))
                print(line(rows[-1]), flush=True)
        worst = max(row["full"]["p99_ms"] for row in rows)
        spread = rows[0]["after_a_change"]["p99_ms"]
        print(f"worst p99 {worst:.1f} ms against the goal of {GOAL_MS:.0f} ms ({worst / GOAL_MS:.2f}x the goal); right "
              f"after a change, p99 {spread:.1f} ms for the spread ledger ({spread / GOAL_MS:.2f}x the goal) and "
              f"{rows[-1]['after_a_change']['p99_ms']:.1f} ms with every event open")
        print(json.dumps({"events": args.events, "vms": args.vms, "requests": args.requests, "changes": args.changes,
                          "goal_p99_ms": GOAL_MS, "ledgers": rows, "worst_p99_ms": worst,
                          "p99_to_goal_ratio": worst / GOAL_MS, "after_a_change_p99_to_goal_ratio": spread / GOAL_MS}))


if __name__ == "__main__":
    main()
