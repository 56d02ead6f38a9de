"""Crash-test figures: `relay serve` killed with SIGKILL at random moments while alerts arrive.

1,000 distinct planned-maintenance alerts (10% of them delivered twice, as an Action Group may) are
posted at a steady rate to `relay serve` (its own process, SQLite inbox and ledger, --workers 2), which
relays each to five receivers on 127.0.0.1: a Teams Workflows and a Slack incoming webhook, and the three
destinations the relay can ask what they already have (a Slack bot, Graph email, ACS email). Each sink
fails 20% of calls (429 with Retry-After, 503, 500, dropped connections, and a few answered only after
the relay's 10 s timeout); a quarter of the Slack bot's, Graph's and ACS's failures are calls they take
and then answer to no one. The serve process is killed with SIGKILL 10 times, every 0.5–4 s, and started
again on the same files at once; a post that meets a dead server is sent again, as Action Groups retry.

Then every (alert, receiver) is accounted for, per receiver. Goals: nothing lost anywhere; no duplicate
at a destination that can be asked; at a webhook, every duplicate explained by a kill between the
destination's acceptance and the ledger's mark (checked: a kill landed between its two arrivals). A
Graph delivery whose answer was lost waits for the alert's next try (300 s): before then its Sent Items
cannot say "not there", so a run takes at least that long.

    python bench/chaos.py                        # 1,000 alerts, 10 kills, five receivers
    python bench/chaos.py --alerts 200 --kills 4 --receivers teams,slack-bot
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
from tests.chaos import CHECKABLE, WEBHOOKS, Plan, run  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=1000, help="distinct alerts (default 1000)")
    parser.add_argument("--duplicates", type=float, default=0.10, help="share delivered twice (default 0.10)")
    parser.add_argument("--failures", type=float, default=0.20, help="share of sink calls that fail (default 0.20)")
    parser.add_argument("--kills", type=int, default=10, help="SIGKILLs of relay serve (default 10)")
    parser.add_argument("--workers", type=int, default=2, help="relay serve --workers (default 2)")
    parser.add_argument("--rate", type=float, default=50.0, help="alerts posted a second (default 50)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--receivers", default=",".join(WEBHOOKS + CHECKABLE),
                        help=f"which, comma-separated (default all: {','.join(WEBHOOKS + CHECKABLE)})")
    parser.add_argument("--lost-answers", type=float, default=0.25,
                        help="share of a checkable sink's failures that take the message and answer no one (default 0.25)")
    results.add_option(parser)
    args = parser.parse_args()
    with results.recorded("chaos", args.write_results):
        receivers = tuple(name.strip() for name in args.receivers.split(",") if name.strip())
        unknown = set(receivers) - set(WEBHOOKS + CHECKABLE)
        if unknown or not receivers:
            parser.error(f"--receivers: unknown {', '.join(sorted(unknown)) or 'none given'}")
        plan = Plan(alerts=args.alerts, duplicates=args.duplicates, failures=args.failures, kills=args.kills,
                    workers=args.workers, post_rate=args.rate, seed=args.seed, receivers=receivers,
                    lost_answers=args.lost_answers)
        print(f"chaos: {plan.alerts} alerts ({plan.duplicates:.0%} twice) at {plan.post_rate:g}/s to relay serve"
              f" --workers {plan.workers} with {', '.join(receivers)}; sinks fail {plan.failures:.0%}"
              f" ({plan.lost_answers:.0%} of the checkable ones' failures: answers lost); {plan.kills} SIGKILLs",
              flush=True)
        with tempfile.TemporaryDirectory(prefix="relay-chaos-") as workdir:
            report = run(plan, Path(workdir), progress=lambda text: print(f"  {text}", flush=True))
        figures = report.figures()
        pairs = figures["pairs"]
        print(f"{report.seconds:.1f} s; {report.posts} posts answered 202, {report.refused_posts} sent again after"
              f" meeting a killed server; sinks answered {report.sink_calls} calls, failed {report.sink_failures}"
              f" ({report.sink_failures / max(1, report.sink_calls):.1%}), of which {report.answers_lost} taken"
              f" and answered to no one")
        for name, counts in report.by_receiver.items():
            kind = "can be asked" if name in CHECKABLE else "webhook"
            print(f"  {name:<10} ({kind}): delivered once {counts['delivered_once']}, failed and recorded"
                  f" {counts['failed_recorded']}, lost {counts['lost']}, duplicated {counts['duplicated']}"
                  f" (unexplained {counts['duplicated_unexplained']})")
        print(f"(alert, receiver) pairs: {pairs}: delivered once {report.delivered_once}, failed and recorded"
              f" {report.failed_recorded}, lost {len(report.lost)}, duplicated {len(report.duplicated)}"
              f" (unexplained by a kill: {len(report.unexplained_duplicates)}); parked {report.parked},"
              f" unfinished {figures['unfinished']}")
        for tracking, receiver in report.duplicated:
            print(f"  duplicated: {tracking} to {receiver}")
        for tracking, receiver in report.lost:
            print(f"  LOST: {tracking} to {receiver}")
        asked_twice = [pair for pair in report.duplicated if pair[1] in CHECKABLE]
        goal = not report.lost and not asked_twice and not report.unexplained_duplicates and not report.unfinished
        print(f"goal (0 lost; 0 duplicated where the destination can be asked; every webhook duplicate explained by"
              f" a kill): {'met' if goal else 'NOT met'}")
        print(json.dumps({**figures, "goal_met": goal}))
    return 0 if goal else 1


if __name__ == "__main__":
    sys.exit(main())
