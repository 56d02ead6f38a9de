"""Timer trigger: the managers' daily digest at 00:00 UTC, which is 09:00 JST (Flex Consumption has no
time-zone setting, so the schedule is in UTC). Binds the timer to FunctionHost.digest; nothing else. A digest
that could not be sent raises after the others went out, so the invocation shows as failed; a digest
already sent today is not sent again."""
from __future__ import annotations

import azure.functions as func

from handlers.timer import timer_blueprint
from relay.hosts.function import FunctionHost

SCHEDULE = "0 0 0 * * *"  # NCRONTAB with seconds: every day at 00:00 UTC


def blueprint(host: FunctionHost) -> func.Blueprint:
    return timer_blueprint("digest", SCHEDULE, host.digest)
