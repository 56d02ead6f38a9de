"""Fuzzing the intake: 100,000 hostile bodies through the parser and the intake's answer.

Each case is a real example alert with one to four hostile changes (wrong types, missing and extra keys,
nesting a thousand deep, 70 KB strings, markup and mention injection, broken dates), sometimes broken at
the byte level (truncated, flipped bytes, UTF-16, a byte order mark) — tests/mutations.py. Every body
goes through `relay.hosts.intake.ingest`, as the Function's HTTP trigger and `relay serve` call it. A clean
answer is 202 (usable) or 400/413 with problem details; anything raised is a finding.

Figures: cases a second, answers by status, findings (with the seed that reproduces each), the slowest
cases, and the most common first problems reported.

    python bench/fuzz.py                          # 100,000 cases, seed 1
    python bench/fuzz.py --cases 5000 --seed 7
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import results  # noqa: E402
from relay.hosts.intake import ingest  # noqa: E402
from tests.mutations import mutate  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=100_000, help="bodies to try (default 100,000)")
    parser.add_argument("--seed", type=int, default=1, help="case i uses seed*1,000,003 + i (default 1)")
    results.add_option(parser)
    args = parser.parse_args()
    with results.recorded("fuzz", args.write_results):

        statuses: Counter[int] = Counter()
        first_problems: Counter[str] = Counter()
        findings: list[tuple[int, str]] = []
        slowest: list[tuple[float, int, int]] = []
        started = time.perf_counter()
        for i in range(args.cases):
            case_seed = args.seed * 1_000_003 + i
            body = mutate(random.Random(case_seed))
            t0 = time.perf_counter()
            try:
                reply = ingest(body, lambda raw, event: "kept")
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
            if (i + 1) % 20_000 == 0:
                print(f"  {i + 1:,} cases, {len(findings)} finding(s)", flush=True)
        seconds = time.perf_counter() - started

        print(f"{args.cases:,} cases in {seconds:.1f} s ({args.cases / seconds:,.0f}/s)")
        print("answers: " + ", ".join(f"{status}: {n:,}" for status, n in sorted(statuses.items())))
        print(f"findings (anything raised): {len(findings)}")
        for case_seed, text in findings[:10]:
            print(f"  seed {case_seed}:\n" + "\n".join("    " + line for line in text.splitlines()))
        print("slowest: " + ", ".join(f"{t * 1000:.1f} ms (seed {s}, {n:,} bytes)" for t, s, n in slowest))
        print("most common first problems of the 400s:")
        for problem, n in first_problems.most_common(8):
            print(f"  {n:6,}  {problem}")
        print(json.dumps({
            "cases": args.cases, "seconds": round(seconds, 1), "cases_per_second": round(args.cases / seconds),
            "answers": {str(k): v for k, v in sorted(statuses.items())}, "findings": len(findings),
            "finding_seeds": [s for s, _ in findings[:20]],
            "slowest_ms": round(slowest[0][0] * 1000, 1) if slowest else None,
        }))
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
