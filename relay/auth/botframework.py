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

import json
import math
import ssl
import threading
import time
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.client import HTTPException
from typing import Any
from urllib.parse import urlsplit

import jwt
from jwt import PyJWK, PyJWKClient

from relay.auth.entra import NO_TOKEN, Verdict
from relay.auth.settings import SettingsError
from relay.channels.teams_actions import APP_ID
from relay.model import Receiver

BOTFRAMEWORK_METADATA = "https://login.botframework.com/v1/.well-known/openidconfiguration"
ISSUER = "https://api.botframework.com"
MSTEAMS = "msteams"  # Teams' channelId, and the endorsement of the keys that sign for it
OPENID_URL = "RELAY_BOT_OPENID_URL"  # environment: overrides the metadata URL
OPENID_OPTION = "openid_metadata_url"  # a bot receiver's option naming the metadata URL

ALGORITHMS = ["RS256"]
LEEWAY = 300  # seconds: "Industry-standard clock-skew is 5 minutes"
FETCH_TIMEOUT = 5  # seconds
KEYS_LIFESPAN = 24 * 3600  # seconds the keys are kept before they are fetched again ("may be cached for long
# periods of time"); a key we lack is fetched at once, at most every REFRESH_INTERVAL
REFRESH_INTERVAL = 15


@dataclass(frozen=True)
class BotSettings:
    app_ids: tuple[str, ...]  # the audiences accepted: each bot receiver's Microsoft App ID
    openid_url: str = BOTFRAMEWORK_METADATA


def bot_receivers(receivers: Iterable[Receiver]) -> list[Receiver]:
    """The receivers that are a Teams bot: those whose options carry the bot's app id."""
    return [r for r in receivers if r.options.get(APP_ID, "").strip()]


def bot_settings(receivers: Iterable[Receiver], environ: Mapping[str, str]) -> BotSettings | None:
    """The check's settings, or None when no receiver is a bot. Raises SettingsError for a metadata URL that is
    not https, or when the bot receivers name different ones."""
    bots = bot_receivers(receivers)
    if not bots:
        return None
    app_ids = tuple(dict.fromkeys(r.options[APP_ID].strip() for r in bots))
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


MISSING = BotVerdict(NO_TOKEN.status, NO_TOKEN.reason)

_INVALID = (  # PyJWT's refusal → what we say; checked in order, the first match wins
    (jwt.ExpiredSignatureError, "the token has expired"),
    (jwt.ImmatureSignatureError, "the token is not valid yet"),
    (jwt.InvalidAudienceError, "the token is for another bot"),
    (jwt.InvalidIssuerError, "the token is not from the Bot Framework"),
    (jwt.InvalidSignatureError, "the token's signature does not verify"),
    (jwt.InvalidAlgorithmError, "the token is not signed with RS256"),
    (jwt.MissingRequiredClaimError, "the token lacks a required claim"),
)


class _Unavailable(Exception):
    """The metadata or the keys cannot be had now; the caller should try again."""


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
        self._refresh_interval = refresh_interval
        self._lock = threading.Lock()
        self._keys: _EndorsedKeys | None = None
        self._refreshed_at = -math.inf

    def check(self, authorization: str | None) -> BotVerdict:
        """The token of the Authorization header: everything but what needs the activity."""
        token = _bearer(authorization)
        if token is None:
            return MISSING
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            return _invalid("the token is not a JWT")
        if header.get("alg") not in ALGORITHMS:
            return _invalid("the token is not signed with RS256")
        if not isinstance(header.get("kid"), str):
            return _invalid("the token names no signing key")
        try:
            found = self._key(header["kid"])
        except _Unavailable as e:
            return BotVerdict(503, str(e))
        if found is None:
            return _invalid("the token's signing key is not one the Bot Framework publishes")
        key, endorsements = found
        try:
            claims = jwt.decode(token, key, algorithms=ALGORITHMS, audience=list(self.settings.app_ids),
                                issuer=ISSUER, leeway=LEEWAY, options={"require": ["exp", "iss", "aud"]})
        except jwt.InvalidTokenError as e:
            return _invalid(next((reason for kind, reason in _INVALID if isinstance(e, kind)), "the token is invalid"))
        if MSTEAMS not in endorsements:
            return _forbidden("the token's signing key does not endorse Teams (msteams)")
        return BotVerdict(200, "accepted", claims=claims, endorsements=endorsements)

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

    def _key(self, kid: str) -> tuple[PyJWK, tuple[str, ...]] | None:
        """The signing key `kid` and what it endorses, fetching the keys again (at most every refresh interval)
        when a token names one we lack: that is how a rotated key arrives."""
        with self._lock:
            keys = self._signing_keys()
            try:
                found = keys.match_kid(keys.get_signing_keys(), kid)
                if found is None:
                    if time.monotonic() - self._refreshed_at < self._refresh_interval:
                        raise _Unavailable("the token names a signing key not fetched yet; try again shortly")
                    self._refreshed_at = time.monotonic()
                    found = keys.match_kid(keys.get_signing_keys(refresh=True), kid)
            except jwt.PyJWKClientConnectionError:
                raise _Unavailable("the Bot Framework's signing keys could not be fetched") from None
            except (jwt.PyJWKClientError, jwt.PyJWKSetError):
                raise _Unavailable("the Bot Framework's signing keys could not be read") from None
            return (found, keys.endorsements.get(kid, ())) if found is not None else None

    def _signing_keys(self) -> _EndorsedKeys:
        """The keys client, from the OpenID metadata's jwks_uri; fetched once, on the first token."""
        if self._keys is None:
            metadata = self._fetch_json(self.settings.openid_url)
            jwks_uri = metadata.get("jwks_uri")
            if not (isinstance(jwks_uri, str) and jwks_uri.startswith("https://")):
                raise _Unavailable("the Bot Framework's OpenID metadata lacks an https jwks_uri")
            self._keys = _EndorsedKeys(jwks_uri, lifespan=KEYS_LIFESPAN, timeout=FETCH_TIMEOUT, ssl_context=self._tls)
        return self._keys

    def _fetch_json(self, url: str) -> dict:
        opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=self._tls))
        try:
            with opener.open(url, timeout=FETCH_TIMEOUT) as response:
                data = json.load(response)
        except (OSError, HTTPException, ValueError):  # URLError and timeouts are OSErrors
            raise _Unavailable("the Bot Framework's OpenID metadata could not be fetched") from None
        if not isinstance(data, dict):
            raise _Unavailable("the Bot Framework's OpenID metadata is not a JSON object")
        return data


def _bearer(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token and " " not in token else None
