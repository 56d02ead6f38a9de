"""Two Function instances sharing the Table Storage ledger (on Azurite) send a communication once."""
from datetime import UTC, datetime
from pathlib import Path

from relay.config import default_config
from relay.hosts.wiring import Paths, open_relay
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


def test_a_relative_relay_config_is_read_from_the_app_folder(tmp_path, monkeypatch):
    from relay.hosts.settings import APP_ROOT, config_from_environment

    monkeypatch.chdir(tmp_path)  # the worker's working directory is not the app's folder
    config = config_from_environment({"RELAY_CONFIG": "examples/relay.yaml"})
    assert config.source == str(APP_ROOT / "examples" / "relay.yaml")
    assert config_from_environment({}) is None


def test_the_table_ledger_takes_an_identity_based_connection(monkeypatch):
    from relay.hosts import wiring

    made = {}

    class Recorder:
        @classmethod
        def from_endpoint(cls, endpoint, credential, table):
            made.update(endpoint=endpoint, credential=type(credential).__name__, table=table)
            return "table ledger"

    monkeypatch.setattr("relay.store.tables.TableLedger", Recorder)
    environ = {"RELAY_TABLES_CONNECTION__tableServiceUri": "https://relay.table.core.windows.net/",
               "RELAY_TABLES_CONNECTION__credential": "managedidentity",
               "RELAY_TABLES_CONNECTION__clientId": "11111111-2222-3333-4444-555555555555"}
    assert wiring.open_ledger(Path("unused.sqlite"), environ) == "table ledger"
    assert made == {"endpoint": "https://relay.table.core.windows.net/", "credential": "ManagedIdentityCredential",
                    "table": "relayledger"}
