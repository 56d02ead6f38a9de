"""The Function App's backfill: the subscriptions of RELAY_CONFIG, the relay's own ledger, and the intake's
way of keeping alerts — the Storage Queue when one is configured (the queue trigger relays them), else
relayed at once."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from . import BackfillIncomplete, Report, find_missed

log = logging.getLogger("relay.backfill")


def subscriptions(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The subscriptions RELAY_CONFIG names under azure.subscriptions. Read as the app starts, so a config
    that cannot be read is logged and read as none: the intake must start all the same."""
    from ..app_settings import config_from_environment
    from ..config import ConfigError

    try:
        config = config_from_environment(environ)
    except ConfigError as error:
        log.error("no backfill: %s", error)
        return ()
    return config.azure.subscriptions if config and config.azure else ()


def run(environ: Mapping[str, str], now: datetime | None = None, **options) -> Report:
    """One timer run. Raises BackfillIncomplete, after queuing all it could, when a subscription failed."""
    from ..app import from_environment
    from ..app_settings import config_from_environment
    from ..config import AzureSettings
    from ..inbox.storage import queue_inbox
    from ..ingest import process_inline
    from ..queue_processing import keep_in_queue

    settings = config_from_environment(environ).azure or AzureSettings()
    relay = from_environment(dict(environ))
    inbox = queue_inbox(environ)
    keep = process_inline(relay) if inbox is None else keep_in_queue(inbox, lambda: relay)
    try:
        report = find_missed(settings, settings.subscriptions, relay.ledger, keep, now or relay.clock(), **options)
    finally:
        relay.ledger.close()
        if inbox is not None:
            inbox.close()
    for found in report.subscriptions:
        log.log(logging.WARNING if found.error else logging.INFO, "backfill: %s", found.summary())
    log.info("backfill: %s", report.totals())
    if report.errors:
        raise BackfillIncomplete(report)
    return report
