"""`relay maintain start` end to end: the command in a process of its own against the ARM emulator (the
real azure-mgmt-compute client, signed in from the environment, trusting the test CA): the plan, the
waves that never overlap two VMs of one availability set or zone, long-running operations, Azure's
failures and throttling, and the notices in the maintenance's thread of an outbox receiver."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.emulator import CLIENT_ID, CLIENT_SECRET, TENANT_ID, ArmEmulator, Estate, Limits, Maintenance

ROOT = Path(__file__).resolve().parent.parent
NOW = "2026-01-20T03:00:00Z"  # the estate's: Start now VMs are inside their self-service window


def write_config(emu: ArmEmulator, tmp_path: Path, estate: Estate) -> Path:
    path = tmp_path / "relay.yaml"
    path.write_text(json.dumps({
        "azure": {"arm_url": emu.url, "authority": emu.url, "subscriptions": estate.subscriptions},
        "ledger": str(tmp_path / "ledger.sqlite"), "outbox": str(tmp_path / "outbox"),
        "receivers": [{"name": "team", "channel": "outbox", "format": "slack"}],
    }))
    return path


def maintain(emu: ArmEmulator, config: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AzureWebJobsStorage", "RELAY_"))}
    env |= {"AZURE_TENANT_ID": TENANT_ID, "AZURE_CLIENT_ID": CLIENT_ID, "AZURE_CLIENT_SECRET": CLIENT_SECRET,
            "SSL_CERT_FILE": str(emu.tls.bundle)}
    done = subprocess.run([sys.executable, "-m", "relay", "maintain", "start", "--config", str(config), "--now", NOW,
                           *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=180,
                          stdin=subprocess.DEVNULL)
    assert "Traceback" not in done.stderr, done.stderr
    assert CLIENT_SECRET not in done.stdout + done.stderr
    return done


def by_name(estate: Estate) -> dict:
    return {vm.name: vm for vm in estate.vms}


def start_now(estate: Estate) -> set[str]:
    return {vm.name for vm in estate.impacted() if vm.redeploy and vm.redeploy["isCustomerInitiatedMaintenanceAllowed"]
            and vm.redeploy["lastOperationResultCode"] == "None" and "deallocated" not in vm.power}


def group_clashes(emu: ArmEmulator) -> list[tuple[str, str]]:
    """Pairs in maintenance at once that share an availability set or a zone of one subscription and region."""
    def groups(vm):
        found = {("zone", vm.subscription, vm.location, zone) for zone in vm.zones}
        if vm.availability_set:
            found.add(("set", vm.subscription, vm.resource_group, vm.availability_set))
        return found
    return [(a.name, b.name) for a, b in emu.maintenance.overlapping() if groups(a) & groups(b)]


def test_dry_run_prints_the_plan_and_starts_nothing(ca, tmp_path):
    estate = Estate(vms=30, subscriptions=1)
    with ArmEmulator(estate, tls=ca) as emu:
        done = maintain(emu, write_config(emu, tmp_path, estate), "--tracking-id", estate.tracking_id, "--dry-run")
        assert emu.calls["perform maintenance"] == 0
    assert done.returncode == 0, done.stderr
    assert "nothing started (dry run)" in done.stdout
    for name in start_now(estate):
        assert name in done.stdout
    assert "wave" in done.stdout and "also in its set" in done.stdout
    assert "skip vm-01-00007: already updated" in done.stdout
    assert "skip vm-01-00004: no self-service" in done.stdout
    assert "warning: vm-01-00000 has a dynamic public IP address" in done.stdout
    assert not (tmp_path / "outbox").exists()


def test_without_a_terminal_and_without_yes_it_refuses(ca, tmp_path):
    estate = Estate(vms=12, subscriptions=1)
    with ArmEmulator(estate, tls=ca) as emu:
        done = maintain(emu, write_config(emu, tmp_path, estate), "--tracking-id", estate.tracking_id)
        assert emu.calls["perform maintenance"] == 0
    assert done.returncode == 2
    assert "--yes" in done.stderr


def test_yes_maintains_start_now_vms_in_waves_and_tells_the_thread(ca, tmp_path):
    estate = Estate(vms=30, subscriptions=1)
    vms = by_name(estate)
    vms["vm-01-00002"].power = "PowerState/deallocated"
    maintenance = Maintenance(seconds=0.3)
    maintenance.fail("vm-01-00011", "Maintenance could not be performed on this VM now; retry later.")
    expected = start_now(estate)
    with ArmEmulator(estate, tls=ca, maintenance=maintenance) as emu:
        config = write_config(emu, tmp_path, estate)
        done = maintain(emu, config, "--tracking-id", estate.tracking_id, "--yes", "--max-parallel", "3",
                        "--by", "Sato Hanako")
        started = set(emu.maintenance.started())
        clashes = group_clashes(emu)
        assert emu.unhonoured == 0
    assert done.returncode == 1, done.stdout + done.stderr  # one failed
    assert started == expected  # the deallocated one, scheduled, updated, retry-later: not
    assert "vm-01-00002" not in started
    assert clashes == []
    assert max(len({a.name, b.name}) for a, b in emu.maintenance.overlapping()) == 2  # it did run VMs at once
    lines = {line.split()[0]: line for line in done.stdout.splitlines() if line.startswith("vm-")}
    assert "failed" in lines["vm-01-00011"]
    assert "OperationNotAllowed: Maintenance could not be performed on this VM now; retry later." in lines["vm-01-00011"]
    assert "completed" in lines["vm-01-00000"]
    assert "deallocated" in lines["vm-01-00002"]
    assert vms["vm-01-00000"].redeploy["lastOperationResultCode"] == "MaintenanceCompleted"
    assert vms["vm-01-00011"].redeploy["lastOperationResultCode"] == "RetryLater"

    notices = sorted((tmp_path / "outbox" / "team").glob("*.json"))
    assert [estate.tracking_id in path.name for path in notices] == [True, True]
    text = [path.read_text(encoding="utf-8") for path in notices]
    started_text = next(t for t in text if "self-service maintenance started" in t.lower())
    assert "Sato Hanako" in started_text and "セルフサービス メンテナンスを開始しました" in started_text
    outcome = next(t for t in text if t is not started_text)
    assert "retry later." in outcome and "vm-01-00011" in outcome
    ledger = sqlite3.connect(tmp_path / "ledger.sqlite")
    threads = ledger.execute("SELECT thread_key FROM communications WHERE kind = 'relay'").fetchall()
    assert threads == [(estate.tracking_id,), (estate.tracking_id,)]


def test_named_vms_only_start_now_ones_are_started_the_rest_skipped_with_why(ca, tmp_path):
    estate = Estate(vms=8, subscriptions=1)
    vms = by_name(estate)
    missing = vms["vm-01-00000"].id.replace("vm-01-00000", "vm-gone")
    named = [vms[name].id for name in ("vm-01-00001", "vm-01-00003", "vm-01-00004", "vm-01-00007")] + [missing]
    with ArmEmulator(estate, tls=ca) as emu:
        done = maintain(emu, write_config(emu, tmp_path, estate), "--vm", *named, "--yes", "--by", "ops")
        started = emu.maintenance.started()
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(started) == ["vm-01-00001", "vm-01-00003"]
    assert "skip vm-01-00004: no self-service: Azure reboots it in the scheduled window" in done.stdout
    assert "skip vm-01-00007: already updated" in done.stdout
    assert "skip vm-gone: its maintenance status is unknown" in done.stdout
    assert "2 completed, 0 failed, 3 skipped" in done.stdout


def test_named_vms_with_a_dynamic_public_ip_are_pointed_out(ca, tmp_path):
    estate = Estate(vms=8, subscriptions=1)
    vms = by_name(estate)
    assert (vms["vm-01-00000"].public_ip, vms["vm-01-00001"].public_ip) == ("Dynamic", "Static")
    named = [vms["vm-01-00000"].id, vms["vm-01-00001"].id]
    with ArmEmulator(estate, tls=ca) as emu:
        done = maintain(emu, write_config(emu, tmp_path, estate), "--vm", *named, "--dry-run")
        emu.graph_down = True
        blind = maintain(emu, write_config(emu, tmp_path, estate), "--vm", *named, "--dry-run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "warning: vm-01-00000 has a dynamic public IP address" in done.stdout
    assert "vm-01-00001 has a dynamic" not in done.stdout
    # Resource Graph down: the plan goes on, and says it could not check
    assert blind.returncode == 0, blind.stdout + blind.stderr
    assert "dynamic public IP address" not in blind.stdout
    assert "could not read the VMs' public IP addresses from Resource Graph" in blind.stderr


def test_throttled_starts_wait_for_retry_after_and_all_complete(ca, tmp_path):
    estate = Estate(vms=14, subscriptions=1)
    # other clients spent the Compute Update budget: 2 left, then one a second
    limits = Limits(update_vm_subscription=(2, 60), minute=60.0)
    expected = start_now(estate)
    with ArmEmulator(estate, tls=ca, limits=limits) as emu:
        done = maintain(emu, write_config(emu, tmp_path, estate), "--tracking-id", estate.tracking_id, "--yes",
                        "--max-parallel", "5")
        refused, unhonoured = emu.refused["perform maintenance"], emu.unhonoured
        started = set(emu.maintenance.started())
    assert done.returncode == 0, done.stdout + done.stderr
    assert refused > 0 and unhonoured == 0
    assert started == expected
    assert f"{len(started)} completed, 0 failed" in done.stdout


def test_a_failure_from_azure_on_a_scale_set_vm_and_exit_status(ca, tmp_path):
    estate = Estate(vms=1, subscriptions=1, scale_sets=1, instances=3, impacted_instances=3)
    instances = [vm for vm in estate.vms if vm.scale_set]
    maintenance = Maintenance(seconds=0.2)
    allowed = [vm.name for vm in instances if vm.name in start_now(estate)]
    with ArmEmulator(estate, tls=ca, maintenance=maintenance) as emu:
        done = maintain(emu, write_config(emu, tmp_path, estate), "--vm", *(vm.id for vm in instances), "--yes")
        overlapping = emu.maintenance.overlapping()
        started = emu.maintenance.started()
    assert sorted(started) == sorted(allowed) and len(allowed) >= 2
    assert overlapping == []  # one scale set: one VM at a time
    assert "scale set vmss-00" in done.stdout
    assert done.returncode == 0, done.stdout + done.stderr


def test_ctrl_c_while_waiting_tells_the_thread_that_the_operations_go_on(ca, tmp_path):
    estate = Estate(vms=6, subscriptions=1)
    with ArmEmulator(estate, tls=ca, maintenance=Maintenance(seconds=120)) as emu:  # operations that take a while
        config = write_config(emu, tmp_path, estate)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AzureWebJobsStorage", "RELAY_"))}
        env |= {"AZURE_TENANT_ID": TENANT_ID, "AZURE_CLIENT_ID": CLIENT_ID, "AZURE_CLIENT_SECRET": CLIENT_SECRET,
                "SSL_CERT_FILE": str(emu.tls.bundle)}
        run = subprocess.Popen([sys.executable, "-m", "relay", "maintain", "start", "--config", str(config),
                                "--now", NOW, "--tracking-id", estate.tracking_id, "--yes", "--by", "Sato"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
                               stdin=subprocess.DEVNULL)
        outbox = tmp_path / "outbox" / "team"
        deadline = time.monotonic() + 60
        while not emu.maintenance.started() and time.monotonic() < deadline:  # the first wave is under way
            time.sleep(0.1)
        run.send_signal(signal.SIGINT)
        out, err = run.communicate(timeout=60)
    assert run.returncode == 130, out + err
    assert "operations already started go on in Azure" in err
    notices = [path.read_text(encoding="utf-8") for path in sorted(outbox.glob("*.json"))]
    assert len(notices) == 2  # started, then stopped; no outcome
    assert any("Operations already started go on in Azure" in text for text in notices)


def test_scale_set_vms_of_one_update_domain_go_together_and_never_two_domains(ca, tmp_path):
    estate = Estate(vms=1, subscriptions=1, scale_sets=1, instances=8, impacted_instances=8, update_domains=2)
    instances = {vm.name: vm for vm in estate.vms if vm.scale_set}
    with ArmEmulator(estate, tls=ca, maintenance=Maintenance(seconds=0.3)) as emu:
        done = maintain(emu, write_config(emu, tmp_path, estate), "--vm", *(vm.id for vm in instances.values()),
                        "--yes")
        overlapping = emu.maintenance.overlapping()
        started = emu.maintenance.started()
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(started) >= 4
    assert overlapping  # VMs of one update domain did run at once
    assert all(a.update_domain == b.update_domain for a, b in overlapping)
