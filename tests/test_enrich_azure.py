"""The Azure VM source against the ARM emulator (tests/emulator): the real SDK clients, over HTTPS on
127.0.0.1, with the documented throttles — paging, throttling honoured, partial failure and the
incomplete-list line, mixed-case ids, scale sets, and `relay vms` as a subprocess. The VMs' states come
from their maintenance records unless the estate has none (`recorded=0`): the tests of instance views
use such estates. tests/test_maintenance_records.py holds the records' own tests."""
import json
import logging
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from relay.config import AzureSettings, ConfigError, parse_config
from relay.enrich import Gap, VmLookup, enrich
from relay.enrich.azure import AzureVmSource
from relay.enrich.inventory import Inventory
from relay.enrich.state import assess
from relay.model import Event, EventKind, Risk
from relay.render import render
from tests import factories as f
from tests.emulator import CLIENT_ID, CLIENT_SECRET, TENANT_ID, ArmEmulator, Estate, Limits
from tests.emulator.estate import EstateVm

ROOT = Path(__file__).resolve().parent.parent


def source(emu: ArmEmulator, subscriptions=None, budget: float = 20.0, tenant_wide: bool = False,
           secret: str = CLIENT_SECRET) -> AzureVmSource:
    settings = AzureSettings(
        subscriptions=tuple(emu.estate.subscriptions if subscriptions is None else subscriptions),
        tenant_wide=tenant_wide, time_budget_seconds=budget, arm_url=emu.url, authority=emu.url,
    )

    def credential():
        from azure.identity.aio import ClientSecretCredential

        return ClientSecretCredential(TENANT_ID, CLIENT_ID, secret, authority=emu.url,
                                      disable_instance_discovery=True, connection_verify=str(emu.tls.bundle))

    return AzureVmSource(settings, credential=credential, connection_verify=str(emu.tls.bundle))


def maintenance(estate: Estate, subscriptions=()) -> Event:
    return Event(kind=EventKind.MAINTENANCE, schema="common", title="Planned maintenance", communication="",
                 tracking_id=estate.tracking_id, maintenance_id=estate.maintenance_id, stage="Planned",
                 services=("Virtual Machines",), regions=("Japan East",), subscription_ids=tuple(subscriptions))


def by_name(found: VmLookup) -> dict:
    return {vm.name: vm for vm in found.vms}


def set_members(estate: Estate) -> list[EstateVm]:
    """The estate's VMs in the availability sets of its impacted VMs: the rows of the set-members query."""
    sets = {(vm.subscription, vm.resource_group, vm.availability_set) for vm in estate.impacted() if vm.availability_set}
    return [vm for vm in estate.vms if (vm.subscription, vm.resource_group, vm.availability_set) in sets]


# --- the same records as the offline inventory ---------------------------------------------------------

def test_azure_gives_the_same_records_as_the_inventory_of_the_same_estate(ca):
    estate = Estate(vms=40, subscriptions=3, recorded=0)
    with ArmEmulator(estate, tls=ca) as emu:
        found = source(emu).affected_vms(maintenance(estate))
    offline = Inventory.from_dict(estate.inventory()).affected_vms(maintenance(estate))
    assert (found.method, found.gaps) == ("impacted list", ())
    assert sorted(found.vms, key=lambda vm: vm.id) == sorted(offline.vms, key=lambda vm: vm.id)
    assert [vm.tags for vm in sorted(found.vms, key=lambda vm: vm.id)] == \
           [vm.tags for vm in sorted(offline.vms, key=lambda vm: vm.id)]
    assert {vm.public_ip_allocation for vm in found.vms} == {"Dynamic", "Static", None}
    assert {vm.power_state for vm in found.vms} == {"running", "deallocated"}


def test_mixed_case_ids_name_each_vm_once(ca):
    estate = Estate(vms=12, subscriptions=1, recorded=0)
    assert len({vm.impacted_as for vm in estate.impacted()}) == 12
    assert any(vm.impacted_as != vm.id for vm in estate.impacted())  # Azure wrote some in other cases
    with ArmEmulator(estate, tls=ca, graph_missing=estate.subscriptions) as emu:  # ids from Resource Health
        found = source(emu).affected_vms(maintenance(estate))
    assert sorted(by_name(found)) == sorted(vm.name for vm in estate.impacted())
    assert emu.calls["virtual machine"] == 12  # one GET with $expand=instanceView each, no duplicates


# --- calls: paging, the real SDK clients -----------------------------------------------------------------

def test_pages_of_resource_graph_are_followed_with_skip_tokens(ca):
    estate = Estate(vms=35, subscriptions=2)
    with ArmEmulator(estate, tls=ca, graph_page=10) as emu:  # Resource Graph may send fewer rows than asked
        found = source(emu).affected_vms(maintenance(estate))
    assert len(found.vms) == 35 and found.gaps == ()
    set_pages = -(-len(set_members(estate)) // 10)
    assert set_pages >= 2
    assert emu.graph_queries == {"impacted": 4, "records": 4, "set members": set_pages}  # all paged with $skipToken
    assert emu.calls["resource graph"] == 8 + set_pages
    assert emu.graph_tops == [1000] * (8 + set_pages)  # always the most a page may hold
    assert emu.calls["instance view"] == 0  # every VM's record answered for it
    assert all(vm.redeploy for vm in found.vms if vm.name.endswith(tuple("012345678")))


def test_resource_health_pages_follow_next_link(ca):
    estate = Estate(vms=25, subscriptions=1)
    with ArmEmulator(estate, tls=ca, graph_down=True, page_size=10) as emu:
        found = source(emu).affected_vms(maintenance(estate))
    assert len(found.vms) == 25 and found.gaps == ()
    assert emu.calls["impacted resources"] == 3
    assert emu.calls["resource graph"] == 2 * (1 + 3)  # each query: a 503, retried three times
    assert emu.calls["virtual machine"] == 25  # Resource Health names them: facts and state in one GET each


def test_the_sdk_clients_are_the_real_ones(ca):
    estate = Estate(vms=3, subscriptions=1, scale_sets=1, recorded=0)
    with ArmEmulator(estate, tls=ca) as emu:
        source(emu).affected_vms(maintenance(estate))
    agents = {kind: " ".join(found) for kind, found in emu.agents.items()}
    assert "azsdk-python-mgmt-resourcegraph/" in agents["resource graph"]
    assert "azsdk-python-mgmt-compute/" in agents["instance view"]
    assert "azsdk-python-mgmt-compute/" in agents["scale set VMs"]
    assert "azsdk-python-identity/" in agents["token"]
    assert emu.calls["token"] == 1


# --- scale sets ---------------------------------------------------------------------------------------------

def test_scale_set_vms_come_from_one_listing_per_scale_set(ca):
    estate = Estate(vms=4, subscriptions=2, scale_sets=2, instances=5, impacted_instances=3)
    with ArmEmulator(estate, tls=ca) as emu:
        found = source(emu).affected_vms(maintenance(estate))
    instances = [vm for vm in found.vms if "/virtualMachineScaleSets/" in vm.id]
    assert sorted(vm.name for vm in instances) == ["vmss-00_0", "vmss-00_1", "vmss-00_2",
                                                   "vmss-01_0", "vmss-01_1", "vmss-01_2"]
    assert all(vm.availability_set in ("vmss-00", "vmss-01") for vm in instances)  # not single instances
    assert sum(vm.redeploy is not None for vm in instances) == 6
    assert {vm.state_source for vm in instances} == {"instance view"}  # the listing's, which came anyway
    assert {vm.state_source for vm in found.vms if vm not in instances} == {"maintenance record"}
    assert (emu.calls["scale set VMs"], emu.calls["instance view"]) == (2, 0)


# --- throttling ---------------------------------------------------------------------------------------------

def test_a_lone_client_is_never_refused(ca):
    estate = Estate(vms=300, subscriptions=1, recorded=0)  # more than the read bucket holds: the refill paces the rest
    with ArmEmulator(estate, tls=ca, limits=Limits(reads=(250, 100.0))) as emu:
        found = source(emu).affected_vms(maintenance(estate))
    assert len(found.vms) == 300 and found.gaps == ()
    assert emu.refused == {} and emu.unhonoured == 0


def test_others_spending_the_same_budget_slow_us_down_without_refusals(ca):
    """The read bucket has 20 left, not 250: x-ms-ratelimit-remaining-subscription-reads tells us so, and the
    calls that had already left before the first answer are all that can be refused."""
    estate = Estate(vms=60, subscriptions=1, recorded=0)
    with ArmEmulator(estate, tls=ca, limits=Limits(reads=(20, 25.0))) as emu:
        src = source(emu)
        found = src.affected_vms(maintenance(estate))
    assert len(found.vms) == 60 and found.gaps == ()
    assert emu.refused.get("instance view", 0) <= 8  # at most one subscription lane's calls in flight
    assert emu.unhonoured == 0
    assert src.stats["throttled"] == sum(emu.refused.values())


def test_compute_per_minute_policies_are_honoured(ca):
    estate = Estate(vms=30, subscriptions=1, recorded=0)
    limits = Limits(low_cost_get_subscription=(10, 10), minute=1.0)  # a "minute" of one second here
    with ArmEmulator(estate, tls=ca, limits=limits) as emu:
        found = source(emu).affected_vms(maintenance(estate))
    assert all(vm.redeploy or vm.name.endswith("9") for vm in found.vms) and found.gaps == ()
    assert emu.refused["instance view"] > 0 and emu.unhonoured == 0


def test_resource_graph_quota_is_read_from_its_headers(ca):
    estate = Estate(vms=30, subscriptions=2)
    with ArmEmulator(estate, tls=ca, graph_page=5, limits=Limits(graph_queries=2, graph_window=0.5)) as emu:
        found = source(emu).affected_vms(maintenance(estate))
    assert len(found.vms) == 30 and found.gaps == ()
    assert emu.calls["resource graph"] == 6 + 6 + -(-len(set_members(estate)) // 5)  # impacted, records, sets
    assert emu.refused.get("resource graph", 0) == 0  # x-ms-user-quota-remaining said when to wait


# --- availability sets whose other VMs are all deallocated -------------------------------------------------

def alone_in_set(estate: Estate) -> tuple[EstateVm, list[EstateVm]]:
    """An impacted running VM whose set's other VMs are all deallocated now (some of them not impacted, so
    only the set-members query finds them), and those other VMs."""
    for vm in estate.impacted():
        others = [o for o in set_members(estate) if o is not vm and
                  (o.subscription, o.resource_group, o.availability_set) ==
                  (vm.subscription, vm.resource_group, vm.availability_set)]
        if vm.power.endswith("running") and others and any(not o.impacted_as for o in others):
            for other in others:
                other.power = "PowerState/deallocated"
            return vm, others
    raise AssertionError("the estate has no such VM")


def test_a_vm_whose_set_has_only_deallocated_others_is_isolated(ca):
    estate = Estate(vms=12, subscriptions=1, bystanders=12, recorded=0)
    alone, others = alone_in_set(estate)
    with ArmEmulator(estate, tls=ca) as emu:
        found = source(emu).affected_vms(maintenance(estate))
    assert found.gaps == ()
    vms = by_name(found)
    assert vms[alone.name].others_in_set_deallocated
    assert Risk.ISOLATED in assess(vms[alone.name], f.NOW).risks
    assert [name for name, vm in vms.items() if vm.others_in_set_deallocated] == [alone.name]
    assert all(Risk.ISOLATED not in assess(vms[o.name], f.NOW).risks for o in others if o.name in vms)
    assert emu.graph_queries == {"impacted": 1, "records": 1, "set members": 1}  # one query for every set
    offline = Inventory.from_dict(estate.inventory()).affected_vms(maintenance(estate))
    assert sorted(found.vms, key=lambda vm: vm.id) == sorted(offline.vms, key=lambda vm: vm.id)  # as the inventory says


def test_a_failed_set_query_is_a_gap_and_the_vms_are_listed(ca):
    estate = Estate(vms=12, subscriptions=1, bystanders=12)
    alone, _ = alone_in_set(estate)
    in_sets = [vm for vm in estate.impacted() if vm.availability_set]
    with ArmEmulator(estate, tls=ca, sets_down=True) as emu:
        found = source(emu).affected_vms(maintenance(estate))
    assert len(found.vms) == 12 and all(vm.redeploy for vm in found.vms if vm.name in {v.name for v in in_sets})
    assert not by_name(found)[alone.name].others_in_set_deallocated  # unknown: not claimed
    assert found.gaps == (f"failed {estate.subscriptions[0]} {len(in_sets)}",)
    assert emu.graph_queries == {"impacted": 1, "records": 1, "set members": 1 + 3}  # a 503, retried three times


# --- partial failure: what is known goes out, with the gaps -------------------------------------------------

def test_a_forbidden_subscription_is_a_gap_and_the_rest_is_listed(ca):
    estate = Estate(vms=20, subscriptions=2)
    denied = estate.subscriptions[1]
    with ArmEmulator(estate, tls=ca, forbidden=(denied,)) as emu:
        found = source(emu).affected_vms(maintenance(estate))
    assert {vm.subscription_id for vm in found.vms} == {estate.subscriptions[0]}
    assert found.gaps == (f"denied {denied}",)
    assert emu.calls["impacted resources"] == 1  # Resource Graph left it out silently; Resource Health said 403


def test_a_hanging_subscription_times_out_within_the_budget(ca):
    estate = Estate(vms=10, subscriptions=2, recorded=0)
    slow = estate.subscriptions[0]
    with ArmEmulator(estate, tls=ca, hanging=(slow,), hang_seconds=5) as emu:
        found = source(emu, budget=1.5).affected_vms(maintenance(estate))
    assert len(found.vms) == 10  # Resource Graph described them all
    assert found.gaps == (f"timeout {slow} 5",)
    assert all(vm.redeploy is None for vm in found.vms if vm.subscription_id == slow)


def test_a_throttle_that_does_not_clear_in_time_is_a_gap(ca):
    estate = Estate(vms=40, subscriptions=1, recorded=0)
    with ArmEmulator(estate, tls=ca, limits=Limits(reads=(10, 2.0))) as emu:
        found = source(emu, budget=2.0).affected_vms(maintenance(estate))
    assert len(found.vms) == 40
    gap = Gap.parse(found.gaps[0])
    assert (gap.reason, gap.scope) == ("throttled", estate.subscriptions[0]) and 10 <= gap.vms < 40
    assert emu.unhonoured == 0


def test_a_failing_sign_in_gives_gaps_and_never_the_secret(ca, caplog):
    caplog.set_level(logging.DEBUG)
    estate = Estate(vms=3, subscriptions=1)
    with ArmEmulator(estate, tls=ca) as emu:
        found = source(emu, secret="wrong-secret-value").affected_vms(maintenance(estate))
    assert found.vms == [] and found.gaps == (f"failed {estate.subscriptions[0]}",)
    assert "wrong-secret-value" not in caplog.text and CLIENT_SECRET not in caplog.text


def test_tenant_wide_search_and_the_alerts_own_subscription(ca):
    estate = Estate(vms=12, subscriptions=3)
    with ArmEmulator(estate, tls=ca) as emu:
        found = source(emu, subscriptions=(), tenant_wide=True).affected_vms(maintenance(estate))
        own = source(emu, subscriptions=()).affected_vms(maintenance(estate, [estate.subscriptions[2]]))
    assert len(found.vms) == 12
    assert {vm.subscription_id for vm in own.vms} == {estate.subscriptions[2]}


def test_events_without_vms_cost_no_call(ca):
    estate = Estate(vms=3, subscriptions=1)
    with ArmEmulator(estate, tls=ca) as emu:
        src = source(emu)
        sql = replace(maintenance(estate), services=("SQL Database",))
        assert src.affected_vms(sql) == VmLookup([], "none")
        incident = replace(maintenance(estate), kind=EventKind.INCIDENT)
        assert src.affected_vms(incident) == VmLookup([], "none")
    assert sum(emu.calls.values()) == 0


# --- the incomplete-list line in every message --------------------------------------------------------------

def test_gaps_reach_every_channel_in_both_languages(ca):
    estate = Estate(vms=6, subscriptions=2)
    denied = estate.subscriptions[1]
    with ArmEmulator(estate, tls=ca, forbidden=(denied,)) as emu:
        enriched = enrich(maintenance(estate), source(emu), f.NOW)
    assert enriched.gaps == (f"denied {denied}",)
    notification = f.notification()
    notification = replace(notification, enriched=replace(notification.enriched, gaps=enriched.gaps))
    for channel in ("teams", "slack", "email"):
        body = render(notification, f.receiver(channel, "both")).body
        text = _readable(channel, body)
        assert f"VM 一覧は不完全です: サブスクリプション {denied} の VM を取得できませんでした（読み取り権限がありません: 403）。" in text
        assert f"The VM list is incomplete: the VMs of subscription {denied} could not be read (no read access, 403)" in text


def test_a_teams_card_with_gaps_is_a_valid_adaptive_card(tmp_path):
    from tests.render_fixtures import assert_cards_valid

    notification = f.notification()
    gaps = ("denied 0a1b2c3d-1111-2222-3333-444455556666", "throttled 9f8e7d6c-aaaa-bbbb-cccc-ddddeeeeffff 120")
    notification = replace(notification, enriched=replace(notification.enriched, gaps=gaps))
    assert_cards_valid({"gaps": render(notification, f.receiver("teams", "both")).body}, tmp_path)


def test_without_gaps_no_line():
    for channel in ("teams", "slack", "email"):
        text = _readable(channel, render(f.notification(), f.receiver(channel, "both")).body)
        assert "不完全" not in text and "incomplete" not in text


def test_status_gaps_say_how_many_vms():
    notification = f.notification()
    gaps = ("throttled 0a1b2c3d-1111-2222-3333-444455556666 12", "timeout tenant")
    notification = replace(notification, enriched=replace(notification.enriched, gaps=gaps))
    text = _readable("email", render(notification, f.receiver("email", "both")).body)
    assert ("サブスクリプション 0a1b2c3d-1111-2222-3333-444455556666 の VM 12 台は一部の情報（メンテナンス状態、"
            "または可用性セットの他の VM）を確認できませんでした") in text
    assert "テナント全体の検索で VM を取得できませんでした（制限時間内に応答がありませんでした）。" in text
    assert ("part of what is known of 12 VMs in subscription 0a1b2c3d-1111-2222-3333-444455556666 (the maintenance"
            " status, or the other VMs of its availability set) could not be read") in text


def _readable(channel: str, body: bytes) -> str:
    if channel != "email":
        return json.dumps(json.loads(body), ensure_ascii=False).replace("\\\\", "")
    import email
    import email.policy

    message = email.message_from_bytes(body, policy=email.policy.default)
    return "\n".join(part.get_content() for part in message.walk() if part.get_content_type() == "text/plain")


# --- config -------------------------------------------------------------------------------------------------

def test_azure_config_section():
    config = parse_config({"azure": {"subscriptions": ["0A1B2C3D-1111-2222-3333-444455556666"], "tenant_wide": False,
                                     "time_budget_seconds": 12, "arm_url": "https://management.azure.com/"}})
    assert config.azure == AzureSettings(subscriptions=("0a1b2c3d-1111-2222-3333-444455556666",),
                                         time_budget_seconds=12.0)
    assert parse_config({"azure": None}).azure == AzureSettings()
    assert parse_config({}).azure is None


def test_azure_config_problems_are_listed_with_their_paths():
    with pytest.raises(ConfigError) as problem:
        parse_config({"azure": {"subscriptions": ["nope"], "tenant_wide": "yes", "time_budget_seconds": 0,
                                "arm_url": "http://127.0.0.1", "regions": []}}, source="relay.yaml")
    text = str(problem.value)
    for path in ("azure.subscriptions", "azure.tenant_wide", "azure.time_budget_seconds", "azure.arm_url",
                 "azure.regions: unknown setting"):
        assert path in text


# --- relay vms ------------------------------------------------------------------------------------------------

def relay_vms(emu: ArmEmulator, tmp_path: Path, *args: str, config: dict | None = None):
    settings = {"arm_url": emu.url, "authority": emu.url, **(config or {})}
    path = tmp_path / "relay.yaml"
    path.write_text(json.dumps({"azure": settings}))
    env = {**os.environ, "AZURE_TENANT_ID": TENANT_ID, "AZURE_CLIENT_ID": CLIENT_ID,
           "AZURE_CLIENT_SECRET": CLIENT_SECRET, "SSL_CERT_FILE": str(emu.tls.bundle)}
    return subprocess.run([sys.executable, "-m", "relay", "vms", emu.estate.tracking_id, "--config", str(path),
                           "--now", "2026-01-20T03:00:00Z", *args],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


def test_relay_vms_prints_a_table_and_progress(ca, tmp_path):
    estate = Estate(vms=8, subscriptions=2)
    with ArmEmulator(estate, tls=ca) as emu:
        done = relay_vms(emu, tmp_path, "--subscription", estate.subscriptions[0], "--subscription",
                         estate.subscriptions[1].upper())
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() [:3] == ["name", "resource", "group"]
    assert len(lines) == 1 + 8
    assert "Start now" in done.stdout and "JST" not in lines[1] and "2026-01-2" in done.stdout
    assert "resource graph: page 1 (8 rows)…" in done.stderr
    assert "maintenance status: 8 of 8 VMs…" in done.stderr
    assert "Traceback" not in done.stderr


def test_relay_vms_json_and_the_gaps(ca, tmp_path):
    estate = Estate(vms=6, subscriptions=2)
    denied = estate.subscriptions[1]
    with ArmEmulator(estate, tls=ca, forbidden=(denied,)) as emu:
        done = relay_vms(emu, tmp_path, "--format", "json", config={"subscriptions": estate.subscriptions})
    assert done.returncode == 1
    data = json.loads(done.stdout)
    assert len(data["vms"]) == 3 and data["incomplete"] == [{"reason": "denied", "scope": denied, "vms": None}]
    first = data["vms"][0]
    assert first["state"] == "start_now" and first["selfServiceDeadline"].endswith("+09:00")
    assert f"incomplete: the VMs of subscription {denied} could not be read (no read access, 403)" in done.stderr


def test_relay_vms_csv(ca, tmp_path):
    estate = Estate(vms=3, subscriptions=1)
    with ArmEmulator(estate, tls=ca) as emu:
        done = relay_vms(emu, tmp_path, "--format", "csv", config={"subscriptions": estate.subscriptions})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == ("name,resource group,subscription,state,self-service deadline (JST),"
                                           "scheduled window (JST),risks")
    assert len(done.stdout.splitlines()) == 4


def test_a_resource_graph_refusal_without_retry_after_is_honoured(ca):
    """Resource Graph answers 429 with only its quota headers; azure-core would not retry that POST."""
    import time

    from tests.emulator.limits import GraphQuota

    estate = Estate(vms=5, subscriptions=1)
    with ArmEmulator(estate, tls=ca, limits=Limits(graph_window=0.5)) as emu:
        spent = GraphQuota(15, 0.5)
        spent.left, spent.resets = 0, time.monotonic() + 0.5  # others spent this window's quota
        emu._graph[CLIENT_ID] = spent
        found = source(emu).affected_vms(maintenance(estate))
    assert len(found.vms) == 5 and found.gaps == ()
    assert emu.refused["resource graph"] == 2 and emu.unhonoured == 0  # the first page of each query, sent at once


def test_the_emulator_catches_a_client_that_ignores_retry_after(ca):
    import ssl
    import urllib.error
    import urllib.request

    estate = Estate(vms=1, subscriptions=1)
    with ArmEmulator(estate, tls=ca, limits=Limits(reads=(1, 0.1))) as emu:
        emu._tokens["t"] = CLIENT_ID
        vm = estate.impacted()[0]
        request = urllib.request.Request(f"{emu.url}{vm.id}/instanceView?api-version=2026-04-01",
                                         headers={"Authorization": "Bearer t", "x-ms-client-request-id": "r1"})
        context = ssl.create_default_context(cafile=str(emu.tls.bundle))
        statuses = []
        for _ in range(3):
            try:
                statuses.append(urllib.request.urlopen(request, context=context).status)
            except urllib.error.HTTPError as refused:
                statuses.append(refused.code)
                assert refused.headers["Retry-After"] == "10"
    assert statuses == [200, 429, 429]
    assert emu.unhonoured == 1 and emu.refused["instance view"] == 2


def test_relay_process_with_an_azure_config_lists_the_vms_and_the_gaps(ca, tmp_path):
    """The whole relay: an alert in, messages out, the VMs found in Azure (config `azure:`, no inventory)."""
    estate = Estate(vms=6, subscriptions=2)
    denied = estate.subscriptions[1]
    with ArmEmulator(estate, tls=ca, forbidden=(denied,)) as emu:
        config = tmp_path / "relay.yaml"
        # A generous budget: a first run in a new environment also compiles the SDKs it loads.
        config.write_text(json.dumps({"azure": {"arm_url": emu.url, "authority": emu.url,
                                                "subscriptions": estate.subscriptions, "time_budget_seconds": 120},
                                      "receivers": [{"name": "mail", "channel": "outbox", "format": "email"}]}))
        env = {**os.environ, "AZURE_TENANT_ID": TENANT_ID, "AZURE_CLIENT_ID": CLIENT_ID,
               "AZURE_CLIENT_SECRET": CLIENT_SECRET, "SSL_CERT_FILE": str(emu.tls.bundle)}
        done = subprocess.run([sys.executable, "-m", "relay", "process", "-v",
                               str(ROOT / "examples/alerts/01-planned.json"),
                               "--config", str(config), "--outbox", str(tmp_path / "outbox"),
                               "--state", str(tmp_path / "ledger.sqlite"), "--now", "2026-01-20T03:00:00Z"],
                              capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "3 VM(s); delivered to 1/1" in done.stdout, done.stdout + done.stderr
    text = _readable("email", next((tmp_path / "outbox").rglob("*.eml")).read_bytes())
    assert all(vm.name in text for vm in estate.impacted() if vm.subscription != denied)
    assert f"VM 一覧は不完全です: サブスクリプション {denied} の VM を取得できませんでした" in text


def test_a_scale_set_named_whole_lists_its_vms_in_the_wave(ca):
    estate = Estate(vms=2, subscriptions=1, scale_sets=1, instances=6, impacted_instances=4, whole_scale_sets=True)
    with ArmEmulator(estate, tls=ca) as emu:
        found = source(emu).affected_vms(maintenance(estate))
    instances = sorted(vm.name for vm in found.vms if "/virtualMachineScaleSets/" in vm.id)
    assert instances == ["vmss-00_0", "vmss-00_1", "vmss-00_2", "vmss-00_3"]  # in the wave: not _4, _5
    assert emu.calls["scale set VMs"] == 1


def test_a_lookup_from_inside_an_event_loop(ca):
    import asyncio

    estate = Estate(vms=3, subscriptions=1)
    with ArmEmulator(estate, tls=ca) as emu:
        async def alert_handler():
            return source(emu).affected_vms(maintenance(estate))

        found = asyncio.run(alert_handler())
    assert len(found.vms) == 3 and found.gaps == ()


def test_the_azure_source_loads_no_sdk_until_used():
    code = ("import sys, relay.hosts.wiring, relay.enrich.azure, relay.cli.vm_table; "
            "print(sorted(m for m in sys.modules if m.startswith(('azure.mgmt', 'azure.identity', 'aiohttp'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
