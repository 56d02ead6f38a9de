"""Waiting in tests for something a server or worker does in the background."""
import time


def wait_for(predicate, seconds: float = 20.0) -> bool:
    """True as soon as `predicate()` is, False when `seconds` pass first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False
