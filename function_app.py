"""The Azure Function App: registers the blueprints in handlers/ and nothing else."""
import os

import azure.functions as func

from handlers.backfill import bp as backfill
from handlers.ingest import bp as ingest
from handlers.process import bp as process
from relay.backfill.timer import subscriptions
from relay.inbox.storage import queue_configured

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(ingest)
if queue_configured(os.environ):  # the same test as the intake's: without a queue, alerts are relayed inline
    app.register_functions(process)
if subscriptions(os.environ):  # the config names subscriptions to read the Activity Log of
    app.register_functions(backfill)
