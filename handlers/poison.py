"""Timer trigger: every 15 minutes, tells the operations receivers about alerts in the poison queue that
nobody told them of (the host parks a message itself when the relay's last try was killed or timed out).
Binds the timer to FunctionHost.announce_parked; nothing else."""
from __future__ import annotations

import azure.functions as func

from handlers.timer import timer_blueprint
from relay.hosts.function import FunctionHost

SCHEDULE = "0 5-59/15 * * * *"  # NCRONTAB with seconds: at :05, :20, :35 and :50, between the backfill's runs


def blueprint(host: FunctionHost) -> func.Blueprint:
    return timer_blueprint("announce_parked", SCHEDULE, host.announce_parked)
