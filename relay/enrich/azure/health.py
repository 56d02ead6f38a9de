"""Resource Health: the impacted resources of a trackingId, asked of one subscription (or the tenant).

The fallback where Resource Graph cannot answer: for a listed subscription Resource Graph returned
nothing for (no read access shows up here as a 403; a lagging index shows up as rows), or for every
subscription when Resource Graph failed. Pages follow nextLink.
"""
from __future__ import annotations

from relay.enrich.azure.graph import SCALE_SET_TYPE, SCALE_SET_VM_TYPE, VM_TYPE

_TYPES = (VM_TYPE, SCALE_SET_TYPE, SCALE_SET_VM_TYPE)


async def impacted_targets(azure, tracking_id: str, subscription: str | None) -> list[tuple[str, str]]:
    """(resource id, lower-cased type) of each impacted VM, scale set and scale set VM; `subscription`
    None asks at the tenant."""
    operations = azure.health(subscription or "").impacted_resources
    if subscription:
        pages = operations.list_by_subscription_id_and_event_id(tracking_id)
    else:
        pages = operations.list_by_tenant_id_and_event_id(tracking_id)
    targets = []
    async for item in pages:
        properties = item.as_dict().get("properties") or {}
        kind = str(properties.get("targetResourceType") or "").lower()
        if kind in _TYPES and properties.get("targetResourceId"):
            targets.append((properties["targetResourceId"], kind))
    return targets
