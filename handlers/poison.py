"""Timer trigger: every 15 minutes, tells the operations receivers about alerts in the poison queue that
nobody told them of (the host parks a message itself when the relay's last try was killed or timed out).
Binds the timer to relay.poison.announce_from_environment; nothing else."""
from __future__ import annotations

import os

import azure.functions as func

SCHEDULE = "0 5-59/15 * * * *"  # NCRONTAB with seconds: at :05, :20, :35 and :50, between the backfill's runs

bp = func.Blueprint()


@bp.function_name("announce_parked")
@bp.timer_trigger(schedule=SCHEDULE, arg_name="timer", run_on_startup=False)
def announce_parked(timer: func.TimerRequest) -> None:
    from relay.poison import announce_from_environment

    announce_from_environment(os.environ)
