"""Delivery against rate-limited endpoints, and around failing ones.

Runs N distinct alerts through the whole pipeline (parse, ledger, render, pacing, retries) to one
Slack incoming-webhook sink and to one Teams Workflows sink on 127.0.0.1. Each sink enforces its
limit with a token bucket (a burst of one second's worth, then 429 + Retry-After). The real limits
(Slack 1/s, Teams 4/s) are time-scaled to --rate messages a second so a run takes seconds.

Figures: wall time, the lower bound the sink's bucket allows ((N - burst) / rate), the ratio, the
share of requests answered 429, and messages lost. A second pass paces the relay at twice what the
sink allows (a wrong `max_per_second`) to show that 429s are then retried and nothing is lost.

The fan-out passes: one healthy Teams sink, alone, then with --failing sinks that answer every call 503,
all routed the same alerts (the failing receivers first). The alerts go into a SQLite inbox at
--fanout-rate a second and relay serve's worker relays them (polling every 5 ms, so that the poll does
not hide the delivery); an alert's latency runs from its being put in the inbox to the healthy sink
receiving it. Figures: the healthy receiver's p50, p99 and max latency with and without the failing
receivers and their ratio (target: at most 1.2x), and the most alerts in flight at once.

The Teams bot pass: --bot-notices notices of one event (its first, then updates) through the pipeline to the Bot
Connector emulator (tests/sinks/botconnector.py) as a bot in a Teams channel: a thread, then a reply and an update
of the first card for each later notice, all on one thread's budget. The emulator enforces the documented limits
per bot per thread (7 calls in 1 s, 8 in 2 s, 60 in 30 s, 1,800 in an hour) with 429s, its seconds --bot-second
real seconds long, and the relay paces the channel on the same scaled windows. Figures: wall time, the lower bound
(the earliest each call could go under those windows, one after another), the ratio (goal: at most 1.1x) and the
share of calls answered 429 (goal: under 1 %).

The relay's retry schedule (backoff, budget, the 300 s hold-off of a destination given up on) runs
--time-scale times faster, as the limits above are scaled, so that a pass sees a failing receiver's first
delivery retried and given up on (15-30 s, here about 1 s), the hold-off and its end (a single attempt). The
alerts that arrive during that first give-up wait in the failing lane, and in flight; once the worker holds
relay.hosts.worker.IN_FLIGHT (32) of them, it takes no more until the give-up, and the healthy receiver
waits too. So the defaults (20 alerts a second, 25 times faster) stand for 0.8 alerts a second against the
real schedule; --time-scale 1 runs the real one.

    python bench/deliver.py                 # 300 messages a sink at 20/s, then the fan-out passes
    python bench/deliver.py --messages 100 --rate 10
    python bench/deliver.py --fanout-only --time-scale 1 --fanout-rate 1 --fanout-alerts 40   # the real schedule
    python bench/deliver.py --bot-only --bot-notices 1000 --bot-second 0.02   # past the hour window's 1,800 calls
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import results  # noqa: E402
from relay.channels.pacing import Pacer  # noqa: E402
from relay.config import parse_config  # noqa: E402
from relay.hosts import worker  # noqa: E402
from relay.hosts.wiring import Paths, open_relay  # noqa: E402
from relay.inbox.sqlite import SqliteInbox  # noqa: E402
from relay.pipeline import process  # noqa: E402
from tests.sinks.slack import SlackSink  # noqa: E402
from tests.sinks.teams import TeamsSink  # noqa: E402

ALERT = json.loads((ROOT / "examples" / "alerts" / "06-incident.json").read_text(encoding="utf-8"))
TRACKING = re.compile(rb"BENCH-\d{4}")
POLL_SECONDS = 0.005  # the worker's poll of an empty inbox


def alerts(n: int) -> list[bytes]:
    """N distinct communications (each its own trackingId), so none is a duplicate of another."""
    bodies = []
    for i in range(n):
        alert = json.loads(json.dumps(ALERT))
        properties = alert["data"]["context"]["activityLog"]["properties"]
        properties["trackingId"] = f"BENCH-{i:04d}"
        properties["communicationId"] = f"9{i:017d}"
        alert["data"]["context"]["activityLog"]["eventDataId"] = f"bench-{i}"
        bodies.append(json.dumps(alert).encode())
    return bodies


def run(channel: str, n: int, sink_rate: float, relay_rate: float, workdir: Path) -> dict:
    sink = SlackSink(per_second=sink_rate) if channel == "slack" else TeamsSink(per_second=sink_rate)
    with sink:
        url = sink.webhook_url if channel == "slack" else sink.url
        config = parse_config({"receivers": [{"name": channel, "channel": channel, "destination": "BENCH_URL",
                                              "language": "both", "max_per_second": relay_rate}]})
        run_dir = workdir / f"{channel}-{relay_rate:g}"
        relay = open_relay(config, Paths(None, run_dir / "ledger.sqlite", run_dir / "outbox"),
                           environ={"BENCH_URL": url})
        bodies = alerts(n)
        started = time.perf_counter()
        outcomes = [process(body, relay) for body in bodies]
        elapsed = time.perf_counter() - started
        relay.ledger.close()
        accepted = len(sink.posts) if channel == "slack" else len(sink.cards)
        requests = len(sink.requests)
        throttled = sink.throttled
    burst = max(1.0, sink_rate)
    bound = max(0.0, (n - burst) / sink_rate)
    return {
        "channel": channel, "messages": n, "sink_per_second": sink_rate, "relay_per_second": relay_rate,
        "seconds": round(elapsed, 3), "lower_bound_seconds": round(bound, 3),
        "ratio_to_bound": round(elapsed / bound, 3) if bound else None,
        "requests": requests, "answered_429": throttled, "share_429": round(throttled / requests, 4),
        "delivered": sum(o.ok for o in outcomes), "accepted_by_sink": accepted, "lost": n - accepted,
    }


def bot_bound(calls: int, windows: list[tuple[int, float]]) -> float:
    """When the last of `calls` calls could go at the earliest, each as soon as every window has room."""
    times: list[float] = []
    for _ in range(calls):
        t = times[-1] if times else 0.0
        for count, seconds in windows:
            if len(times) >= count:
                t = max(t, times[-count] + seconds)
        times.append(t)
    return times[-1] if times else 0.0


def bot_thread(n: int, second: float, workdir: Path) -> dict:
    """N notices of one event to a Teams bot's channel: a thread, then a reply and an update a notice."""
    import os

    from relay.channels.teams_bot import bot_limit
    from tests.sinks.botconnector import APP_ID, CHANNEL, TENANT, BotConnector, BotLimits
    from tests.sinks.server import TestCA

    tls = TestCA()
    os.environ.update(REQUESTS_CA_BUNDLE=str(tls.bundle), SSL_CERT_FILE=str(tls.bundle))  # msal, and ssl's default
    limits = BotLimits(second=second)
    with BotConnector(tls=tls, limits=limits) as bc:
        config = parse_config({"receivers": [{
            "name": "oncall-bot", "channel": "teams", "via": "bot", "app_id": APP_ID, "tenant_id": TENANT,
            "team_channel": CHANNEL, "service_url": bc.service_url, "authority": bc.authority, "secret": "BENCH_SECRET",
            "language": "both"}]})
        relay = open_relay(config, Paths(None, workdir / "bot" / "ledger.sqlite", workdir / "bot"),
                           environ={"BENCH_SECRET": bc.client_secret})
        channel = relay.channel_for(config.routes.receivers[0].receiver)
        channel.limit = bot_limit(channel.limit.key, second)
        bodies = notices(n)
        started = time.perf_counter()
        outcomes = [process(body, relay) for body in bodies]
        elapsed = time.perf_counter() - started
        relay.ledger.close()
        (thread,) = bc.threads(CHANNEL)
        calls = len(bc.operations) - 1  # less the token request
        throttled = bc.throttled
        replies, updates = len(thread.replies), thread.root.updates
    bound = bot_bound(2 * (n - 1), limits.windows("send"))
    return {"notices": n, "second": second, "seconds": round(elapsed, 3), "lower_bound_seconds": round(bound, 3),
            "ratio_to_bound": round(elapsed / bound, 3) if bound else None, "calls": calls, "answered_429": throttled,
            "share_429": round(throttled / max(calls, 1), 4), "delivered": sum(o.ok for o in outcomes),
            "replies": replies, "updates": updates}


def notices(n: int) -> list[bytes]:
    """N communications of one event, BENCH-0000: the first, then updates (each its own communicationId)."""
    bodies = alerts(1) * n
    for i, body in enumerate(bodies):
        alert = json.loads(body)
        alert["data"]["context"]["activityLog"]["properties"]["communicationId"] = f"8{i:017d}"
        alert["data"]["context"]["activityLog"]["eventDataId"] = f"bench-bot-{i}"
        bodies[i] = json.dumps(alert).encode()
    return bodies


def warm_up(workdir: Path) -> None:
    """Render one Teams card first, so that loading the templates counts in neither fan-out pass."""
    config = parse_config({"receivers": [{"name": "warm-up", "channel": "outbox", "format": "teams"}]})
    relay = open_relay(config, Paths(None, workdir / "warm-up.sqlite", workdir / "warm-up"))
    process(alerts(1)[0], relay)
    relay.ledger.close()


def fan_out(n: int, rate: float, failing: int, time_scale: float, workdir: Path) -> dict:
    """One fan-out pass: the healthy receiver's latency figures, with `failing` receivers beside it."""
    logging.getLogger("relay").setLevel(logging.ERROR)  # one warning a failed delivery: hundreds a pass
    with contextlib.ExitStack() as stack:
        healthy, *down = [stack.enter_context(TeamsSink()) for _ in range(failing + 1)]
        for sink in down:
            sink.server.fail_always(503)
        names = [f"failing-{i}" for i in range(1, failing + 1)] + ["healthy"]
        config = parse_config({"receivers": [
            {"name": name, "channel": "teams", "destination": f"BENCH_{i}", "max_per_second": 1000}
            for i, name in enumerate(names)]})
        environ = {f"BENCH_{i}": sink.url for i, sink in enumerate([*down, healthy])}
        run_dir = workdir / f"fanout-{failing}"
        relay = open_relay(config, Paths(None, run_dir / "ledger.sqlite", run_dir / "outbox"), environ=environ)
        relay.monotonic = lambda: time.monotonic() * time_scale
        relay.sleep = lambda seconds: time.sleep(seconds / time_scale)
        relay.pacer = Pacer(relay.monotonic, relay.sleep)
        inbox = SqliteInbox(run_dir / "inbox.sqlite")
        stop = threading.Event()
        thread = threading.Thread(target=worker.run, args=(inbox, relay, stop, POLL_SECONDS), daemon=True)
        thread.start()
        put_at: dict[bytes, float] = {}
        in_flight = 0
        started = time.monotonic()
        for i, body in enumerate(alerts(n)):
            time.sleep(max(0.0, started + i / rate - time.monotonic()))
            put_at[f"BENCH-{i:04d}".encode()] = time.monotonic()
            inbox.put(body)
            in_flight = max(in_flight, inbox.counts().get("taken", 0))
        deadline = time.monotonic() + 60 + n / rate
        while len(healthy.requests) < n and time.monotonic() < deadline:
            in_flight = max(in_flight, inbox.counts().get("taken", 0))
            time.sleep(0.01)
        stop.set()
        thread.join()
        relay.lanes.shutdown()
        relay.ledger.close()
        inbox.close()
        arrived = {TRACKING.search(r.body).group(): r.at for r in healthy.requests}
        failing_calls = sum(len(sink.requests) for sink in down)
    latencies = [arrived[key] - at for key, at in put_at.items() if key in arrived]
    return {"failing": failing, "alerts": n, "per_second": rate, "time_scale": time_scale,
            "healthy_received": len(latencies), "failing_calls": failing_calls, "most_in_flight": in_flight,
            "p50_ms": _ms(_percentile(latencies, 0.50)), "p99_ms": _ms(_percentile(latencies, 0.99)),
            "max_ms": _ms(max(latencies))}


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=300, help="messages a sink (default 300)")
    parser.add_argument("--rate", type=float, default=20.0, help="the sinks' time-scaled limit, per second (default 20)")
    parser.add_argument("--skip-overdrive", action="store_true", help="leave out the pass paced too fast")
    parser.add_argument("--fanout-alerts", type=int, default=300, help="alerts a fan-out pass (default 300)")
    parser.add_argument("--fanout-rate", type=float, default=20.0,
                        help="alerts put in the inbox a second in the fan-out passes (default 20)")
    parser.add_argument("--failing", type=int, default=4, help="receivers that answer 503 (default 4)")
    parser.add_argument("--time-scale", type=float, default=25.0,
                        help="how much faster the relay's retry schedule runs in the fan-out passes (default 25)")
    parser.add_argument("--fanout-only", action="store_true", help="run the fan-out passes only")
    parser.add_argument("--bot-notices", type=int, default=200, help="notices of one event to the Teams bot (default 200)")
    parser.add_argument("--bot-second", type=float, default=0.2,
                        help="real seconds a documented second lasts in the Teams bot pass (default 0.2)")
    parser.add_argument("--bot-only", action="store_true", help="run the Teams bot pass only")
    results.add_option(parser)
    args = parser.parse_args()
    with results.recorded("deliver", args.write_results):
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            bot = bot_thread(args.bot_notices, args.bot_second, Path(tmp))
            print(f"teams bot, one thread: {bot['notices']} notices in {bot['seconds']:.2f} s (bound "
                  f"{bot['lower_bound_seconds']:.2f} s, {bot['ratio_to_bound']:.3f}x; a documented second is "
                  f"{bot['second']:g} s); {bot['answered_429']} of {bot['calls']} calls answered 429 "
                  f"({bot['share_429']:.1%}); {bot['replies']} replies, the first card updated {bot['updates']} times",
                  flush=True)
            if args.bot_only:
                print(json.dumps({"bot": bot}))
                return
            if not args.fanout_only:
                rows = rate_limited(args, Path(tmp))
            warm_up(Path(tmp))
            fanout = [fan_out(args.fanout_alerts, args.fanout_rate, failing, args.time_scale, Path(tmp))
                      for failing in (0, args.failing)]
        alone, beside = fanout
        for row in fanout:
            print(f"healthy receiver, {row['failing']} failing beside it: {row['healthy_received']} of "
                  f"{row['alerts']} alerts at {row['per_second']:g}/s, retries {row['time_scale']:g}x faster; "
                  f"latency p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms, max {row['max_ms']:.1f} ms; "
                  f"at most {row['most_in_flight']} in flight; {row['failing_calls']} calls to the failing sinks",
                  flush=True)
        ratios = {q: round(beside[f"{q}_ms"] / alone[f"{q}_ms"], 2) for q in ("p50", "p99", "max")}
        print(f"with {args.failing} failing receivers: the healthy one's latency is "
              + ", ".join(f"{q} {r:.2f}x" for q, r in ratios.items()) + " of its latency alone (target 1.2x)")
        print(json.dumps({"runs": rows, "fanout": fanout, "fanout_ratios": ratios, "bot": bot}))


def rate_limited(args, workdir: Path) -> list[dict]:
    """The passes against the rate-limited sinks; their rows, printed as they come."""
    rows = []
    passes = [(args.rate, "paced to the limit")]
    if not args.skip_overdrive:
        passes.append((args.rate * 2, "paced 2x too fast"))
    for relay_rate, label in passes:
        for channel in ("slack", "teams"):
            row = run(channel, args.messages, args.rate, relay_rate, workdir)
            rows.append(row)
            ratio = f"{row['ratio_to_bound']:.3f}x" if row["ratio_to_bound"] else "n/a"
            print(f"{channel:>5}, {label}: {row['messages']} messages in {row['seconds']:.2f} s "
                  f"(bound {row['lower_bound_seconds']:.2f} s, {ratio}); "
                  f"{row['answered_429']} of {row['requests']} requests answered 429 ({row['share_429']:.1%}); "
                  f"delivered {row['delivered']}, lost {row['lost']}", flush=True)
    paced = [r for r in rows if r["relay_per_second"] == args.rate]
    print(f"paced to the limit: worst ratio {max(r['ratio_to_bound'] or 0 for r in paced):.3f}x of the bound, "
          f"worst 429 share {max(r['share_429'] for r in paced):.1%}, lost {sum(r['lost'] for r in rows)} in all passes",
          flush=True)
    return rows


if __name__ == "__main__":
    main()
