"""The Function App's composition root: what its triggers need, built once a process from the app settings.

function_app.py makes one FunctionHost and hands it to each blueprint in handlers/; a trigger calls one
method and maps what it returns or raises. Nothing below this class builds collaborators of its own.

A cold start must answer its first webhook quickly, so the host reads only the config at start-up, to decide
which triggers to register; the ledger, the channels, the Azure SDKs and the templates load on first use
(the imports inside the properties below are deliberate). A config that cannot be read is logged and read
as none by the registration questions: the intake must start all the same, and its first alert then fails
with the config's error.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING

from relay.config import Config, ConfigError
from relay.hosts.intake import ALERTS, Keep, Reply, authenticate, ingest, keep_in_queue
from relay.hosts.settings import config_from_environment
from relay.inbox.storage import StorageQueueInbox, queue_configured, queue_inbox

if TYPE_CHECKING:
    from relay.auth.botframework import BotFrameworkCheck
    from relay.auth.entra import EntraCheck
    from relay.backfill import Report
    from relay.calendar.feed import CalendarFeed
    from relay.digest.send import Outcome as DigestOutcome
    from relay.hold.release import FollowUp
    from relay.hosts.calendar import CalendarReply
    from relay.hosts.messages import Messages, UpdateCard
    from relay.pipeline import Outcome, Relay

log = logging.getLogger("relay.function")


class FunctionHost:
    def __init__(self, environ: Mapping[str, str]):
        self.environ = dict(environ)

    # -- what to register, read at start-up

    @cached_property
    def _startup_config(self) -> Config | None:
        try:
            return self.config
        except ConfigError as error:
            log.error("the config cannot be read; only the intake starts: %s", error)
            return None

    @property
    def has_queue(self) -> bool:
        """Alerts go through the Storage Queue (the queue trigger relays them); else they are relayed inline."""
        return queue_configured(self.environ)

    @property
    def backfill_subscriptions(self) -> tuple[str, ...]:
        """The subscriptions whose Activity Log the backfill reads (azure.subscriptions); none: no backfill."""
        config = self._startup_config
        return config.azure.subscriptions if config and config.azure else ()

    @property
    def has_digest(self) -> bool:
        config = self._startup_config
        return config is not None and config.digest is not None

    @property
    def has_bot(self) -> bool:
        """Some receiver is a Teams bot (its options carry the bot's app id): POST /api/messages is registered."""
        from relay.channels.teams_actions import bot_app_id

        config = self._startup_config
        return config is not None and any(bot_app_id(r) for r in config.receivers().values())

    # -- collaborators, each built on first use

    @cached_property
    def config(self) -> Config | None:
        """RELAY_CONFIG, read once; None when unset (the embedded defaults)."""
        return config_from_environment(self.environ)

    @cached_property
    def relay(self) -> Relay:
        from relay.hosts.wiring import function_relay

        return function_relay(self.config, self.environ)

    @cached_property
    def inbox(self) -> StorageQueueInbox | None:
        return queue_inbox(self.environ)

    @cached_property
    def calendar_feed(self) -> CalendarFeed:
        from relay.calendar.feed import CalendarFeed
        from relay.config import default_config

        return CalendarFeed(self.relay.ledger, (self.config or default_config()).receivers(), self.relay.clock)

    @cached_property
    def entra(self) -> EntraCheck | None:
        from relay.auth import entra_check

        return entra_check(self.environ)

    @cached_property
    def bot_check(self) -> BotFrameworkCheck | None:
        """The Bot Framework token check of the bot receivers; raises SettingsError when its settings are wrong."""
        from relay.auth.botframework import bot_framework_check
        from relay.config import default_config

        return bot_framework_check((self.config or default_config()).receivers().values(), self.environ)

    @cached_property
    def card_updater(self) -> UpdateCard | None:
        """Called after someone new is on a thread, with (thread key, receiver): the Teams bot channel's update of
        that thread's first card, so that everyone sees who is on it (relay.hosts.messages.card_refresher, on this
        host's relay, built on first use)."""
        from relay.hosts.messages import card_refresher

        return card_refresher(lambda: self.relay)

    @cached_property
    def bot(self) -> Messages:
        from relay.config import default_config
        from relay.hosts.messages import bot_messages, starting_for

        config = self.config or default_config()
        return bot_messages(config.receivers(), lambda: self.bot_check, lambda: self.relay.ledger,
                            lambda: self.relay.clock(), self.card_updater,
                            starting_for(config, lambda: self.relay, self.environ))

    @cached_property
    def keep(self) -> Keep:
        """Where accepted alerts go: the Storage Queue when there is one, else relayed at once."""
        if self.inbox is None:
            return self._inline()
        return keep_in_queue(self.inbox, self._inline)

    def _inline(self) -> Keep:
        from relay.hosts.inline import process_inline

        return process_inline(self.relay)

    # -- the triggers

    def receive(self, body: bytes, authorization: str | None, endpoint: str = ALERTS) -> Reply:
        """One webhook call: the Entra ID check (before the body is read), then the intake."""
        return (authenticate(lambda: self.entra, authorization, endpoint)
                or ingest(body, lambda raw, event: self.keep(raw, event), endpoint))

    def messages(self, body: bytes, authorization: str | None) -> Reply:
        """One activity from the Bot Framework: its token checked before the body is parsed, then handled."""
        return self.bot(authorization, body)

    def calendar(self, receiver: str | None, if_none_match: str | None) -> CalendarReply:
        """A receiver's calendar, from the ledger alone."""
        from relay.hosts.calendar import calendar_reply

        return calendar_reply(self.calendar_feed, receiver, if_none_match)

    def process(self, body: bytes, dequeue_count: int, message_id: str) -> Outcome | None:
        """One queue message; raises NotRelayed to leave it to the host (tried again, or parked)."""
        from relay.hosts.queue import handle_message

        assert self.inbox is not None, "the queue trigger is registered only with a queue"
        return handle_message(body, dequeue_count, self.relay, message_id, park=self.inbox.park)

    def announce_parked(self) -> list[str]:
        """Tell the operations receivers about what the host parked with nobody told; the ids told."""
        from relay.hosts.parked import announce_parked

        return announce_parked(self.inbox, self.relay) if self.inbox is not None else []

    def backfill(self, now: datetime | None = None, **options) -> Report:
        """One run: the Service Health alerts the Action Group did not deliver, onto the queue (or relayed).
        Raises BackfillIncomplete, after keeping all it could, when a subscription failed."""
        from relay.backfill import BackfillIncomplete, find_missed
        from relay.config import AzureSettings

        settings = (self.config.azure if self.config else None) or AzureSettings()
        report = find_missed(settings, settings.subscriptions, self.relay.ledger, self.keep,
                             now or self.relay.clock(), **options)
        for found in report.subscriptions:
            log.log(logging.WARNING if found.error else logging.INFO, "backfill: %s", found.summary())
        log.info("backfill: %s", report.totals())
        if report.errors:
            raise BackfillIncomplete(report)
        return report

    def digest(self, now: datetime | None = None) -> list[DigestOutcome]:
        """Today's digest to each digest receiver, once a day. Raises DigestIncomplete, after the others went
        out, when one could not be sent."""
        from relay.digest.send import DigestIncomplete, send_digests

        if self.config is None or self.config.digest is None:
            return []
        outcomes = send_digests(self.relay, self.config.digest, self.config.receivers(), now=now)
        for outcome in outcomes:
            log.log(logging.WARNING if outcome.failed else logging.INFO, "digest %s: %s %s %s", outcome.receiver,
                    outcome.status, outcome.summary, outcome.detail)
        if any(outcome.failed for outcome in outcomes):
            raise DigestIncomplete(", ".join(o.receiver for o in outcomes if o.failed))
        return outcomes

    def remind(self, now: datetime | None = None) -> list[FollowUp]:
        """Held messages whose hold ended, then the reminders due now (relay.remind). Raises RemindIncomplete,
        after the others went out, when one could not be sent; the next pass tries it again."""
        from relay.config import default_config
        from relay.remind.send import RemindIncomplete, remind

        config = self.config or default_config()
        done = remind(self.relay, config.reminders, config.receivers(), now=now)
        for item in done:
            log.log(logging.WARNING if item.failed else logging.INFO, "remind %s: %s %s %s %s", item.receiver,
                    item.what, item.thread, item.status, item.detail)
        if any(item.failed for item in done):
            raise RemindIncomplete(", ".join(sorted({f"{i.receiver} ({i.what})" for i in done if i.failed})))
        return done
