"""Starting the planned maintenance: performMaintenance wave by wave, each long-running operation
followed to its end.

Each call first takes a token from our picture of Compute's "Update VM" bucket of its subscription
(Perform Maintenance is one of its APIs), and the clients' ThrottlePolicy holds a refused call for its
Retry-After before it is sent again. A VM whose operation does not end within `timeout` may still be
in maintenance, so no later VM of its availability set, scale set or zone is started in this run.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from relay.enrich.azure.buckets import Bucket
from relay.enrich.azure.throttle import Unavailable
from relay.maintain.plan import Group, Plan, Skip, Skipped, groups, scale_set_of
from relay.model import Vm

UPDATE_VM = (1_500, 500 / 60)  # Compute "Update VM", a subscription: 1,500, refilled 500 a minute


class Outcome(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"
    TIMED_OUT = "timed_out"


@dataclass(frozen=True)
class Result:
    vm: Vm
    outcome: Outcome
    message: str = ""  # Azure's own, for a failure (a timed-out VM has none)
    seconds: float = 0.0


async def execute(azure, plan: Plan, timeout: float, progress: Callable[[str], None],
                  clock: Callable[[], float] = time.monotonic) -> tuple[list[Result], list[Skipped]]:
    """Results of the VMs started, and the VMs not started because a VM of one of their groups did not finish."""
    buckets: dict[str, Bucket] = {}
    unfinished: set[Group] = set()
    results: list[Result] = []
    blocked: list[Skipped] = []
    for number, wave in enumerate(plan.waves, 1):
        ready = [a.vm for a in wave if not groups(a.vm) & unfinished]
        blocked += [Skipped(a.vm, Skip.BLOCKED) for a in wave if groups(a.vm) & unfinished]
        if not ready:
            continue
        progress(f"wave {number} of {len(plan.waves)}: starting {', '.join(vm.name for vm in ready)}…")
        done = await asyncio.gather(*(_maintain(azure, vm, buckets, timeout, clock) for vm in ready))
        for result in done:
            progress(f"  {result.vm.name}: {result.outcome.value.replace('_', ' ')} after {result.seconds:.0f} s"
                     + (f": {result.message}" if result.message else ""))
            if result.outcome is Outcome.TIMED_OUT:
                unfinished |= groups(result.vm)
        results += done
    return results, blocked


async def _maintain(azure, vm: Vm, buckets: dict[str, Bucket], timeout: float, clock) -> Result:
    started = clock()
    subscription = vm.subscription_id.lower()
    bucket = buckets.get(subscription)
    if bucket is None:
        bucket = buckets[subscription] = Bucket(*UPDATE_VM, started)
        bucket.start(started)
    try:
        wait = bucket.reserve(clock())
        if wait:
            await asyncio.sleep(wait)
        await asyncio.wait_for(_perform(azure, vm), timeout)
    except (TimeoutError, Unavailable):  # no answer in time: the operation may be running all the same
        return Result(vm, Outcome.TIMED_OUT, seconds=clock() - started)
    except Exception as error:  # noqa: BLE001 - any refusal is this VM's result, not the run's end
        return Result(vm, Outcome.FAILED, azure_message(error), clock() - started)
    finally:
        bucket.answered()
    return Result(vm, Outcome.COMPLETED, seconds=clock() - started)


async def _perform(azure, vm: Vm) -> None:
    compute = azure.compute(vm.subscription_id.lower())
    scale_set = scale_set_of(vm)
    if scale_set:
        poller = await compute.virtual_machine_scale_set_vms.begin_perform_maintenance(
            vm.resource_group, *scale_set)
    else:
        poller = await compute.virtual_machines.begin_perform_maintenance(vm.resource_group, vm.name)
    await poller.result()


def azure_message(error: Exception) -> str:
    """"Code: message" from Azure's error body, else the first line of the error."""
    detail = getattr(error, "error", None)
    code, message = getattr(detail, "code", None), getattr(detail, "message", None)
    if message:
        return f"{code}: {message}" if code else message
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
