"""Starting the maintenance of chosen VMs, with the relay's own Azure identity: what `relay maintain start` does,
and what a Teams card's Start maintenance does too (relay.maintain.from_teams).

    plan_named     the VMs named by id, with their status (find.py), and which of them to start in which waves (plan.py)
    start_planned  the started notice, performMaintenance wave by wave (execute.py), then the finished notice
                   (notice.py), each through the pipeline into the maintenance's thread; stopped by Ctrl-C, the
                   interrupted notice instead
    start_named    the two in a row, with the caller's say in between (`go`): a card's one VM

The work itself is asyncio (`planned`, `started`: one Azure session each). The functions above are its synchronous
entries, each running it with asyncio.run, for callers that are not asyncio themselves (the CLI, the bot's
dispatcher); do not call them from inside a running event loop. The `relay maintain start --tracking-id` search
is the CLI's own (relay.cli.vm_table); from its plan on, it is start_planned too.

Azure sign-in: DefaultAzureCredential (relay.enrich.azure.clients), which needs Virtual Machine Contributor (or
Microsoft.Compute/virtualMachines/performMaintenance/action) on the VMs' scope.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from relay.config import AzureSettings
from relay.maintain import find, notice
from relay.maintain.execute import Outcome, Result, execute
from relay.maintain.plan import Plan, Skipped, plan

if TYPE_CHECKING:
    from relay.model import Event
    from relay.pipeline import Relay

T = TypeVar("T")
Tell = Callable[["Event"], None]  # sends a notice through the pipeline
Progress = Callable[[str], None]  # a line about the operations under way (the CLI's progress line)

DEFAULT_TIMEOUT_SECONDS = 60 * 60.0  # one VM's operation; Azure's take about 10 to 30 minutes


@dataclass(frozen=True)
class Ran:
    """A run that was started: its started notice went out, and the finished one after these results."""

    run: notice.Run
    results: tuple[Result, ...]
    skipped: tuple[Skipped, ...]  # the plan's: not startable
    blocked: tuple[Skipped, ...]  # not started: a VM of one of their groups did not finish in time

    @property
    def completed(self) -> int:
        return sum(r.outcome is Outcome.COMPLETED for r in self.results)

    @property
    def all_completed(self) -> bool:
        """Every VM started completed, and none was held back."""
        return self.completed == len(self.results) and not self.blocked


def through(relay: Relay, undelivered: Callable[[str, str], None]) -> Tell:
    """A Tell that sends each notice through the pipeline to the relay's receivers, and calls
    `undelivered(receiver, detail)` for each receiver that did not get it."""
    from relay.pipeline import process_event

    def tell(event: Event) -> None:
        for delivery in process_event(event, relay).deliveries:
            if not delivery.result.ok:
                undelivered(delivery.receiver, delivery.result.detail)

    return tell


# --- synchronous entries ---------------------------------------------------------------------------------------

def plan_named(settings: AzureSettings, vm_ids: Sequence[str], now: datetime, max_parallel: int, *,
               connection_verify: str | None = None) -> Plan:
    """The plan for the VMs of these ids, as Azure tells their status now; the ones it does not tell about are
    skipped as unknown. `connection_verify`: a CA bundle to check Azure's certificates against instead of the
    system's (a TLS-inspecting proxy; tests)."""
    return asyncio.run(with_azure(settings, lambda azure: planned(azure, vm_ids, now, max_parallel),
                                  connection_verify=connection_verify))


def start_planned(settings: AzureSettings, chosen: Plan, *, by: str | None, tracking_id: str | None,
                  max_parallel: int, tell: Tell, now: datetime, timeout: float = DEFAULT_TIMEOUT_SECONDS,
                  progress: Progress = lambda line: None, done: Callable[[], None] = lambda: None,
                  connection_verify: str | None = None) -> Ran:
    """Tell, start, follow, tell. `by`: who starts it, in the notices (None: the signed-in identity when its token
    names it, else the OS user); `tracking_id`: the maintenance, whose thread the notices go to; `timeout`: seconds
    to follow one VM's operation; `now`: the time of the call (the notices' times count on from it); `done` is
    called when the operations are over or the run is stopped, before the last notice. Ctrl-C: the interrupted
    notice, if the started one went out, then KeyboardInterrupt again."""
    from relay.enrich.azure.throttle import Throttle

    began = time.monotonic()

    def at() -> datetime:
        return now + timedelta(seconds=time.monotonic() - began)

    told: list[notice.Run] = []
    budget = len(chosen.waves) * (timeout + 60)  # each wave's operations, and the calls that pace them
    try:
        run, results, blocked = asyncio.run(with_azure(
            settings, lambda azure: started(azure, settings, chosen, by=by, tracking_id=tracking_id,
                                            max_parallel=max_parallel, timeout=timeout, tell=tell, at=at,
                                            progress=progress, told=told),
            Throttle(budget), connection_verify))
    except KeyboardInterrupt:
        done()
        if told:  # the team heard it started: tell them nobody is watching it any more
            tell(notice.interrupted(told[0], at()))
        raise
    done()
    tell(notice.finished(run, results, [*chosen.skipped, *blocked], at()))
    return Ran(run, tuple(results), chosen.skipped, tuple(blocked))


def start_named(settings: AzureSettings, vm_ids: Sequence[str], *, go: Callable[[Plan], bool], by: str | None,
                tracking_id: str | None, max_parallel: int, tell: Tell, now: datetime,
                timeout: float = DEFAULT_TIMEOUT_SECONDS, progress: Progress = lambda line: None,
                connection_verify: str | None = None) -> tuple[Plan, Ran | None]:
    """plan_named, then `go(plan)` (always called, even when the plan starts nothing), then start_planned when it
    says yes and the plan starts something. The plan, and the run when one was started."""
    chosen = plan_named(settings, vm_ids, now, max_parallel, connection_verify=connection_verify)
    if not go(chosen) or not chosen.chosen:
        return chosen, None
    return chosen, start_planned(settings, chosen, by=by, tracking_id=tracking_id, max_parallel=max_parallel,
                                 tell=tell, now=now, timeout=timeout, progress=progress,
                                 connection_verify=connection_verify)


# --- the asyncio core ------------------------------------------------------------------------------------------

async def with_azure(settings: AzureSettings, work: Callable[[Any], Awaitable[T]], throttle=None,
                     connection_verify: str | None = None) -> T:
    """`work(azure)` with one Azure session (relay.enrich.azure.clients), signed in with DefaultAzureCredential."""
    from relay.enrich.azure.clients import Azure, default_credential
    from relay.enrich.azure.throttle import Throttle

    async with Azure(settings, default_credential(settings, connection_verify),
                     throttle or Throttle(settings.time_budget_seconds), connection_verify) as azure:
        return await work(azure)


async def planned(azure, vm_ids: Sequence[str], now: datetime, max_parallel: int) -> Plan:
    found, unknown = await find.named(azure, list(vm_ids), now)
    return plan(found, max_parallel, tuple(unknown))


async def started(azure, settings: AzureSettings, chosen: Plan, *, by: str | None, tracking_id: str | None,
                  max_parallel: int, timeout: float, tell: Tell, at: Callable[[], datetime], progress: Progress,
                  told: list[notice.Run]) -> tuple[notice.Run, list[Result], list[Skipped]]:
    """The started notice (the run is appended to `told` once it went out), then the operations to their end."""
    who = by or notice.operator(await _token(azure, settings))
    run = notice.Run(uuid.uuid4().hex[:12], who, tracking_id, tuple(a.vm for a in chosen.chosen), len(chosen.waves),
                     max_parallel)
    await asyncio.to_thread(tell, notice.started(run, at()))
    told.append(run)
    results, blocked = await execute(azure, chosen, timeout, progress)
    return run, results, blocked


async def _token(azure, settings: AzureSettings) -> str | None:
    try:
        return (await azure.credential.get_token(f"{settings.arm_url}/.default")).token
    except Exception:  # noqa: BLE001 - only to name the caller; the calls themselves will say what is wrong
        return None
