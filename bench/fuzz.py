"""Fuzzing the intake: 100,000 hostile bodies through the parser and the intake's answer, and what it accepts
through the whole pipeline.

Each case is a real example alert, a documented sample of an Azure Monitor alert (tests/payloads/common/) or a
Scheduled Event report, with one to four hostile changes (wrong types, missing and extra keys, nesting a thousand
deep, 70 KB strings, markup and mention injection, broken dates, ids and dates that cannot be delivered, links
that lead out of the Azure portal, unknown monitoring services and severities), sometimes broken at the byte
level (truncated, flipped bytes, UTF-16, a byte order mark) — tests/mutations.py. Every body goes through
`relay.hosts.intake.ingest`, as the Function's HTTP trigger and `relay serve` call it. A clean answer is 202 (usable) or 400/413 with problem details; anything
raised is a finding.

What the intake answers 202 among the first `--deliver` cases is then relayed as the worker would: the real
pipeline (default config, the example inventory, a fresh SQLite ledger each, so that no variant is taken for a
duplicate of another) into an outbox in a temporary folder. An accepted alert that raises or that some channel
does not get is *undelivered*: the intake should have refused it with a 400. The goal is 0.

Figures: cases a second, answers by status, findings and undelivered alerts (with the seed that reproduces
each: `tests.mutations.mutate(random.Random(seed))`), the slowest cases, and the most common first problems
reported.

    python bench/fuzz.py                          # 100,000 cases, the first 10,000 relayed when accepted
    python bench/fuzz.py --cases 5000 --seed 7 --deliver 5000
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import traceback
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import results  # noqa: E402
from relay.config import default_config  # noqa: E402
from relay.hosts.intake import SCHEDULED_EVENTS, ingest  # noqa: E402
from relay.hosts.wiring import Paths, open_relay  # noqa: E402
from relay.pipeline import process  # noqa: E402
from tests.mutations import mutate  # noqa: E402

INVENTORY = ROOT / "examples" / "inventory.json"
NOW = datetime(2027, 1, 12, tzinfo=UTC)  # the examples' time


def kept(body: bytes, event) -> str:
    return "kept"


def relay_to_outbox(body: bytes, outbox: Path) -> str | None:
    """Relay one accepted body through the pipeline; None when every receiver got it, else what went wrong."""
    relay = open_relay(default_config(), Paths(INVENTORY, Path(":memory:"), outbox), now=NOW)
    relay.sleep = lambda seconds: None
    try:
        outcome = process(body, relay)
    except Exception:
        return traceback.format_exc(limit=3)
    finally:
        relay.ledger.close()
    if not outcome.deliveries:
        return f"no receiver got it ({outcome.status})"
    return "; ".join(f"{d.receiver}: {d.result.detail}" for d in outcome.deliveries if not d.result.ok) or None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=100_000, help="bodies to try (default 100,000)")
    parser.add_argument("--seed", type=int, default=1, help="case i uses seed*1,000,003 + i (default 1)")
    parser.add_argument("--deliver", type=int, default=10_000,
                        help="relay what the intake accepts among the first N cases (default 10,000; a relayed "
                             "alert takes about 30 ms)")
    results.add_option(parser)
    args = parser.parse_args()
    with results.recorded("fuzz", args.write_results), tempfile.TemporaryDirectory() as scratch:

        statuses: Counter[int] = Counter()
        first_problems: Counter[str] = Counter()
        findings: list[tuple[int, str]] = []
        undelivered: list[tuple[int, str]] = []
        relayed = 0
        relay_seconds = 0.0
        slowest: list[tuple[float, int, int]] = []
        started = time.perf_counter()
        for i in range(args.cases):
            case_seed = args.seed * 1_000_003 + i
            body = mutate(random.Random(case_seed))
            t0 = time.perf_counter()
            try:
                reply = ingest(body, kept)
                if reply.body.get("title") == "Wrong endpoint":  # an agent's report, posted where agents post
                    reply = ingest(body, kept, SCHEDULED_EVENTS)
                json.loads(reply.encoded())
            except Exception:
                findings.append((case_seed, traceback.format_exc(limit=3)))
                continue
            took = time.perf_counter() - t0
            slowest = sorted(slowest + [(took, case_seed, len(body))], reverse=True)[:5]
            statuses[reply.status] += 1
            if reply.status == 400:
                first = reply.body["errors"][0]["detail"] if reply.body.get("errors") else reply.body["detail"]
                first_problems[first.split(":")[0][:60]] += 1
            elif reply.status == 202 and i < args.deliver:
                t0 = time.perf_counter()
                if (what := relay_to_outbox(body, Path(scratch) / "outbox")) is not None:
                    undelivered.append((case_seed, what))
                relay_seconds += time.perf_counter() - t0
                relayed += 1
            if (i + 1) % 20_000 == 0:
                print(f"  {i + 1:,} cases, {len(findings)} finding(s), {len(undelivered)} undelivered", flush=True)
        seconds = time.perf_counter() - started - relay_seconds

        print(f"{args.cases:,} cases in {seconds:.1f} s ({args.cases / seconds:,.0f}/s)")
        print("answers: " + ", ".join(f"{status}: {n:,}" for status, n in sorted(statuses.items())))
        print(f"findings (anything raised): {len(findings)}")
        for case_seed, text in findings[:10]:
            print(f"  seed {case_seed}:\n" + "\n".join("    " + line for line in text.splitlines()))
        print(f"accepted then not delivered: {len(undelivered)} of {relayed:,} relayed to the outbox "
              f"(the 202s of the first {min(args.deliver, args.cases):,} cases, {relay_seconds:.1f} s)")
        for case_seed, text in undelivered[:10]:
            print(f"  seed {case_seed}:\n" + "\n".join("    " + line for line in text.splitlines()))
        print("slowest: " + ", ".join(f"{t * 1000:.1f} ms (seed {s}, {n:,} bytes)" for t, s, n in slowest))
        print("most common first problems of the 400s:")
        for problem, n in first_problems.most_common(8):
            print(f"  {n:6,}  {problem}")
        print(json.dumps({
            "cases": args.cases, "seconds": round(seconds, 1), "cases_per_second": round(args.cases / seconds),
            "answers": {str(k): v for k, v in sorted(statuses.items())}, "findings": len(findings),
            "finding_seeds": [s for s, _ in findings[:20]],
            "relayed": relayed, "relay_seconds": round(relay_seconds, 1), "undelivered": len(undelivered),
            "undelivered_seeds": [s for s, _ in undelivered[:20]],
            "slowest_ms": round(slowest[0][0] * 1000, 1) if slowest else None,
        }))
    return 1 if findings or undelivered else 0


if __name__ == "__main__":
    sys.exit(main())
