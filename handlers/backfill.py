"""Timer trigger: every 15 minutes, the Service Health alerts the Action Group did not deliver, read from
the Activity Log and Resource Health, onto the queue (or relayed at once without one). Binds the timer to
relay.backfill.timer; nothing else. A subscription that could not be read raises after the others were
queued, so the invocation shows as failed; the next run reads its window again."""
from __future__ import annotations

import os

import azure.functions as func

SCHEDULE = "0 */15 * * * *"  # NCRONTAB with seconds: at :00, :15, :30 and :45

bp = func.Blueprint()


@bp.function_name("backfill")
@bp.timer_trigger(schedule=SCHEDULE, arg_name="timer", run_on_startup=False)
def backfill(timer: func.TimerRequest) -> None:
    from relay.backfill.timer import run

    run(os.environ)
