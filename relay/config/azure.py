"""The config's `azure:` section: where and how long to look for the affected VMs in Azure."""
from __future__ import annotations

from dataclasses import dataclass

from relay.config.checks import GUID, unknown

PUBLIC_ARM = "https://management.azure.com"
PUBLIC_AUTHORITY = "https://login.microsoftonline.com"


@dataclass(frozen=True)
class AzureSettings:
    """Where and how long to look for the affected VMs in Azure."""

    subscriptions: tuple[str, ...] = ()  # besides the alert's own
    tenant_wide: bool = False
    time_budget_seconds: float = 20.0
    arm_url: str = PUBLIC_ARM
    authority: str = PUBLIC_AUTHORITY
    # What the backfill takes from the Activity Log, as the alert rule's conditions: events naming one of
    # these services and one of these regions (Service Health's names, any letter case); empty: any.
    backfill_services: tuple[str, ...] = ()
    backfill_regions: tuple[str, ...] = ()


def parse_azure(raw: object, problems: list[str]) -> AzureSettings:
    if raw is None:
        return AzureSettings()
    if not isinstance(raw, dict):
        problems.append("azure: must be a mapping (subscriptions, tenant_wide, time_budget_seconds, arm_url, authority,"
                        " backfill)")
        return AzureSettings()
    keys = {"subscriptions", "tenant_wide", "time_budget_seconds", "arm_url", "authority", "backfill"}
    problems += unknown(raw, keys, "azure.")
    subscriptions = raw.get("subscriptions", [])
    if not isinstance(subscriptions, list) or not all(isinstance(s, str) and GUID.match(s) for s in subscriptions):
        problems.append("azure.subscriptions: a list of subscription ids (like 0a1b2c3d-1111-2222-3333-444455556666)")
        subscriptions = []
    tenant_wide = raw.get("tenant_wide", False)
    if not isinstance(tenant_wide, bool):
        problems.append("azure.tenant_wide: true or false")
    budget = raw.get("time_budget_seconds", 20)
    if isinstance(budget, bool) or not isinstance(budget, int | float) or not 0 < budget <= 600:
        problems.append("azure.time_budget_seconds: seconds above 0 and at most 600, well inside the Functions timeout")
        budget = 20
    urls = {}
    for key, default in (("arm_url", PUBLIC_ARM), ("authority", PUBLIC_AUTHORITY)):
        urls[key] = raw.get(key, default)
        if not isinstance(urls[key], str) or not urls[key].startswith("https://"):
            problems.append(f"azure.{key}: an https:// URL")
    services, regions = _backfill(raw.get("backfill"), problems)
    return AzureSettings(
        subscriptions=tuple(s.lower() for s in subscriptions),
        tenant_wide=tenant_wide is True,
        time_budget_seconds=float(budget),
        arm_url=str(urls["arm_url"]).rstrip("/"),
        authority=str(urls["authority"]).rstrip("/"),
        backfill_services=services,
        backfill_regions=regions,
    )


def _backfill(raw: object, problems: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if raw is None:
        return (), ()
    if not isinstance(raw, dict):
        problems.append("azure.backfill: a mapping with services and regions, as your Service Health alert rule has")
        return (), ()
    problems += unknown(raw, {"services", "regions"}, "azure.backfill.")
    found = []
    for key, example in (("services", "[Virtual Machines, Virtual Machine Scale Sets]"), ("regions", "[Japan East, Japan West]")):
        value = raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            problems.append(f"azure.backfill.{key}: a list of names as Service Health writes them, like {example}")
            value = []
        found.append(tuple(v.strip() for v in value))
    return found[0], found[1]
