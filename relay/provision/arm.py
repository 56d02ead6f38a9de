"""The provisioned resources in Azure, through the backfill's monitor client (its credential, session,
endpoints and pacing): read one as ARM JSON, None when it does not exist; write one.

    resource group        GET/PUT /subscriptions/{s}/resourcegroups/{g}                     api 2024-03-01
    action group          GET/PUT …/providers/Microsoft.Insights/actionGroups/{n}           api 2023-01-01
    activity log alerts   GET/PUT …/providers/Microsoft.Insights/activityLogAlerts/{n}      api 2020-10-01
The resource group goes through the same client's pipeline as a plain request: azure-mgmt-resource is
not a dependency for two calls.
"""
from __future__ import annotations

from urllib.parse import quote

from relay.backfill.read import Clients
from relay.provision.plan import Change
from relay.provision.wanted import ACTION_GROUP, RESOURCE_GROUP, Resource

_GROUPS_API = "2024-03-01"


async def read(azure: Clients, subscription: str, resource_group: str, resource: Resource) -> dict | None:
    from azure.core.exceptions import ResourceNotFoundError

    client = azure.monitor(subscription)
    if resource.kind == RESOURCE_GROUP:
        response = await client._send_request(_group_request("GET", subscription, resource.name))
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()
    operations, _ = _operations(client, resource.kind)
    try:
        found = await operations.get(resource_group, resource.name)
    except ResourceNotFoundError:
        return None
    return found.serialize()


async def write(azure: Clients, subscription: str, resource_group: str, change: Change) -> None:
    client = azure.monitor(subscription)
    resource = change.resource
    if resource.kind == RESOURCE_GROUP:
        response = await client._send_request(_group_request("PUT", subscription, resource.name, change.body))
        response.raise_for_status()
        return
    operations, model = _operations(client, resource.kind)
    await operations.create_or_update(resource_group, resource.name, model.deserialize(change.body))


def _group_request(method: str, subscription: str, name: str, body: dict | None = None):
    from azure.core.rest import HttpRequest

    return HttpRequest(method, f"/subscriptions/{subscription}/resourcegroups/{quote(name, safe='')}",
                       params={"api-version": _GROUPS_API}, json=body)


def _operations(client, kind: str):
    from azure.mgmt.monitor.models import ActionGroupResource, ActivityLogAlertResource

    if kind == ACTION_GROUP:
        return client.action_groups, ActionGroupResource
    return client.activity_log_alerts, ActivityLogAlertResource
