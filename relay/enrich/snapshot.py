"""What a notice tells a receiver of its VMs, kept so that the next notice of the thread can say what changed.

Only what the messages compare is kept (state, the self-service and the scheduled window), keyed by the VM's
id as ids are compared: a thread can list ten thousand VMs, and the ledger keeps one snapshot per notice and
receiver.
"""
from __future__ import annotations

from relay.enrich.arm_ids import id_key
from relay.model import AffectedVm, NoticeSnapshot, Notification, VmSnapshot, Window


def vm_snapshot(affected: AffectedVm) -> VmSnapshot:
    redeploy = affected.vm.redeploy
    return VmSnapshot(
        key=id_key(affected.vm.id),
        name=affected.vm.name,
        state=affected.state,
        self_service=redeploy.self_service if redeploy else Window(),
        scheduled=redeploy.scheduled if redeploy else Window(),
    )


def notice_snapshot(notification: Notification) -> NoticeSnapshot:
    """The VMs of this notification (one receiver's share) as the message about it described them."""
    enriched = notification.enriched
    return NoticeSnapshot(
        notification_key=enriched.event.dedup_key,
        event_time=enriched.event.event_time,
        read_at=enriched.now,
        vms=tuple(vm_snapshot(a) for a in enriched.vms),
    )
