"""Advice follows the stage and each VM's own windows: In progress, Complete and Canceled each say their own
thing, and no message offers self-service once a VM's self-service window has closed."""
from __future__ import annotations

from datetime import timedelta

from relay.model import MaintenanceState
from relay.render import render
from relay.render.view import build_view
from tests import factories as f

SELF_SERVICE = {"start_now", "self_service_cost", "availability_set", "dynamic_public_ip"}


def after_the_self_service_windows(make):
    """The same stage, read once every self-service window has closed and Azure's scheduled window has begun."""
    later = f.SCHEDULED.start + timedelta(hours=1)
    vms = tuple(f.make_vm(f"vm-web-0{i}", MaintenanceState.SCHEDULED, now=later) for i in range(1, 4))
    n = make()
    return f.notification(n.event, vms, prior=n.prior, now=later)


def test_in_progress_says_azure_is_rebooting_and_offers_no_self_service_once_the_windows_closed():
    view = build_view(after_the_self_service_windows(f.in_progress))
    assert view.advice[0] == "in_progress"
    assert not SELF_SERVICE & set(view.advice) and not view.action_rows
    text = render(after_the_self_service_windows(f.in_progress), f.receiver("slack", "en")).body.decode()
    assert "Start now" not in text and "az vm perform-maintenance" not in text


def test_complete_names_what_is_not_updated_and_offers_no_self_service():
    done = build_view(f.complete())
    assert done.advice == ("complete", "deallocated")
    waiting = build_view(f.notification(f.complete().event, f.typical_vms(), prior=f.complete().prior))
    assert waiting.advice[:2] == ("complete", "not_updated") and not SELF_SERVICE & set(waiting.advice)
    assert not waiting.action_rows and not waiting.asks_action  # the VMs still Start now get no command


def test_canceled_says_what_is_no_longer_happening():
    view = build_view(f.canceled())
    assert view.advice == ("canceled",) and not view.action_rows
    text = render(f.canceled(), f.receiver("email", "en")).body.decode(errors="replace")
    assert "az vm perform-maintenance" not in text


def test_planned_offers_self_service_with_its_costs_while_a_window_is_open():
    view = build_view(f.planned())
    assert view.advice[:2] == ("start_now", "self_service_cost") and view.action_rows
