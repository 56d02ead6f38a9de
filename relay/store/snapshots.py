"""A NoticeSnapshot as the ledgers keep it: compact JSON, zlib-compressed.

    {"v": 1, "key": <notification key>, "event_time": <iso>|null, "read_at": <iso>,
     "vms": [[<id key>, <name>, <state>, <self-service start>, <end>, <scheduled start>, <end>], …]}

A time is whole seconds since the epoch (an ISO text when it has a fraction), or null when unknown. Ten
thousand VMs are about 2 MB of JSON and a few hundred KB compressed, which SQLite keeps as one BLOB and
Table Storage splits across binary properties (relay/store/tables.py). A state this version does not know
(written by a newer one) reads as "none" rather than failing the notice that compares with it.
"""
from __future__ import annotations

import json
import zlib
from datetime import UTC, datetime

from relay.model import MaintenanceState, NoticeSnapshot, VmSnapshot, Window

FORMAT = 1
_STATES = {s.value: s for s in MaintenanceState}


def encode(snapshot: NoticeSnapshot) -> bytes:
    record = {
        "v": FORMAT, "key": snapshot.notification_key, "event_time": _iso(snapshot.event_time),
        "read_at": _iso(snapshot.read_at), "vms": [_row(vm) for vm in snapshot.vms],
    }
    return zlib.compress(json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8"), 9)


def decode(data: bytes) -> NoticeSnapshot:
    record = json.loads(zlib.decompress(data).decode("utf-8"))
    if record.get("v") != FORMAT:
        raise ValueError(f"unknown snapshot format {record.get('v')!r}")
    read_at = _time(record["read_at"])
    if read_at is None:
        raise ValueError("a snapshot without its read time")
    return NoticeSnapshot(
        notification_key=record["key"], event_time=_time(record["event_time"]), read_at=read_at,
        vms=tuple(_vm(row) for row in record["vms"]),
    )


def _row(vm: VmSnapshot) -> list:
    return [vm.key, vm.name, vm.state.value, _stamp(vm.self_service.start), _stamp(vm.self_service.end),
            _stamp(vm.scheduled.start), _stamp(vm.scheduled.end)]


def _vm(row: list) -> VmSnapshot:
    key, name, state, ss_start, ss_end, start, end = row
    return VmSnapshot(key=key, name=name, state=_STATES.get(state, MaintenanceState.NONE),
                      self_service=Window(_time(ss_start), _time(ss_end)), scheduled=Window(_time(start), _time(end)))


def _stamp(when: datetime | None) -> int | str | None:
    """Whole seconds since the epoch: shorter than ISO text and as exact for Azure's times."""
    if when is None:
        return None
    return int(when.timestamp()) if when.microsecond == 0 else _iso(when)


def _iso(when: datetime | None) -> str | None:
    return when.astimezone(UTC).isoformat() if when else None


def _time(value: int | str | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, int):
        return datetime.fromtimestamp(value, UTC)
    return datetime.fromisoformat(value)
