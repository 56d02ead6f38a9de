"""Delivery against rate-limited endpoints: how close the relay gets to the limit, and what it loses.

Runs N distinct alerts through the whole pipeline (parse, ledger, render, pacing, retries) to one
Slack incoming-webhook sink and to one Teams Workflows sink on 127.0.0.1. Each sink enforces its
limit with a token bucket (a burst of one second's worth, then 429 + Retry-After). The real limits
(Slack 1/s, Teams 4/s) are time-scaled to --rate messages a second so a run takes seconds.

Figures: wall time, the lower bound the sink's bucket allows ((N - burst) / rate), the ratio, the
share of requests answered 429, and messages lost. A second pass paces the relay at twice what the
sink allows (a wrong `max_per_second`) to show that 429s are then retried and nothing is lost.

    python bench/deliver.py                 # 300 messages a sink at 20/s
    python bench/deliver.py --messages 100 --rate 10
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import results  # noqa: E402
from relay.config import parse_config  # noqa: E402
from relay.hosts.wiring import Paths, open_relay  # noqa: E402
from relay.pipeline import process  # noqa: E402
from tests.sinks.slack import SlackSink  # noqa: E402
from tests.sinks.teams import TeamsSink  # noqa: E402

ALERT = json.loads((ROOT / "examples" / "alerts" / "06-incident.json").read_text(encoding="utf-8"))


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=300, help="messages a sink (default 300)")
    parser.add_argument("--rate", type=float, default=20.0, help="the sinks' time-scaled limit, per second (default 20)")
    parser.add_argument("--skip-overdrive", action="store_true", help="leave out the pass paced too fast")
    results.add_option(parser)
    args = parser.parse_args()
    with results.recorded("deliver", args.write_results):
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            passes = [(args.rate, "paced to the limit")]
            if not args.skip_overdrive:
                passes.append((args.rate * 2, "paced 2x too fast"))
            for relay_rate, label in passes:
                for channel in ("slack", "teams"):
                    row = run(channel, args.messages, args.rate, relay_rate, Path(tmp))
                    rows.append(row)
                    ratio = f"{row['ratio_to_bound']:.3f}x" if row["ratio_to_bound"] else "n/a"
                    print(f"{channel:>5}, {label}: {row['messages']} messages in {row['seconds']:.2f} s "
                          f"(bound {row['lower_bound_seconds']:.2f} s, {ratio}); "
                          f"{row['answered_429']} of {row['requests']} requests answered 429 ({row['share_429']:.1%}); "
                          f"delivered {row['delivered']}, lost {row['lost']}", flush=True)
        paced = [r for r in rows if r["relay_per_second"] == args.rate]
        print(f"paced to the limit: worst ratio {max(r['ratio_to_bound'] or 0 for r in paced):.3f}x of the bound, "
              f"worst 429 share {max(r['share_429'] for r in paced):.1%}, lost {sum(r['lost'] for r in rows)} in all passes")
        print(json.dumps({"runs": rows}))


if __name__ == "__main__":
    main()
