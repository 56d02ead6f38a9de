"""What `relay provision` wants in one subscription, as the ARM JSON it would PUT. Pure, no I/O.

The names, conditions and defaults are those of infra/modules/alert-rules.bicep, so a subscription set
up by the CLI and one set up by `azd provision` watch the same events. The Action Group differs only in
its receiver: a webhook to the function URL the user gives, where the Bicep names the Function App.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from relay.runtime.redact import redact

RESOURCE_GROUP, ACTION_GROUP, SERVICE_HEALTH, RESOURCE_HEALTH = (
    "resource group", "action group", "service health rule", "resource health rule")
SERVICE_HEALTH_RULE = "alert-relay-service-health"
RESOURCE_HEALTH_RULE = "alert-relay-vm-resource-health"
RECEIVER = "relay-ingest"
INCIDENT_TYPES = ("Maintenance", "Incident", "Security", "ActionRequired")
REGIONS = ("Japan East", "Japan West")
SERVICES = ("Virtual Machines", "Virtual Machine Scale Sets")
SHORT_NAME_MAX = 12
_GUID = re.compile(r"[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}", re.IGNORECASE)
_GROUP_NAME = re.compile(r"[-\w.()]{0,89}[-\w()]")  # ARM: 1-90 of these, not ending in a period
_RULE_NAME_BAD = re.compile(r"[<>*%{}&:\\?+/#|\x00-\x1f]")  # what ARM refuses in these names
_PROGRAMMATIC_REGION = re.compile(r"[a-z]+[0-9]*")  # japaneast: ARM's name, not Service Health's


@dataclass(frozen=True)
class SecureWebhook:
    """Entra-authenticated webhook (useAadAuth): the Action Group gets a token for this application."""

    tenant_id: str
    object_id: str
    identifier_uri: str


@dataclass(frozen=True)
class Options:
    function_url: str
    resource_group: str = "rg-maintenance-relay"
    location: str = "japaneast"  # of a resource group created here; the rest is Global
    action_group: str = "ag-maintenance-relay"
    short_name: str = "mntrelay"
    regions: tuple[str, ...] = REGIONS  # empty: every region
    services: tuple[str, ...] = SERVICES  # empty: every service
    platform_initiated_only: bool = True
    secure: SecureWebhook | None = None


@dataclass(frozen=True)
class Resource:
    kind: str
    name: str
    body: dict  # ARM JSON: what a PUT sends
    create_only: bool = False  # a resource group is created when missing, never changed


def problems(options: Options) -> list[str]:
    """Why these options cannot be provisioned; empty when they can. Never quotes the URL's key."""
    found = []
    url = urlsplit(options.function_url)
    if url.scheme != "https" or not url.hostname or any(c.isspace() for c in options.function_url):
        found.append(f"--function-url must be an https:// URL, not {redact(options.function_url)!r}")
    if not _GROUP_NAME.fullmatch(options.resource_group):
        found.append(f"--resource-group {options.resource_group!r}: 1 to 90 letters, digits, - _ . ( ),"
                     " not ending in a period")
    if not options.location.isalnum():
        found.append(f"--location {options.location!r}: a region as ARM names it, like japaneast")
    if not options.action_group.strip() or _RULE_NAME_BAD.search(options.action_group):
        found.append(f"--action-group {options.action_group!r}: a name without <>*%{{}}&:\\?+/#|")
    if not 1 <= len(options.short_name) <= SHORT_NAME_MAX:
        found.append(f"--short-name {options.short_name!r}: 1 to {SHORT_NAME_MAX} characters"
                     f" (it has {len(options.short_name)})")
    for region in options.regions:
        if _PROGRAMMATIC_REGION.fullmatch(region):
            found.append(f"--region {region!r}: Service Health names regions as the portal does, like 'Japan East'")
    if options.secure:
        for flag, value in (("--tenant-id", options.secure.tenant_id), ("--object-id", options.secure.object_id)):
            if not _GUID.fullmatch(value):
                found.append(f"{flag} {value!r}: a GUID, like 0a1b2c3d-1111-2222-3333-444455556666")
        if not options.secure.identifier_uri.strip():
            found.append("--identifier-uri: the application ID URI of the app registration, like api://relay")
    return found


def resources(options: Options, subscription: str) -> list[Resource]:
    """In the order they must be created: each needs the one before it."""
    action_group_id = (f"/subscriptions/{subscription}/resourceGroups/{options.resource_group}"
                       f"/providers/Microsoft.Insights/actionGroups/{options.action_group}")
    return [
        Resource(RESOURCE_GROUP, options.resource_group, {"location": options.location}, create_only=True),
        Resource(ACTION_GROUP, options.action_group, _action_group(options)),
        Resource(SERVICE_HEALTH, SERVICE_HEALTH_RULE, _rule(
            "Service Health (Maintenance, Incident, Security, ActionRequired) to the maintenance relay.",
            subscription, action_group_id, _service_health(options))),
        Resource(RESOURCE_HEALTH, RESOURCE_HEALTH_RULE, _rule(
            "Resource Health of virtual machines (platform-initiated, Unknown excluded) to the maintenance relay.",
            subscription, action_group_id, _resource_health(options))),
    ]


def _action_group(options: Options) -> dict:
    receiver = {"name": RECEIVER, "serviceUri": options.function_url, "useCommonAlertSchema": True,
                "useAadAuth": options.secure is not None}
    if options.secure:
        receiver |= {"tenantId": options.secure.tenant_id, "objectId": options.secure.object_id,
                     "identifierUri": options.secure.identifier_uri}
    return {"location": "Global", "properties": {"groupShortName": options.short_name, "enabled": True,
                                                 "webhookReceivers": [receiver]}}


def _rule(description: str, subscription: str, action_group_id: str, conditions: list[dict]) -> dict:
    return {"location": "Global", "properties": {
        "description": description, "enabled": True, "scopes": [f"/subscriptions/{subscription}"],
        "condition": {"allOf": conditions}, "actions": {"actionGroups": [{"actionGroupId": action_group_id}]}}}


def _service_health(options: Options) -> list[dict]:
    conditions: list[dict] = [
        {"field": "category", "equals": "ServiceHealth"},
        {"anyOf": [{"field": "properties.incidentType", "equals": kind} for kind in INCIDENT_TYPES]},
    ]
    if options.services:
        conditions.append({"field": "properties.impactedServices[*].ServiceName",
                           "containsAny": list(options.services)})
    if options.regions:
        conditions.append({"field": "properties.impactedServices[*].ImpactedRegions[*].RegionName",
                           "containsAny": list(options.regions)})
    return conditions


def _resource_health(options: Options) -> list[dict]:
    # Unknown is excluded by listing the known statuses, as the Bicep explains.
    conditions: list[dict] = [
        {"field": "category", "equals": "ResourceHealth"},
        {"field": "resourceType", "equals": "Microsoft.Compute/virtualMachines"},
        {"anyOf": [{"field": "properties.currentHealthStatus", "equals": status}
                   for status in ("Available", "Unavailable", "Degraded")]},
    ]
    if options.platform_initiated_only:
        conditions.append({"field": "properties.cause", "equals": "PlatformInitiated"})
    return conditions
