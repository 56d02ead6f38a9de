"""Timer trigger: every 15 minutes, held messages whose hold ended and the reminders due now. Binds the timer to
FunctionHost.remind; nothing else. Something due that could not be sent raises after the rest went out, so the
invocation shows as failed; the next pass sends it, and nothing twice."""
from __future__ import annotations

import azure.functions as func

from handlers.timer import timer_blueprint
from relay.hosts.function import FunctionHost

SCHEDULE = "0 */15 * * * *"  # NCRONTAB with seconds: at :00, :15, :30 and :45 of every hour (UTC)


def blueprint(host: FunctionHost) -> func.Blueprint:
    return timer_blueprint("remind", SCHEDULE, host.remind)
