"""Checks the JWT the Bot Framework sends with each activity it posts to the Teams bot (POST /api/messages).

Microsoft's "Authentication with the Bot Connector API" (Connector to bot) asks for all of these:

1. the token is in `Authorization` with the Bearer scheme, and is a JWT;
2. it is signed (RS256) by a key of the keys document that the Bot Framework's OpenID metadata names
   (`jwks_uri`), https://login.botframework.com/v1/.well-known/openidconfiguration by default;
3. its issuer is https://api.botframework.com and its audience the bot's Microsoft App ID;
4. it is within its validity period, with the "industry-standard clock-skew" of 5 minutes;
5. the key that signed it endorses the activity's channel (each key lists `endorsements`; Teams is "msteams");
6. its `serviceurl` claim is the activity's `serviceUrl`.

1-5 are checked from the header alone (`check`), before the body is read; 6 and the channel's endorsement once
the activity is parsed (`check_activity`). There is no way to turn the check off.

Verdicts: 401 when the token is missing, malformed, not RS256, badly signed, expired or not yet valid, from
another issuer, for another audience, lacks exp/iss/aud, or names another serviceUrl; 403 when the key that
signed it does not endorse Teams (the documented answer); 503 when the metadata or the keys cannot be fetched,
or a token names a key we lack while a refresh is held back (the Bot Framework retries).

Settings (`bot_settings`): the app ids of the config's bot receivers (those whose options carry `app_id`, the
`via: bot` receivers; several may share one bot, and a token for any of their app ids is accepted), and the
OpenID metadata URL: RELAY_BOT_OPENID_URL when set (tests and other clouds), else the receivers'
`openid_metadata_url`, else the Bot Framework's own.
"""
from __future__ import annotations

import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

import jwt
from jwt import PyJWK, PyJWKClient

from relay.auth.entra import Verdict
from relay.auth.settings import SettingsError
from relay.auth.tokens import (
    ALGORITHMS,
    FETCH_TIMEOUT,
    REFRESH_INTERVAL,
    Refusal,
    SigningKeys,
    Unavailable,
    fetch_json,
    reasons,
    verified,
)
from relay.channels.teams_actions import bot_app_id
from relay.model import Receiver

BOTFRAMEWORK_METADATA = "https://login.botframework.com/v1/.well-known/openidconfiguration"
ISSUER = "https://api.botframework.com"
MSTEAMS = "msteams"  # Teams' channelId, and the endorsement of the keys that sign for it
OPENID_URL = "RELAY_BOT_OPENID_URL"  # environment: overrides the metadata URL
OPENID_OPTION = "openid_metadata_url"  # a bot receiver's option naming the metadata URL

LEEWAY = 300  # seconds: "Industry-standard clock-skew is 5 minutes"
KEYS_LIFESPAN = 24 * 3600  # seconds the keys are kept before they are fetched again ("may be cached for long
# periods of time"); a key we lack is fetched at once, at most every REFRESH_INTERVAL


@dataclass(frozen=True)
class BotSettings:
    app_ids: tuple[str, ...]  # the audiences accepted: each bot receiver's Microsoft App ID
    openid_url: str = BOTFRAMEWORK_METADATA


def bot_receivers(receivers: Iterable[Receiver]) -> list[Receiver]:
    """The receivers that are a Teams bot: those whose options carry the bot's app id."""
    return [r for r in receivers if bot_app_id(r)]


def bot_settings(receivers: Iterable[Receiver], environ: Mapping[str, str]) -> BotSettings | None:
    """The check's settings, or None when no receiver is a bot. Raises SettingsError for a metadata URL that is
    not https, or when the bot receivers name different ones."""
    bots = bot_receivers(receivers)
    if not bots:
        return None
    app_ids = tuple(dict.fromkeys(bot_app_id(r) for r in bots))
    named = sorted({r.options[OPENID_OPTION].strip() for r in bots if r.options.get(OPENID_OPTION, "").strip()})
    override = environ.get(OPENID_URL, "").strip()
    if not override and len(named) > 1:
        raise SettingsError(f"the bot receivers name different {OPENID_OPTION}s; the relay has one: set the same"
                            f" on each, or {OPENID_URL}")
    url = override or (named[0] if named else BOTFRAMEWORK_METADATA)
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or parts.fragment:
        where = OPENID_URL if override else OPENID_OPTION
        raise SettingsError(f"{where} must be an https URL such as {BOTFRAMEWORK_METADATA}")
    return BotSettings(app_ids, url)


@dataclass(frozen=True)
class BotVerdict(Verdict):
    """A verdict on the token; when accepted, what the activity is then checked against."""

    claims: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    endorsements: tuple[str, ...] = ()  # of the key that signed the token

    @property
    def app_id(self) -> str:
        """The bot the token is for (its audience)."""
        aud = self.claims.get("aud")
        return aud if isinstance(aud, str) else next((a for a in aud or () if isinstance(a, str)), "")


def _invalid(reason: str) -> BotVerdict:
    return BotVerdict(401, reason, "invalid_token")


def _forbidden(reason: str) -> BotVerdict:
    return BotVerdict(403, reason, "insufficient_scope")


_INVALID = reasons("the token is for another bot", "the token is not from the Bot Framework")


class _EndorsedKeys(PyJWKClient):
    """PyJWKClient (its cache, timeout and TLS context), also keeping each key's `endorsements` from the keys
    document it last fetched, which PyJWK does not keep."""

    def __init__(self, uri: str, **options: Any):
        super().__init__(uri, **options)
        self.endorsements: dict[str, tuple[str, ...]] = {}

    def fetch_data(self) -> Any:
        data = super().fetch_data()
        keys = data.get("keys") if isinstance(data, dict) else None
        self.endorsements = {
            key["kid"]: tuple(e for e in key.get("endorsements") or () if isinstance(e, str))
            for key in (keys if isinstance(keys, list) else ())
            if isinstance(key, dict) and isinstance(key.get("kid"), str) and isinstance(key.get("endorsements"), list)
        }
        return data


class BotFrameworkCheck:
    def __init__(self, settings: BotSettings, *, ssl_context: ssl.SSLContext | None = None,
                 refresh_interval: float = REFRESH_INTERVAL):
        self.settings = settings
        self._tls = ssl_context or ssl.create_default_context()  # honours SSL_CERT_FILE
        self._keys = SigningKeys(self._signing_keys, "the Bot Framework's", refresh_interval)

    def check(self, authorization: str | None) -> BotVerdict:
        """The token of the Authorization header: everything but what needs the activity."""
        got = verified(authorization, self._keys, self._decode, "the Bot Framework", _INVALID)
        if isinstance(got, Refusal):
            return BotVerdict(got.status, got.reason, got.error)
        claims, kid = got
        endorsements = cast(_EndorsedKeys, self._keys.client).endorsements.get(kid, ())
        if MSTEAMS not in endorsements:
            return _forbidden("the token's signing key does not endorse Teams (msteams)")
        return BotVerdict(200, "accepted", claims=claims, endorsements=endorsements)

    def _decode(self, token: str, key: PyJWK) -> dict:
        return jwt.decode(token, key, algorithms=ALGORITHMS, audience=list(self.settings.app_ids), issuer=ISSUER,
                          leeway=LEEWAY, options={"require": ["exp", "iss", "aud"]})

    @staticmethod
    def check_activity(verdict: BotVerdict, service_url: str | None, channel_id: str | None) -> BotVerdict:
        """What needs the activity: its serviceUrl is the token's `serviceurl`, and the key endorses its channel."""
        claimed = verdict.claims.get("serviceurl")
        if not isinstance(claimed, str) or not claimed:
            return _invalid("the token has no serviceurl claim")
        if not service_url or claimed.rstrip("/") != service_url.rstrip("/"):
            return _invalid("the token's serviceurl is not the activity's serviceUrl")
        if channel_id not in verdict.endorsements:
            return _forbidden("the token's signing key does not endorse the activity's channel")
        return verdict

    def _signing_keys(self) -> _EndorsedKeys:
        """The keys client, from the OpenID metadata's jwks_uri; fetched once, on the first token."""
        metadata = fetch_json(self.settings.openid_url, self._tls, "the Bot Framework's OpenID metadata")
        jwks_uri = metadata.get("jwks_uri")
        if not (isinstance(jwks_uri, str) and jwks_uri.startswith("https://")):
            raise Unavailable("the Bot Framework's OpenID metadata lacks an https jwks_uri")
        return _EndorsedKeys(jwks_uri, lifespan=KEYS_LIFESPAN, timeout=FETCH_TIMEOUT, ssl_context=self._tls)


def bot_framework_check(receivers: Iterable[Receiver], environ: Mapping[str, str]) -> BotFrameworkCheck | None:
    """The check of the bot receivers' tokens, or None when no receiver is a bot. Raises SettingsError
    (bot_settings)."""
    settings = bot_settings(receivers, environ)
    return BotFrameworkCheck(settings) if settings else None
