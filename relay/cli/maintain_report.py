"""What `relay maintain start` prints: the plan before, the table after, for operators (English)."""
from __future__ import annotations

from relay.cli.vm_table import STATE_NAMES, jst_minute, text_table
from relay.maintain.execute import Outcome, Result
from relay.maintain.plan import Plan, Skip, Skipped, scale_set_of
from relay.model import Risk
from relay.render.markup import macros, plain

PLAN_COLUMNS = ("wave", "name", "resource group", "set", "zone", "self-service deadline (JST)", "also in its set")
RESULT_COLUMNS = ("name", "result", "detail")


def reason(skip: Skip) -> str:
    return plain(macros("text", "notices/maintain.j2").reason(skip.value, "en"))


def plan_text(plan: Plan) -> str:
    rows = []
    for number, wave in enumerate(plan.waves, 1):
        for a in wave:
            rows.append({
                "wave": str(number), "name": a.vm.name, "resource group": a.vm.resource_group,
                "set": _set(a.vm), "zone": ",".join(a.vm.zones) or "-",
                "self-service deadline (JST)": jst_minute(a.self_service_deadline),
                "also in its set": ", ".join(_neighbour(plan, n) for n in plan.neighbours(a.vm)) or "-",
            })
    lines = [text_table(PLAN_COLUMNS, rows)] if rows else []
    lines += [f"skip {s.vm.name}: {reason(s.reason)}" for s in plan.skipped]
    lines += [f"warning: {a.vm.name} has a dynamic public IP address: it changes when the VM is redeployed"
              for a in plan.chosen if Risk.DYNAMIC_PUBLIC_IP in a.risks]
    return "\n".join(lines) + "\n"


def summary(plan: Plan, max_parallel: int) -> str:
    chosen = len(plan.chosen)
    return (f"{chosen} VM(s) to start in {len(plan.waves)} wave(s) of at most {max_parallel},"
            f" {len(plan.skipped)} skipped")


def results_text(results: list[Result], skipped: list[Skipped], timeout: float) -> str:
    rows = [{"name": r.vm.name, "result": r.outcome.value.replace("_", " "), "detail": _detail(r, timeout)}
            for r in results]
    rows += [{"name": s.vm.name, "result": "skipped", "detail": reason(s.reason)} for s in skipped]
    return text_table(RESULT_COLUMNS, rows)


def _detail(result: Result, timeout: float) -> str:
    if result.outcome is Outcome.TIMED_OUT:
        return f"no end within {timeout:g} s: it may still be in maintenance"
    return result.message or f"{result.seconds:.0f} s"


def _set(vm) -> str:
    scale_set = scale_set_of(vm)
    name = f"scale set {scale_set[0]}" if scale_set else vm.availability_set
    if not name:
        return "-"
    return name if vm.update_domain is None else f"{name}, update domain {vm.update_domain}"


def _neighbour(plan: Plan, affected) -> str:
    wave = plan.wave_of(affected.vm)
    return f"{affected.vm.name} ({f'wave {wave}' if wave else STATE_NAMES.get(affected.state.value, affected.state.value)})"
