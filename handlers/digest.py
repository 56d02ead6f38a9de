"""Timer trigger: the managers' daily digest at 00:00 UTC, which is 09:00 JST (Flex Consumption has no
time-zone setting, so the schedule is in UTC). Binds the timer to relay.digest.timer; nothing else. A digest
that could not be sent raises after the others went out, so the invocation shows as failed; a digest
already sent today is not sent again."""
from __future__ import annotations

import os

import azure.functions as func

SCHEDULE = "0 0 0 * * *"  # NCRONTAB with seconds: every day at 00:00 UTC

bp = func.Blueprint()


@bp.function_name("digest")
@bp.timer_trigger(schedule=SCHEDULE, arg_name="timer", run_on_startup=False)
def digest(timer: func.TimerRequest) -> None:
    from relay.digest.timer import run

    run(os.environ)
