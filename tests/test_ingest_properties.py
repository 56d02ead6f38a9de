"""Property tests of the intake: whatever arrives, the answer is a 202 for a usable alert or a clean
400/413 with problem details, and nothing else is ever raised; and what it answers 202 can be delivered."""
import json
import random
import tempfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relay.alerts import PayloadError, parse_alert
from relay.channels.outbox import OutboxChannel
from relay.enrich import enrich
from relay.enrich.inventory import Inventory
from relay.hosts.intake import ingest
from relay.model import Notification, Receiver
from relay.pipeline import file_stem
from relay.render import render
from tests.functions import FunctionApp
from tests.mutations import mutate
from tests.properties import examples

CLEAN = {202, 400, 413}
INVENTORY = Inventory.load(Path(__file__).resolve().parent.parent / "examples" / "inventory.json")
NOW = datetime(2027, 1, 12, tzinfo=UTC)
RECEIVERS = (
    *(Receiver(name=channel, channel=channel) for channel in ("teams", "slack", "email")),
    Receiver(name="managers", channel="email", audience="managers"),
)


def kept(body, event):
    return "kept"


def check(body: bytes) -> None:
    reply = ingest(body, kept)
    assert reply.status in CLEAN
    decoded = json.loads(reply.encoded())
    if reply.status == 202:
        assert decoded["id"] == "kept"
    else:
        assert decoded["status"] == reply.status and decoded["detail"]
        for error in decoded.get("errors", []):
            assert error["path"].startswith("$") and error["detail"]


@settings(max_examples=examples(300), suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_any_bytes_get_a_clean_answer(body):
    check(body)


@settings(max_examples=examples(300), suppress_health_check=[HealthCheck.too_slow])
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=40))
def test_any_json_gets_a_clean_answer(document):
    check(json.dumps(document).encode())


@settings(max_examples=examples(400), suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=2 ** 32))
def test_hostile_variants_of_real_alerts_get_a_clean_answer(seed):
    check(mutate(random.Random(seed)))


@settings(max_examples=examples(100), suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=2 ** 32))
def test_the_function_handler_answers_cleanly_too(seed):
    app = FunctionApp({})
    app.host.keep = kept  # keep without relaying: this is about the answer, not the delivery
    response = app.post(mutate(random.Random(seed)))
    assert response.status_code in CLEAN
    assert response.mimetype in ("application/json", "application/problem+json")


@settings(max_examples=examples(400), suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=2 ** 32))
def test_what_the_intake_accepts_can_be_delivered_in_every_channel(seed):
    """An alert that parses (which the intake answers 202), enriched from the example inventory, renders for
    every channel and is written to the outbox under its file name."""
    try:
        event = parse_alert(mutate(random.Random(seed)))
    except PayloadError:
        return
    notification = Notification(enrich(event, INVENTORY, NOW))
    with tempfile.TemporaryDirectory() as folder:
        outbox = OutboxChannel(Path(folder))
        for receiver in RECEIVERS:
            message = replace(render(notification, receiver), file_stem=file_stem(event, NOW))
            sent = outbox.send(message)
            assert sent.ok, sent.detail
