"""The Azure VM source: which of our VMs a maintenance event hits, found in Azure itself.

    graph.py     Resource Graph: impacted resources of a trackingId joined to VM facts, paged
    records.py   Resource Graph: the VMs' maintenance records, read as their instance views would say
    health.py    Resource Health impactedResources: the per-subscription fallback
    compute.py   instance views and scale set listings: each VM's maintenanceRedeployStatus, where no
                 record answers
    throttle.py  pacing by Azure's documented throttles, Retry-After, the time budget
    buckets.py   the token buckets that pacing books calls on
    clients.py   credential, HTTP session and SDK clients of one lookup
    source.py    AzureVmSource, the VmSource, and the call plan

Nothing here is imported until Azure is used: the Function App starts without the management SDKs.
"""
from relay.enrich.azure.source import AzureVmSource

__all__ = ["AzureVmSource"]
