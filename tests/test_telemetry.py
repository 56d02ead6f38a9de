"""Counters for Application Insights: nothing without the connection string; with it, the relay's
counters reach the ingestion endpoint (a loopback sink here) through the Azure Monitor distro."""
import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from relay.runtime import telemetry
from tests.sinks.server import LoopbackServer, Reply

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def reader():
    reader = InMemoryMetricReader()
    telemetry.use_meter_provider(MeterProvider(metric_readers=[reader]))
    yield reader
    telemetry._counters = None


def sums(reader) -> dict[tuple, int]:
    found = {}
    for resource in reader.get_metrics_data().resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    found[(metric.name, tuple(sorted(point.attributes.items())))] = point.value
    return found


def test_without_the_connection_string_nothing_is_set_up_or_counted():
    assert telemetry.setup({}) is False
    telemetry.count("delivered", channel="teams")  # a no-op, not an error
    assert telemetry._counters is None


def test_counts_by_name_and_channel(reader):
    telemetry.count("received", kind="maintenance")
    telemetry.count("delivered", channel="teams")
    telemetry.count("delivered", channel="teams")
    telemetry.count("failed", channel="slack")
    assert sums(reader) == {
        ("relay.received", (("kind", "maintenance"),)): 1,
        ("relay.delivered", (("channel", "teams"),)): 2,
        ("relay.failed", (("channel", "slack"),)): 1,
    }


def test_with_the_connection_string_the_counters_reach_the_ingestion_endpoint(tmp_path):
    posts = []

    def track(request):
        body = gzip.decompress(request.body) if request.headers.get("content-encoding") == "gzip" else request.body
        posts.append((request.path, body))
        return Reply(200, {"itemsReceived": 1, "itemsAccepted": 1, "errors": []})

    script = ("import os, sys; sys.path.insert(0, sys.argv[1]);"
              "from opentelemetry import metrics; from relay.runtime import telemetry;"
              "assert telemetry.setup(os.environ);"
              "telemetry.count('delivered', channel='teams'); telemetry.count('duplicate');"
              "metrics.get_meter_provider().force_flush(); metrics.get_meter_provider().shutdown()")
    with LoopbackServer(track) as sink:
        env = {"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path),
               "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=00000000-0000-4000-8000-000000000000;"
                                                        f"IngestionEndpoint={sink.url}/"}
        done = subprocess.run([sys.executable, "-c", script, str(ROOT)], env=env, capture_output=True, text=True,
                              timeout=120)
    assert done.returncode == 0, done.stderr
    tracked = [body for path, body in posts if path.endswith("/track")]
    assert tracked, posts
    items = [item for body in tracked for item in json.loads(body)]  # an envelope array a request
    names = {m["name"] for item in items if item["data"]["baseType"] == "MetricData"
             for m in item["data"]["baseData"]["metrics"]}
    assert {"relay.delivered", "relay.duplicate"} <= names


def test_the_intake_and_the_pipeline_count_what_they_do(reader, tmp_path):
    from relay.config import default_config
    from relay.hosts.intake import ingest
    from relay.hosts.wiring import Paths, open_relay
    from relay.pipeline import process

    examples = ROOT / "examples" / "alerts"
    planned, again = (examples / "01-planned.json").read_bytes(), (examples / "02-planned-redelivered.json").read_bytes()
    assert ingest(planned, lambda body, event: "kept").status == 202
    relay = open_relay(default_config(tmp_path / "out"), Paths(ledger=tmp_path / "ledger.sqlite"))
    try:
        process(planned, relay)
        process(again, relay)
    finally:
        relay.ledger.close()
    counted = sums(reader)
    assert counted[("relay.received", (("kind", "maintenance"),))] == 1
    assert counted[("relay.duplicate", (("kind", "maintenance"),))] == 1
    assert {k: v for k, v in counted.items() if k[0] == "relay.delivered"} == {
        ("relay.delivered", (("channel", channel),)): 1 for channel in ("email", "slack", "teams")}


def test_parked_alerts_are_counted_once_whoever_parked_them(reader, tmp_path):
    from relay.config import default_config
    from relay.hosts.parked import announce_parked, tell_operations
    from relay.hosts.wiring import Paths, open_relay
    from relay.inbox import Parked

    class HostParked:  # what a Storage poison queue shows of a message the Functions host moved: no reason
        def parked(self, limit):
            return [Parked("host-copy", b"{}", 5, None, None)]

    planned = (ROOT / "examples" / "alerts" / "01-planned.json").read_bytes()
    relay = open_relay(default_config(tmp_path / "out"), Paths(ledger=tmp_path / "ledger.sqlite"))
    try:
        tell_operations(relay, "relay-copy", planned, 5, "not delivered to teams")
        announce_parked(HostParked(), relay)
        announce_parked(HostParked(), relay)  # announced already: not counted again
    finally:
        relay.ledger.close()
    assert sums(reader)[("relay.parked", ())] == 2
