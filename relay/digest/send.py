"""One digest run: the maintenance the ledger knows, enriched again now (VM states change after the
alert), and each receiver's digest sent once a day.

Once a day: the digest of a receiver and a day (in JST) is claimed and recorded in the ledger like any
delivery, under `digest/<receiver>/<date>`, so a retried timer or a second run sends nothing more. The
last digest's time is the watermark `digest/<receiver>`: what changed, completed or was canceled is
counted from it. It moves only when a digest went out, so news is never skipped.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from relay.calendar.feed import digest_entries
from relay.channels.teams_actions import bot_app_id
from relay.config.digest import DigestReceiver, DigestSettings
from relay.digest.alerts import WITHIN, alert_counts
from relay.digest.message import digest_message, summary_line
from relay.digest.view import digest_view, upcoming
from relay.enrich import enrich
from relay.model import Receiver
from relay.pipeline import Relay, send_keyed
from relay.render import times

log = logging.getLogger("relay.digest")

FIRST_SINCE = timedelta(days=1)  # a receiver's first digest counts changes from a day before it


class DigestIncomplete(RuntimeError):
    """Some receiver's digest could not be sent: the timer's invocation shows as failed."""


@dataclass(frozen=True)
class Outcome:
    receiver: str
    status: str  # sent, failed, nothing (nothing to report), sent before (today), busy (another run), dry run
    summary: str = ""
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.status == "failed"


def digest_key(receiver: str, now: datetime) -> str:
    return f"digest/{receiver}/{times.to_jst(now):%Y-%m-%d}"


def send_digests(relay: Relay, settings: DigestSettings, receivers: Mapping[str, Receiver],
                 now: datetime | None = None, dry_run: bool = False) -> list[Outcome]:
    """Every digest receiver's digest of `now` (default: the relay's clock). A dry run sends and records nothing."""
    now = now or relay.clock()
    last = {r.name: relay.ledger.watermark(f"digest/{r.name}") for r in settings.receivers}
    threads = relay.ledger.maintenance_threads(min(when or now - FIRST_SINCE for when in last.values()))
    enriched = {t[-1].event.thread_key: enrich(t[-1].event, relay.vms, now) for t in upcoming(threads, now, settings)}
    alerts = alert_counts(relay.ledger.alerts_since(now - WITHIN), relay.routes, now) if settings.alerts else None
    silences, holds = relay.ledger.silences(), relay.ledger.holds()  # each digest lists those active since its last
    bots = [r.name for r in receivers.values() if bot_app_id(r)]  # whose cards say who is on it
    on_it = {key: [ack for bot in bots for ack in relay.ledger.acknowledgements(key, bot)] for key in enriched}

    def one(chosen: DigestReceiver) -> Outcome:
        receiver, key = receivers[chosen.name], digest_key(chosen.name, now)
        if relay.ledger.delivered(key, chosen.name):
            return Outcome(chosen.name, "sent before")
        view = digest_view(threads, enriched, settings, now, last[chosen.name], now - FIRST_SINCE, receiver.tags,
                           alerts, silences, holds, on_it)
        if view.empty and not chosen.all_clear:
            return Outcome(chosen.name, "nothing", summary_line(view))
        try:
            message = digest_message(view, receiver, key, digest_entries(relay.ledger, threads, enriched, receiver,
                                                                         view.since))
        except Exception:  # a rendering bug must not keep the other receivers' digests back
            log.exception("cannot render the digest for %s", chosen.name)
            return Outcome(chosen.name, "failed", detail="rendering failed; see the log")
        if dry_run:
            return Outcome(chosen.name, "dry run", message.summary)
        result = send_keyed(message, relay)
        if result is None:
            return Outcome(chosen.name, "busy", message.summary, "being sent by another run")
        if not result.ok:
            log.warning("digest for %s not delivered: %s", chosen.name, result.detail)
            return Outcome(chosen.name, "failed", message.summary, result.detail)
        relay.ledger.advance_watermark(f"digest/{chosen.name}", now)
        log.info("digest delivered to %s: %s", chosen.name, message.summary)
        return Outcome(chosen.name, "sent", message.summary, result.detail)

    return [one(chosen) for chosen in settings.receivers]
