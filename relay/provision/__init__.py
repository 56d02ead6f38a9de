"""`relay provision`: the relay's Action Group and alert rules in more subscriptions, idempotently.

For each subscription, at once: read each resource (GET), compare it with what is wanted, then, unless
it is a dry run, PUT only what is missing or differs, in order (resource group, Action Group, the two
rules that call it). A subscription that fails stops there and is reported; the others go on.

    wanted.py   the options, and the ARM JSON they ask for (the Bicep's names and conditions)
    plan.py     wanted against existing: create / update (which fields) / unchanged
    arm.py      GET and PUT through azure-mgmt-monitor
    report.py   the table and the summary

Nothing here loads an Azure SDK until Azure is called.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from relay.config import AzureSettings
from relay.provision.plan import CREATE, UNCHANGED, Change, compare
from relay.provision.wanted import ACTION_GROUP, RESOURCE_GROUP, Options, Resource, resources
from relay.runtime.redact import redact

BUDGET_SECONDS = 300.0  # the whole run; ARM answers each of these calls within seconds
Progress = Callable[[str], None]


@dataclass
class Outcome:
    """One subscription: its plan as far as it was read, what was written, and why it stopped."""

    subscription: str
    changes: list[Change] = field(default_factory=list)
    applied: set[str] = field(default_factory=set)  # kinds of resource written
    failed: str | None = None  # kind of resource it stopped at
    error: str | None = None


def provision(settings: AzureSettings, options: Options, subscriptions: list[str], *, dry_run: bool = False,
              progress: Progress | None = None, credential=None, connection_verify: str | None = None) -> list[Outcome]:
    """`credential`: a factory of an async azure-identity credential (default: DefaultAzureCredential)."""
    return asyncio.run(_all(settings, options, list(dict.fromkeys(subscriptions)), dry_run,
                            progress or (lambda line: None), credential, connection_verify))


async def _all(settings, options, subscriptions, dry_run, progress, credential, connection_verify) -> list[Outcome]:
    from relay.backfill.read import Clients
    from relay.enrich.azure.clients import default_credential
    from relay.enrich.azure.throttle import Throttle

    credential = credential or default_credential(settings, connection_verify)
    async with Clients(settings, credential, Throttle(BUDGET_SECONDS), connection_verify) as azure:
        return await asyncio.gather(*(_one(azure, options, sub, dry_run, progress) for sub in subscriptions))


async def _one(azure, options: Options, subscription: str, dry_run: bool, progress: Progress) -> Outcome:
    from relay.provision import arm

    outcome = Outcome(subscription)
    step, writing, group_missing = None, False, None
    try:
        for resource in resources(options, subscription):
            step = resource
            # in a resource group that does not exist, nothing does
            existing = None if group_missing else await arm.read(azure, subscription, options.resource_group, resource)
            if resource.kind == RESOURCE_GROUP:
                group_missing = existing is None
            outcome.changes.append(compare(resource, existing))
        todo = [change for change in outcome.changes if change.action != UNCHANGED]
        progress(f"{subscription}: read, {len(todo)} of {len(outcome.changes)} to create or update")
        if dry_run:
            return outcome
        writing = True
        for change in todo:
            step = change.resource
            await arm.write(azure, subscription, options.resource_group, change)
            outcome.applied.add(change.resource.kind)
            group_missing = group_missing and change.resource.kind != RESOURCE_GROUP  # created now
            progress(f"{subscription}: {'created' if change.action == CREATE else 'updated'}"
                     f" {change.resource.kind} {change.resource.name}")
    except Exception as error:  # noqa: BLE001 - one subscription's failure must not stop the others
        outcome.failed = step.kind if step else None
        outcome.error = reason(error, step, writing, group_missing is not False, options)
    return outcome


def reason(error: BaseException, step: Resource | None, writing: bool, group_may_be_missing: bool,
           options: Options) -> str:
    """Why a subscription failed, in a few words; for a refusal, the role that is missing, and for a secure
    webhook's Action Group also Microsoft's prerequisite: "The service principal must be assigned an owner
    role of the Microsoft Entra application to be able to create, modify, or test the secure webhook action"
    (Azure Monitor, "Action groups")."""
    from relay.backfill.read import reason as read_reason

    status = getattr(error, "status_code", None)
    group = options.resource_group
    if status == 403:
        if writing and step is not None and step.kind == RESOURCE_GROUP:
            return (f"denied (403): creating resource group {group} needs Contributor on the subscription"
                    " (or a role with Microsoft.Resources/subscriptions/resourceGroups/write)")
        said = ("denied (403): the identity needs Monitoring Contributor on the subscription"
                + (f", and Contributor to create resource group {group}" if group_may_be_missing else ""))
        if writing and options.secure is not None and step is not None and step.kind == ACTION_GROUP:
            said += (f"; for the secure webhook it must also be an owner of the Entra app registration"
                     f" (object id {options.secure.object_id})")
        return said
    odata = getattr(error, "error", None)
    if status and 400 <= status < 500 and odata is not None and getattr(odata, "code", None):
        return f"refused (HTTP {status} {odata.code}): {redact(str(odata.message or ''))}"
    return read_reason(error)
