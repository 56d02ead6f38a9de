"""Who holds a lease, and whether that holder is a process of this machine that has died.

A holder is `host:pid[:anything]`. After a crash, `relay serve` releases what its dead predecessor held
at once, instead of waiting out the lease; a holder on another host is left to its lease.
"""
from __future__ import annotations

import os
import socket
from pathlib import Path


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def died_here(holder: str | None) -> bool:
    """True only when the holder ran on this host and its process is gone."""
    host, _, rest = (holder or "").partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return _zombie(int(pid))


def _zombie(pid: int) -> bool:
    """A killed process stays a zombie until its parent reaps it; when that parent was killed too, the
    reaping falls to PID 1, which in a container may take a second or more."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False  # no /proc (not Linux), or gone just now: the lease decides
    return stat.rpartition(")")[2].split()[:1] == ["Z"]
