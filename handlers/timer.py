"""The shape every timer trigger of the app shares: a name, an NCRONTAB schedule (with seconds, in UTC), and
the FunctionHost method it runs. An exception fails the invocation, which the host logs; the next run tries
again."""
from __future__ import annotations

from collections.abc import Callable

import azure.functions as func


def timer_blueprint(name: str, schedule: str, run: Callable[[], object]) -> func.Blueprint:
    bp = func.Blueprint()

    @bp.function_name(name)
    @bp.timer_trigger(schedule=schedule, arg_name="timer", run_on_startup=False)
    def on_timer(timer: func.TimerRequest) -> None:
        run()

    return bp
