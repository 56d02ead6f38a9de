"""Crash-test figures: `relay serve` killed with SIGKILL at random moments while alerts arrive.

1,000 distinct planned-maintenance alerts (10% of them delivered twice, as an Action Group may) are
posted at a steady rate to `relay serve` (its own process, SQLite inbox and ledger, --workers 2), which
relays each to a Teams and a Slack sink on 127.0.0.1. Each sink fails 20% of calls (429 with
Retry-After, 503, 500, dropped connections, and a few answered only after the relay's 10 s timeout).
The serve process is killed with SIGKILL 10 times, every 0.5–4 s, and started again on the same files
at once; a post that meets a dead server is sent again, as Action Groups retry.

Then every (alert, receiver) is accounted for. Goal: 0 lost, 0 duplicated. A duplicate can only come
from a kill between a destination's acceptance and the ledger's mark; each is checked for that.

    python bench/chaos.py                        # 1,000 alerts, 10 kills
    python bench/chaos.py --alerts 200 --kills 4
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import results  # noqa: E402
from tests.chaos import Plan, run  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=1000, help="distinct alerts (default 1000)")
    parser.add_argument("--duplicates", type=float, default=0.10, help="share delivered twice (default 0.10)")
    parser.add_argument("--failures", type=float, default=0.20, help="share of sink calls that fail (default 0.20)")
    parser.add_argument("--kills", type=int, default=10, help="SIGKILLs of relay serve (default 10)")
    parser.add_argument("--workers", type=int, default=2, help="relay serve --workers (default 2)")
    parser.add_argument("--rate", type=float, default=50.0, help="alerts posted a second (default 50)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    results.add_option(parser)
    args = parser.parse_args()
    with results.recorded("chaos", args.write_results):
        plan = Plan(alerts=args.alerts, duplicates=args.duplicates, failures=args.failures, kills=args.kills,
                    workers=args.workers, post_rate=args.rate, seed=args.seed)
        print(f"chaos: {plan.alerts} alerts ({plan.duplicates:.0%} twice) at {plan.post_rate:g}/s to relay serve"
              f" --workers {plan.workers}; sinks fail {plan.failures:.0%}; {plan.kills} SIGKILLs", flush=True)
        with tempfile.TemporaryDirectory(prefix="relay-chaos-") as workdir:
            report = run(plan, Path(workdir), progress=lambda text: print(f"  {text}", flush=True))
        figures = report.figures()
        pairs = figures["pairs"]
        print(f"{report.seconds:.1f} s; {report.posts} posts answered 202, {report.refused_posts} sent again after"
              f" meeting a killed server; sinks answered {report.sink_calls} calls, failed {report.sink_failures}"
              f" ({report.sink_failures / max(1, report.sink_calls):.1%})")
        print(f"(alert, receiver) pairs: {pairs}: delivered once {report.delivered_once}, failed and recorded"
              f" {report.failed_recorded}, lost {len(report.lost)}, duplicated {len(report.duplicated)}"
              f" (unexplained by a kill: {len(report.unexplained_duplicates)}); parked {report.parked},"
              f" unfinished {figures['unfinished']}")
        for tracking, receiver in report.duplicated:
            print(f"  duplicated: {tracking} to {receiver}")
        for tracking, receiver in report.lost:
            print(f"  LOST: {tracking} to {receiver}")
        goal = not report.lost and not report.duplicated and not report.unfinished
        print(f"goal (0 lost, 0 duplicated): {'met' if goal else 'NOT met'}")
        print(json.dumps({**figures, "goal_met": goal}))
    return 0 if not report.lost and not report.unexplained_duplicates and not report.unfinished else 1


if __name__ == "__main__":
    sys.exit(main())
