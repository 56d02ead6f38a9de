"""The Azure Function App: registers the blueprints in handlers/ and nothing else."""
import os

import azure.functions as func

from handlers.backfill import bp as backfill
from handlers.digest import bp as digest
from handlers.ingest import bp as ingest
from handlers.poison import bp as poison
from handlers.process import bp as process
from relay.backfill.timer import subscriptions
from relay.digest.timer import configured as digest_configured
from relay.inbox.storage import queue_configured
from relay.redact import install as install_redaction
from relay.telemetry import setup as setup_telemetry

install_redaction()  # before anything logs: secrets never reach Application Insights
setup_telemetry(os.environ)  # counters and logs to Application Insights when its connection string is set
app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(ingest)
if queue_configured(os.environ):  # the same test as the intake's: without a queue, alerts are relayed inline
    app.register_functions(process)
    app.register_functions(poison)  # tells about what the host parked with nobody told
if subscriptions(os.environ):  # the config names subscriptions to read the Activity Log of
    app.register_functions(backfill)
if digest_configured(os.environ):  # the config has a digest: section
    app.register_functions(digest)
