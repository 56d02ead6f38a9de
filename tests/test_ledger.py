"""What is particular to each ledger. What they all do is in test_ledger_contract.py."""
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from relay.model import SendResult
from relay.store.sqlite import SqliteLedger
from relay.store.tables import TableLedger
from tests.test_ledger_contract import T0, event

pytest_plugins = ["tests.azurite"]


def test_a_ledger_file_from_before_claims_gains_them(tmp_path):
    path = tmp_path / "ledger.sqlite"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE deliveries (notification_key TEXT NOT NULL, receiver TEXT NOT NULL, ok INTEGER NOT NULL,"
                " final INTEGER NOT NULL, attempts INTEGER NOT NULL, detail TEXT, reference TEXT,"
                " updated_at TEXT NOT NULL, PRIMARY KEY (notification_key, receiver))")
    old.execute("INSERT INTO deliveries VALUES ('k', 'teams', 1, 1, 1, '', NULL, '2027-01-05T02:10:00+00:00')")
    old.commit()
    old.close()
    ledger = SqliteLedger(path)
    assert not ledger.claim("k", "teams", "w1", 60)
    assert ledger.claim("k", "slack", "w1", 60)


def test_table_keys_are_digests_and_the_values_stay_readable(azurite):
    from azure.data.tables import TableClient

    ledger = TableLedger.from_connection_string(azurite, "ledgerlayout")
    e = event("1", "Planned", tracking_id="XY12-3ZQ/#?")
    ledger.admit(e, ["teams"], T0)
    ledger.claim(e.dedup_key, "teams", "w1", 60)
    ledger.record_delivery(e.dedup_key, "slack", SendResult.delivered(), 1)
    ledger.remember_thread(e.thread_key, "slack", "C1:1.2")
    with TableClient.from_connection_string(azurite, table_name="ledgerlayout") as table:
        entities = list(table.list_entities())
    kinds = sorted(e["PartitionKey"].split("-")[0] for e in entities)
    assert kinds == ["communication", "delivery", "delivery", "thread"]
    assert all(re.fullmatch(r"[a-z]+-[0-9a-f]{64}", e["PartitionKey"]) for e in entities)
    assert all(re.fullmatch(r"[0-9a-f]{64}", e["RowKey"]) for e in entities)
    (communication,) = (x for x in entities if x["PartitionKey"].startswith("communication-"))
    assert (communication["dedup_key"], communication["thread_key"]) == (e.dedup_key, e.thread_key)
    claimed = next(x for x in entities if x.get("receiver") == "teams")
    assert claimed["holder"] == "w1" and not claimed["final"]
    ledger.close()


def test_importing_the_relay_loads_no_table_sdk():
    code = ("import relay.hosts.wiring, relay.pipeline, relay.store.tables, function_app, sys;"
            " print(sorted(m for m in sys.modules if m.startswith('azure.data')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parent.parent, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
