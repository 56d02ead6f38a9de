"""The agent's loop: ask the Instance Metadata Service about once a second, report to the relay each event for
this VM that is new or whose status or NotBefore changed, and drain and approve when asked to.

What the relay kept (2xx) is not sent again while the event keeps that status and NotBefore; what it could not
take is sent again after 1, 2, 5, 10, 30, then every 60 seconds; what it refused for good (400, 413) is logged
and dropped. The document's incarnation tells when the events changed; an event that has disappeared is over
and is forgotten, with any report of it still unsent. Memory only: after a restart the agent reports the events
again, and the relay, which deduplicates by EventId, status and NotBefore, sends nothing twice.
"""
from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from datetime import datetime, timezone

from relay.agent.imds import FIRST_CALL_SECONDS, Imds, ImdsError
from relay.agent.intake import Intake
from relay.agent.wire import report

log = logging.getLogger("relay.agent")

BACKOFF_SECONDS = (1, 2, 5, 10, 30, 60)
DRAIN_TIMEOUT = 600.0  # seconds; Azure gives a reboot 15 minutes' notice, a redeploy 10


class _Pending:
    def __init__(self, body: dict, state: tuple, due: float):
        self.body, self.state, self.due, self.tries = body, state, due, 0


class Watch:
    def __init__(self, imds: Imds, intake: Intake, vm_name: str | None = None, drain: str | None = None,
                 drain_timeout: float = DRAIN_TIMEOUT, clock=time.monotonic):
        self.imds, self.intake, self.vm_name, self.drain, self.clock = imds, intake, vm_name, drain, clock
        self.drain_timeout = drain_timeout
        self.vm: dict | None = None  # name, resourceId, location
        self.answered = False  # the service has answered once (so it is turned on)
        self.incarnation: int | None = None  # DocumentIncarnation of the last document read
        self.reported: dict[str, tuple] = {}  # EventId → (status, NotBefore) the relay kept
        self.pending: dict[str, _Pending] = {}  # EventId → the report still to send
        self.drained: set[str] = set()  # EventIds whose drain command was started
        self.drains: list[threading.Thread] = []
        self.failures = 0  # IMDS calls failed in a row
        self.failure: str | None = None  # what the last of them was

    def run(self, stop: threading.Event, interval: float = 1.0) -> None:
        while not stop.is_set():
            started = self.clock()
            try:
                self.step()
            except Exception:  # the agent must outlive any surprise; the next round starts afresh
                log.exception("unexpected error; carrying on")
            stop.wait(max(0.0, interval - (self.clock() - started)))

    def once(self) -> int:
        """One round, waiting for any drain it started: 0 when everything to report was kept, else 1."""
        self.step()
        for thread in self.drains:
            thread.join()
        return 0 if self.vm is not None and self.failures == 0 and not self.pending else 1

    def step(self) -> None:
        """Read the events (when the VM is known), queue what is new, send what is due."""
        vm = self.vm if self.vm is not None else self._identify()
        if vm is None:
            return
        try:
            incarnation, events = self.imds.scheduled_events(timeout=None if self.answered else FIRST_CALL_SECONDS)
        except ImdsError as e:
            self._trouble(str(e))
        else:
            if self.failures:
                log.info("the Instance Metadata Service answers again (after %d failed call(s))", self.failures)
                self.failures, self.failure = 0, None
            if not self.answered or incarnation is None or incarnation != self.incarnation:
                self._read(vm, events)
            self.answered, self.incarnation = True, incarnation
        self._send_due()

    def _identify(self) -> dict | None:
        try:
            vm = self.imds.instance()
        except ImdsError as e:
            if not self.vm_name:
                self._trouble(f"cannot learn this VM's name: {e}")
                return None
            log.warning("instance metadata unavailable (%s); reporting as %s without its resource id", e, self.vm_name)
            vm = {}
        if self.vm_name:
            vm["name"] = self.vm_name
        self.vm = vm
        log.info("watching the Scheduled Events of %s", vm["name"])
        return vm

    def _trouble(self, what: str) -> None:
        """Log a failure when it is not the one of the round before: a broken answer must not fill the log."""
        self.failures += 1
        if what != self.failure:
            log.warning("%s; trying again every round", what)
        else:
            log.debug("%s (%d in a row)", what, self.failures)
        self.failure = what

    def _read(self, vm: dict, events: list[dict]) -> None:
        mine = set()
        for event in events:
            event_id = event.get("EventId")
            if not isinstance(event_id, str) or not event_id or not self._names_me(vm, event):
                continue
            mine.add(event_id)
            state = (event.get("EventStatus"), event.get("NotBefore") or "")
            waiting = self.pending.get(event_id)
            if self.reported.get(event_id) == state or (waiting is not None and waiting.state == state):
                continue
            log.info("%s %s of %s: %s%s", event.get("EventType"), event_id, vm["name"], state[0],
                     f", not before {state[1]}" if state[1] else "")
            self.pending[event_id] = _Pending(report(vm, event, datetime.now(timezone.utc)), state, self.clock())
            if self.drain and state[0] == "Scheduled" and event_id not in self.drained:
                self._start_drain(self.drain, event_id, event)
        for event_id in set(self.reported) | set(self.pending) | self.drained:
            if event_id not in mine:
                if event_id in self.pending:
                    log.warning("%s is over before the relay could be told of it", event_id)
                elif event_id in self.reported:
                    log.info("%s is over", event_id)
                self.reported.pop(event_id, None)
                self.pending.pop(event_id, None)
                self.drained.discard(event_id)

    def _names_me(self, vm: dict, event: dict) -> bool:
        resources = event.get("Resources")
        name = vm["name"].casefold()
        return isinstance(resources, list) and any(isinstance(r, str) and r.casefold() == name for r in resources)

    def _send_due(self) -> None:
        now = self.clock()
        for event_id, pending in list(self.pending.items()):
            if pending.due > now:
                continue
            sent = self.intake.post(pending.body)
            if sent.kept or sent.refused:
                del self.pending[event_id]
                self.reported[event_id] = pending.state
                if sent.kept:
                    log.info("reported %s (%s) to %s", event_id, pending.state[0], self.intake.where)
                else:
                    log.error("the relay refused the report of %s for good: %s", event_id, sent.detail)
                continue
            wait = BACKOFF_SECONDS[min(pending.tries, len(BACKOFF_SECONDS) - 1)]
            pending.tries += 1
            pending.due = now + wait
            log.warning("could not report %s to %s (%s); trying again in %d s", event_id, self.intake.where,
                        sent.detail, wait)

    def _start_drain(self, command: str, event_id: str, event: dict) -> None:
        self.drained.add(event_id)
        thread = threading.Thread(target=self._drain_and_approve, args=(command, event_id, event), daemon=True,
                                  name=f"drain-{event_id[:8]}")
        self.drains.append(thread)
        thread.start()

    def _drain_and_approve(self, command: str, event_id: str, event: dict) -> None:
        """Run the drain command (it gets RELAY_EVENT_ID, RELAY_EVENT_TYPE and RELAY_EVENT_NOT_BEFORE); on exit
        status 0, approve the event so that Azure need not wait for NotBefore."""
        env = dict(os.environ, RELAY_EVENT_ID=event_id, RELAY_EVENT_TYPE=str(event.get("EventType") or ""),
                   RELAY_EVENT_NOT_BEFORE=str(event.get("NotBefore") or ""))
        log.info("draining for %s: %s", event_id, command)
        try:
            done = subprocess.run(command, shell=True, env=env, timeout=self.drain_timeout)
        except OSError as e:
            log.error("the drain command could not run (%s); %s is not approved", e, event_id)
            return
        except subprocess.TimeoutExpired:  # a drain that never ends must not hold the event's approval open
            log.error("the drain command ran over %g s and was stopped; %s is not approved", self.drain_timeout,
                      event_id)
            return
        if done.returncode != 0:
            log.error("the drain command failed (exit status %d); %s is not approved", done.returncode, event_id)
            return
        try:
            self.imds.approve(event_id)
        except ImdsError as e:
            log.error("drained, but could not approve %s: %s", event_id, e)
            return
        log.info("drained and approved %s (StartRequests): Azure may start it now", event_id)
