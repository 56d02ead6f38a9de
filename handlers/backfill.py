"""Timer trigger: every 15 minutes, the Service Health alerts the Action Group did not deliver, read from
the Activity Log and Resource Health, onto the queue (or relayed at once without one). Binds the timer to
FunctionHost.backfill; nothing else. A subscription that could not be read raises after the others were
queued, so the invocation shows as failed; the next run reads its window again."""
from __future__ import annotations

import azure.functions as func

from handlers.timer import timer_blueprint
from relay.hosts.function import FunctionHost

SCHEDULE = "0 */15 * * * *"  # NCRONTAB with seconds: at :00, :15, :30 and :45


def blueprint(host: FunctionHost) -> func.Blueprint:
    return timer_blueprint("backfill", SCHEDULE, host.backfill)
