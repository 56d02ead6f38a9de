"""Two Function instances sharing the Table Storage ledger (on Azurite) send a communication once."""
from datetime import UTC, datetime
from pathlib import Path

from relay.app import Paths, open_relay
from relay.config import default_config
from relay.pipeline import process
from relay.store.tables import TableLedger

pytest_plugins = ["tests.azurite"]

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_relays_on_two_instances_share_the_table_ledger(azurite, tmp_path):
    environ = {"RELAY_TABLES_CONNECTION": azurite, "RELAY_TABLE": "wiringtest"}
    body = (EXAMPLES / "alerts" / "01-planned.json").read_bytes()
    now = datetime(2027, 1, 12, tzinfo=UTC)
    first, second = (
        open_relay(default_config(), Paths(EXAMPLES / "inventory.json", tmp_path / f"unused-{i}.sqlite",
                                           tmp_path / f"out-{i}"), now=now, environ=environ)
        for i in (1, 2)
    )
    assert isinstance(first.ledger, TableLedger)
    assert process(body, first).ok
    again = process(body, second)
    assert again.status == "duplicate"
    assert not (tmp_path / "out-2").exists()
    assert not (tmp_path / "unused-1.sqlite").exists()
