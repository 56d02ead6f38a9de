"""The Azure Function App: one FunctionHost, and the blueprints in handlers/ registered on it; nothing else."""
import os

import azure.functions as func

from handlers import backfill, calendar, digest, ingest, messages, poison, process, remind
from relay.hosts.function import FunctionHost
from relay.runtime.redact import install as install_redaction
from relay.runtime.telemetry import setup as setup_telemetry


def build_app(host: FunctionHost) -> func.FunctionApp:
    """The app for the host's settings: the intake and the calendar feed always; the queue trigger and the
    parked-alert timer with a queue (without one, alerts are relayed inline); the reminder timer (which also
    releases held messages); the backfill when the config names subscriptions; the digest when it has a digest:
    section; the Teams bot's messaging endpoint when a receiver is a Teams bot."""
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
    app.register_functions(ingest.blueprint(host))
    app.register_functions(calendar.blueprint(host))
    app.register_functions(remind.blueprint(host))
    if host.has_queue:
        app.register_functions(process.blueprint(host))
        app.register_functions(poison.blueprint(host))
    if host.backfill_subscriptions:
        app.register_functions(backfill.blueprint(host))
    if host.has_digest:
        app.register_functions(digest.blueprint(host))
    if host.has_bot:
        app.register_functions(messages.blueprint(host))
    return app


install_redaction()  # before anything logs: secrets never reach Application Insights
setup_telemetry(os.environ)  # counters and logs to Application Insights when its connection string is set
app = build_app(FunctionHost(os.environ))
