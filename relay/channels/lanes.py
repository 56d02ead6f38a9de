"""Lanes: each receiver's deliveries run on a lane of their own, as Alertmanager runs one pipeline per
integration, so a failing or slow destination delays only its own messages.

A lane is a queue and its thread (one by default), started on the first delivery to its receiver: one
thread sends a receiver's messages in the order they were submitted, so a Slack thread's first message
goes out before its replies. The threads are daemons, unlike a ThreadPoolExecutor's, which the interpreter
joins at exit: a lane in the middle of its retries must not hold a stopping process for minutes.
`shutdown` cancels what waits and gives what runs a bounded time to end.
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_Job = tuple[Future[Any], Callable[[], Any]]


class Lanes:
    def __init__(self, threads: int = 1):
        self._threads = threads
        self._queues: dict[str, queue.SimpleQueue[_Job | None]] = {}
        self._workers: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, lane: str, work: Callable[[], T]) -> Future[T]:
        """Run `work` on the lane, after what was submitted to it before; its future at once."""
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the lanes are shut down")
            jobs = self._queues.get(lane)
            if jobs is None:
                jobs = self._queues[lane] = queue.SimpleQueue()
                for n in range(self._threads):
                    worker = threading.Thread(target=_run, args=(jobs,), daemon=True, name=f"relay-lane-{lane}-{n}")
                    worker.start()
                    self._workers.append(worker)
            jobs.put((future, work))
        return future

    def shutdown(self, timeout: float = 10.0) -> None:
        """Take no more work, cancel what waits in the lanes, and wait up to `timeout` seconds for what runs."""
        with self._lock:
            self._closed = True
        for jobs in self._queues.values():
            while True:
                try:
                    job = jobs.get_nowait()
                except queue.Empty:
                    break
                if job is not None:
                    job[0].cancel()
            for _ in range(self._threads):
                jobs.put(None)
        deadline = time.monotonic() + timeout
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))


def _run(jobs: queue.SimpleQueue[_Job | None]) -> None:
    while (job := jobs.get()) is not None:
        future, work = job
        if not future.set_running_or_notify_cancel():
            continue
        try:
            result = work()
        except BaseException as error:
            future.set_exception(error)
        else:
            future.set_result(result)


def gather(futures: Sequence[Future[T]], combine: Callable[[list[T]], R]) -> Future[R]:
    """A future of `combine(results)` once all of `futures` are done; cancelled when one was cancelled, else
    the first exception in their order when one raised."""
    gathered: Future[R] = Future()
    left = len(futures)
    lock = threading.Lock()

    def settle() -> None:
        if any(f.cancelled() for f in futures):
            gathered.cancel()
            return
        try:
            gathered.set_result(combine([f.result() for f in futures]))
        except BaseException as error:
            gathered.set_exception(error)

    def one_done(_: Future[T]) -> None:
        nonlocal left
        with lock:
            left -= 1
            last = left == 0
        if last:
            settle()

    if not futures:
        settle()
    for future in futures:
        future.add_done_callback(one_done)
    return gathered
