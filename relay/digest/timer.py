"""The Function App's digest: the `digest:` section of RELAY_CONFIG, sent through the relay's own receivers
and ledger."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

log = logging.getLogger("relay.digest")


class DigestIncomplete(RuntimeError):
    """Some receiver's digest could not be sent: the invocation shows as failed."""


def configured(environ: Mapping[str, str]) -> bool:
    """Whether RELAY_CONFIG has a digest section. Read as the app starts, so a config that cannot be read
    is logged and read as none: the intake must start all the same."""
    from ..app_settings import config_from_environment
    from ..config import ConfigError

    try:
        config = config_from_environment(environ)
    except ConfigError as error:
        log.error("no digest: %s", error)
        return False
    return config is not None and config.digest is not None


def run(environ: Mapping[str, str], now: datetime | None = None) -> list:
    """One timer run: RELAY_CONFIG, and RELAY_INVENTORY, RELAY_LEDGER, RELAY_OUTBOX, RELAY_TABLES_CONNECTION
    as for the other functions."""
    from ..app import from_environment
    from ..app_settings import config_from_environment
    from .send import send_digests

    config = config_from_environment(environ)
    if config is None or config.digest is None:
        return []
    relay = from_environment(dict(environ))
    if now is not None:
        relay.clock = lambda: now
    try:
        outcomes = send_digests(relay, config.digest, config.receivers())
    finally:
        relay.ledger.close()
    for outcome in outcomes:
        log.log(logging.WARNING if outcome.failed else logging.INFO, "digest %s: %s %s %s", outcome.receiver,
                outcome.status, outcome.summary, outcome.detail)
    if any(outcome.failed for outcome in outcomes):
        raise DigestIncomplete(", ".join(o.receiver for o in outcomes if o.failed))
    return outcomes
