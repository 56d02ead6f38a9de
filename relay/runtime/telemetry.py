"""What the relay counts, for Application Insights: alerts received, duplicate and parked, deliveries
delivered and failed by channel. Sent only when APPLICATIONINSIGHTS_CONNECTION_STRING is set (through the Azure
Monitor OpenTelemetry distro); otherwise nothing is sent and the OpenTelemetry packages are not loaded.

    telemetry.setup(os.environ)                     # once, as the process starts
    telemetry.count("delivered", channel="teams")   # anywhere; a no-op until set up
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

log = logging.getLogger("relay.telemetry")

SETTING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
COUNTERS = {  # name → what it counts
    "received": "alerts accepted at the intake",
    "duplicate": "alerts already delivered, so not sent again",
    "delivered": "messages a destination accepted",
    "failed": "messages not delivered after every retry",
    "parked": "alerts given up on after their last try (relay poison list shows them): worth an alert rule",
}
METER = "azure_maintenance_relay"

_lock = threading.Lock()
_counters: dict | None = None  # name → OpenTelemetry Counter, once set up


def setup(environ: Mapping[str, str]) -> bool:
    """Export to Application Insights when the connection string is set; True when it was."""
    if not environ.get(SETTING):
        return False
    from azure.monitor.opentelemetry import configure_azure_monitor

    # Only the relay's own counters and log records: the SDKs' HTTP calls are not traced.
    configure_azure_monitor(connection_string=environ[SETTING], logger_name="relay", enable_live_metrics=False,
                            enable_performance_counters=False,
                            instrumentation_options={name: {"enabled": False} for name in _INSTRUMENTATIONS})
    use_meter_provider(None)
    log.info("sending counters and logs to Application Insights")
    return True


def use_meter_provider(provider) -> None:
    """Count through this OpenTelemetry MeterProvider (None: the global one that setup configured)."""
    from opentelemetry import metrics

    meter = (provider or metrics.get_meter_provider()).get_meter(METER)
    global _counters
    with _lock:
        _counters = {name: meter.create_counter(f"relay.{name}", unit="1", description=text)
                     for name, text in COUNTERS.items()}


def count(name: str, **attributes: str) -> None:
    counters = _counters
    if counters is not None:
        counters[name].add(1, attributes)


_INSTRUMENTATIONS = ("azure_sdk", "django", "fastapi", "flask", "psycopg2", "requests", "urllib", "urllib3")
