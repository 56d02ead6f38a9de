"""Finding the affected VMs in Azure, against the ARM emulator (tests/emulator) with the documented
throttles and a latency on every call: the relay's Azure source on its two paths, and the obvious approach.

    records         Resource Graph pages of the impacted VMs and, beside them, pages of their maintenance
                    records (maintenanceresources); an instance view only for a VM whose record does not
                    answer for it. Run with the table answering for every VM, and for 70% of them
    instance views  the same estate without records: one instance view a VM, paced by each subscription's
                    read bucket (250 at once, 25 a second), many at a time — the path before the records
    obvious         per subscription, Resource Health's impacted list, then one GET with the instance view
                    a VM, one after another (the synchronous SDK clients as they come)

For each: wall time, calls by kind (counted by the emulator), Compute calls, 429s received and any not
honoured, peak memory (resident set, getrusage), and the lower bound the throttles imply for the fewest
calls: the fewest Resource Graph queries (1,000 rows a page), sent as fast as its quota allows (15 queries
in 5 s), beside the fewest instance views, sent as fast as each subscription's read bucket allows. The
obvious approach is run on one subscription's slice and extrapolated (it takes minutes in full). Each
scenario gets an emulator process of its own, so the buckets start full. The last line printed is one
JSON object with every figure.

    python bench/enrich.py                       # 10,000 VMs over 20 subscriptions, 20 ms latency
    python bench/enrich.py --vms 2000 --subscriptions 4 --latency 0.05
"""
from __future__ import annotations

import argparse
import json
import math
import resource
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import results  # noqa: E402
from relay.config import AzureSettings  # noqa: E402
from relay.enrich.azure import AzureVmSource  # noqa: E402
from tests.emulator import Estate  # noqa: E402

READS_AT_ONCE, READS_A_SECOND = 250, 25.0  # ARM's subscription read bucket
GRAPH_PAGE, GRAPH_QUERIES, GRAPH_WINDOW = 1000, 15, 5.0
COMPUTE = ("instance view", "virtual machine", "scale set VMs")  # the calls that spend Compute's read budget


class Emulator:
    """The emulator in a process of its own, for one scenario."""

    def __init__(self, vms: int, subscriptions: int, latency: float, recorded: float):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.emulator", "--vms", str(vms), "--subscriptions", str(subscriptions),
             "--latency", str(latency), "--recorded", str(recorded)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT, text=True,
        )
        self.info = json.loads(self.process.stdout.readline())

    def stats(self) -> dict:
        context = ssl.create_default_context(cafile=self.info["ca"])
        with urllib.request.urlopen(self.info["url"] + "/_emulator/stats", context=context) as answer:
            return json.load(answer)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(30)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ours(emulator: Emulator, budget: float) -> dict:
    """One lookup as the relay makes it for an alert (trackingId and maintenanceId), counted by the emulator."""
    info = emulator.info
    settings = AzureSettings(subscriptions=tuple(info["subscriptions"]), time_budget_seconds=budget,
                             arm_url=info["url"], authority=info["url"])

    def credential():
        from azure.identity.aio import ClientSecretCredential

        return ClientSecretCredential(info["tenant"], info["client_id"], info["client_secret"], authority=info["url"],
                                      disable_instance_discovery=True, connection_verify=info["ca"])

    source = AzureVmSource(settings, credential=credential, connection_verify=info["ca"])
    before = peak_rss_mb()
    start = time.perf_counter()
    found = source.lookup(info["tracking_id"], maintenance_id=info["maintenance_id"])
    seconds = time.perf_counter() - start
    stats = emulator.stats()
    return {"seconds": round(seconds, 3), "vms": len(found.vms),
            "with_status": sum(vm.redeploy is not None for vm in found.vms),
            "from_records": sum(vm.state_source == "maintenance record" for vm in found.vms),
            "gaps": list(found.gaps), "calls": stats["calls"], "all_calls": sum(stats["calls"].values()),
            "compute_calls": sum(stats["calls"].get(kind, 0) for kind in COMPUTE),
            "graph_queries": stats["graph queries"], "throttled": sum(stats["refused"].values()),
            "unhonoured": stats["unhonoured"], "peak_rss_mb": round(peak_rss_mb(), 1),
            "rss_growth_mb": round(peak_rss_mb() - before, 1)}


def obvious(emulator: Emulator) -> dict:
    """One subscription: Resource Health's list, then GET …?$expand=instanceView for each VM in turn."""
    from azure.identity import ClientSecretCredential
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.resourcehealth import ResourceHealthMgmtClient

    info = emulator.info
    subscription = info["subscriptions"][0]
    credential = ClientSecretCredential(info["tenant"], info["client_id"], info["client_secret"], authority=info["url"],
                                        disable_instance_discovery=True, connection_verify=info["ca"])
    options = {"base_url": info["url"], "connection_verify": info["ca"],
               "credential_scopes": [info["url"] + "/.default"]}
    start = time.perf_counter()
    health = ResourceHealthMgmtClient(credential, subscription, **options)
    ids = [item.properties.target_resource_id
           for item in health.impacted_resources.list_by_subscription_id_and_event_id(info["tracking_id"])]
    compute = ComputeManagementClient(credential, subscription, **options)
    with_status = 0
    for vm_id in ids:
        parts = vm_id.split("/")
        vm = compute.virtual_machines.get(parts[4], parts[8], expand="instanceView")
        with_status += vm.instance_view.maintenance_redeploy_status is not None
    seconds = time.perf_counter() - start
    stats = emulator.stats()
    return {"seconds": round(seconds, 3), "vms": len(ids), "with_status": with_status, "calls": stats["calls"],
            "throttled": sum(stats["refused"].values()), "unhonoured": stats["unhonoured"]}


def lower_bound(vms: int, subscriptions: int, latency: float, recorded: float) -> dict:
    """The fewest calls, and the time the throttles allow them in.

    Resource Graph: the pages of the impacted VMs, of their records and of their availability sets' VMs, at
    most GRAPH_QUERIES in a window of GRAPH_WINDOW seconds; the set pages follow the impacted ones, each page
    the one before it. Beside them, one instance view for each VM without a record, at each subscription's
    read bucket's pace. The estate is the emulator's (tests/emulator/estate.py), built here to count them."""
    estate = Estate(vms, subscriptions, recorded=recorded)
    impacted = estate.impacted()
    sets = {(vm.subscription, vm.resource_group, vm.availability_set) for vm in impacted if vm.availability_set}
    members = sum((vm.subscription, vm.resource_group, vm.availability_set) in sets for vm in estate.vms)
    recorded_vms = sum(vm.recorded for vm in impacted)
    pages = {"impacted": math.ceil(len(impacted) / GRAPH_PAGE),  # a query that finds nothing still is one
             "records": max(1, math.ceil(recorded_vms / GRAPH_PAGE)), "set members": math.ceil(members / GRAPH_PAGE)}
    queries = sum(pages.values())
    fallback = len(impacted) - recorded_vms
    per_subscription = math.ceil(fallback / subscriptions)
    bucket = max(0.0, per_subscription - READS_AT_ONCE) / READS_A_SECOND
    windows = math.ceil(queries / GRAPH_QUERIES)
    graph_seconds = max((windows - 1) * GRAPH_WINDOW + latency, (pages["impacted"] + pages["set members"]) * latency)
    seconds = latency + max(graph_seconds, (bucket + latency) if fallback else 0.0)  # after the token
    calls = {"token": 1, "resource graph": queries, **({"instance view": fallback} if fallback else {})}
    return {"seconds": round(seconds, 3), "calls": calls, "graph_pages": pages, "quota_windows": windows,
            "read_bucket_seconds": round(bucket, 2)}


def calls_text(calls: dict) -> str:
    return ", ".join(f"{kind} {n:,}" for kind, n in calls.items())


def run(vms: int, subscriptions: int, latency: float, recorded: float, budget: float) -> dict:
    emulator = Emulator(vms, subscriptions, latency, recorded)
    try:
        result = ours(emulator, budget)
    finally:
        emulator.close()
    bound = lower_bound(vms, subscriptions, latency, recorded)
    return {**result, "recorded": recorded, "lower_bound": bound,
            "ratio_to_lower_bound": round(result["seconds"] / bound["seconds"], 3)}


def report(name: str, result: dict) -> None:
    bound = result["lower_bound"]
    print(f"{name} {result['seconds']:.2f} s for {result['vms']:,} VMs ({result['from_records']:,} from records,"
          f" {result['with_status']:,} with a status, gaps {len(result['gaps'])})  {result['all_calls']:,} calls:"
          f" {calls_text(result['calls'])}; Compute {result['compute_calls']:,}", flush=True)
    print(f"{'':16}429s {result['throttled']} (unhonoured {result['unhonoured']})  peak RSS {result['peak_rss_mb']:.0f}"
          f" MB (+{result['rss_growth_mb']:.0f} MB in the lookup)", flush=True)
    print(f"{'':16}lower bound {bound['seconds']:.2f} s ({calls_text(bound['calls'])}; Resource Graph pages"
          f" {calls_text(bound['graph_pages'])} in {bound['quota_windows']} quota window(s) of {GRAPH_QUERIES}"
          f" queries; read bucket {bound['read_bucket_seconds']:.1f} s)  → {result['ratio_to_lower_bound']:.2f}×"
          f" the lower bound", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vms", type=int, default=10_000, help="impacted VMs (default 10,000)")
    parser.add_argument("--subscriptions", type=int, default=20, help="subscriptions they are spread over (default 20)")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds the emulator adds to every call (default 0.02)")
    parser.add_argument("--part", type=float, default=0.7,
                        help="share of the VMs with a record in the partial run (default 0.7)")
    parser.add_argument("--small", type=int, default=100, help="VMs of the one-subscription run (default 100)")
    parser.add_argument("--budget", type=float, default=120.0,
                        help="the source's time budget in seconds (default 120: let it finish, to measure it)")
    results.add_option(parser)
    args = parser.parse_args()
    with results.recorded("enrich", args.write_results):
        figures: dict = {"vms": args.vms, "subscriptions": args.subscriptions, "latency_s": args.latency}
        print(f"estate: {args.vms:,} impacted VMs over {args.subscriptions} subscriptions, "
              f"{args.latency * 1000:g} ms latency a call, documented throttles", flush=True)

        emulator = Emulator(args.small, 1, args.latency, 1.0)
        try:
            cold = ours(emulator, args.budget)
            warm = ours(emulator, args.budget)  # same process, SDKs loaded: a warm Function instance
        finally:
            emulator.close()
        figures["small"] = {"vms": args.small, "first_seconds": cold["seconds"], "warm_seconds": warm["seconds"],
                            "calls": cold["calls"], "throttled": cold["throttled"] + warm["throttled"]}
        print(f"small:          {args.small} VMs in 1 subscription, records: {warm['seconds']:.2f} s warm "
              f"({cold['seconds']:.2f} s for the first, loading the SDKs)  calls: {calls_text(cold['calls'])}",
              flush=True)

        scenarios = (("records", 1.0, "records, all:  "), ("records_part", args.part,
                     f"records, {args.part:.0%}:  "), ("instance_views", 0.0, "instance views:"))
        for key, recorded, name in scenarios:
            figures[key] = run(args.vms, args.subscriptions, args.latency, recorded, args.budget)
            report(name, figures[key])

        slice_vms = math.ceil(args.vms / args.subscriptions)
        emulator = Emulator(slice_vms, 1, args.latency, 0.0)
        try:
            measured = obvious(emulator)
        finally:
            emulator.close()
        scale = args.vms / measured["vms"]
        calls = {kind: n if kind in ("token", "openid") else n * args.subscriptions for kind, n in measured["calls"].items()}
        estimate = {
            "seconds": round(measured["seconds"] * scale, 1), "calls": calls,
            "throttled": measured["throttled"], "unhonoured": measured["unhonoured"],
            "measured_slice": measured, "extrapolated": True,
            "lower_bound": {"seconds": round(sum(calls.values()) * args.latency, 3), "calls": calls},
        }
        estimate["speedup_of_records"] = round(estimate["seconds"] / figures["records"]["seconds"], 1)
        figures["obvious"] = estimate
        figures["peak_rss_mb"] = round(peak_rss_mb(), 1)
        print(f"obvious:        {measured['seconds']:.2f} s for a slice of {measured['vms']:,} VMs in 1 subscription →"
              f" ≈ {estimate['seconds']:.0f} s for {args.vms:,} (extrapolated ×{scale:g})  calls:"
              f" {calls_text(estimate['calls'])}  429s {measured['throttled']}", flush=True)
        print(f"{'':16}lower bound {estimate['lower_bound']['seconds']:.1f} s (one call after another)"
              f"  → the records path is {estimate['speedup_of_records']:.1f}× faster", flush=True)
        print(f"peak RSS of the run: {figures['peak_rss_mb']:.0f} MB", flush=True)
        print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
