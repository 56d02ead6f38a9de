"""Who may call the intake. The Function key is checked by the Functions host (auth level FUNCTION) or by
`relay serve` itself; when RELAY_ENTRA_* is set, the call must also carry an Entra ID access token from
an Action Group's secure webhook.

settings.py reads the settings with the standard library only; entra.py, which needs PyJWT, loads only
when they are set, so an intake without Entra ID loads nothing more. botframework.py checks the Bot Framework's
token on the Teams bot's POST /api/messages; tokens.py holds what both checks share (the bearer token, the
issuer's metadata and signing keys).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from relay.auth.settings import SettingsError, entra_settings

if TYPE_CHECKING:
    from relay.auth.entra import EntraCheck

__all__ = ["SettingsError", "entra_check"]


def entra_check(environ: Mapping[str, str]) -> EntraCheck | None:
    """The token check the settings ask for, or None when they ask for none. Raises SettingsError when
    they are half set, naming the missing setting."""
    settings = entra_settings(environ)
    if settings is None:
        return None
    from relay.auth.entra import EntraCheck

    return EntraCheck(settings)
