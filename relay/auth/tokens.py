"""What the relay's two token checks share (entra.py: an Action Group's Entra ID token; botframework.py: the Bot
Framework's): the bearer token and its header, the issuer's OpenID metadata, and its signing keys, fetched again
when a token names a key we lack (that is how a rotated key arrives), at most every REFRESH_INTERVAL.

Each check says whose keys they are (`who`), for what it answers when they cannot be had: Unavailable, a 503 to
the caller, who retries."""
from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.client import HTTPException
from ssl import SSLContext

import jwt
from jwt import PyJWK, PyJWKClient

ALGORITHMS = ["RS256"]
FETCH_TIMEOUT = 5  # seconds; an Action Group waits about 10 for the whole call, Teams a few
REFRESH_INTERVAL = 15  # seconds at least between fetches forced by tokens naming an unknown key


class Unavailable(Exception):
    """The issuer's metadata or signing keys cannot be had now; the caller should try again."""


@dataclass(frozen=True)
class Refusal:
    """Why a token is refused: its HTTP status, the reason, and the RFC 6750 error code (WWW-Authenticate)."""

    status: int
    reason: str
    error: str = ""


def verified(authorization: str | None, keys: SigningKeys, decode: Callable[[str, PyJWK], dict], publisher: str,
             reasons: Sequence[tuple[type[Exception], str]]) -> tuple[dict, str] | Refusal:
    """The claims of the bearer token in `authorization` and the id of the key that signed it, `decode` checking
    its claims (PyJWT); or why it is refused: `reasons` words PyJWT's refusals, the first that matches."""
    token = bearer(authorization)
    if token is None:
        return Refusal(401, "no bearer token")
    kid, refused = signing_kid(token)
    if kid is None:
        return Refusal(401, refused, "invalid_token")
    try:
        key = keys.key(kid)
    except Unavailable as e:
        return Refusal(503, str(e))
    if key is None:
        return Refusal(401, f"the token's signing key is not one {publisher} publishes", "invalid_token")
    try:
        return decode(token, key), kid
    except jwt.InvalidTokenError as e:
        return Refusal(401, next((reason for kind, reason in reasons if isinstance(e, kind)), "the token is invalid"),
                       "invalid_token")


def reasons(audience: str, issuer: str) -> tuple[tuple[type[Exception], str], ...]:
    """PyJWT's refusals → what we say, the token's audience and issuer worded by the check; the first match wins."""
    return (
        (jwt.ExpiredSignatureError, "the token has expired"),
        (jwt.ImmatureSignatureError, "the token is not valid yet"),
        (jwt.InvalidAudienceError, audience),
        (jwt.InvalidIssuerError, issuer),
        (jwt.InvalidSignatureError, "the token's signature does not verify"),
        (jwt.InvalidAlgorithmError, "the token is not signed with RS256"),
        (jwt.MissingRequiredClaimError, "the token lacks a required claim"),
    )


def bearer(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token and " " not in token else None


def signing_kid(token: str) -> tuple[str | None, str]:
    """The key id the token's header names, or (None, why the token is refused before its key is looked up)."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        return None, "the token is not a JWT"
    if header.get("alg") not in ALGORITHMS:
        return None, "the token is not signed with RS256"
    if not isinstance(header.get("kid"), str):
        return None, "the token names no signing key"
    return header["kid"], ""


def fetch_json(url: str, tls: SSLContext, what: str) -> dict:
    """A JSON object over https (`what` names it in the refusal)."""
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=tls))
    try:
        with opener.open(url, timeout=FETCH_TIMEOUT) as response:
            data = json.load(response)
    except (OSError, HTTPException, ValueError):  # URLError and timeouts are OSErrors
        raise Unavailable(f"{what} could not be fetched") from None
    if not isinstance(data, dict):
        raise Unavailable(f"{what} is not a JSON object")
    return data


class SigningKeys:
    """An issuer's signing keys: the client `load` makes on first use (from the issuer's metadata), then
    `key(kid)`, fetched again when a token names a key we lack, at most every `refresh_interval`."""

    def __init__(self, load: Callable[[], PyJWKClient], who: str, refresh_interval: float = REFRESH_INTERVAL):
        self._load, self._who, self._refresh_interval = load, who, refresh_interval
        self._client: PyJWKClient | None = None
        self._refreshed_at = -float("inf")
        self._lock = threading.Lock()

    @property
    def client(self) -> PyJWKClient:
        """The keys client, made on first use (Unavailable when the metadata cannot be had)."""
        if self._client is None:
            self._client = self._load()
        return self._client

    def key(self, kid: str) -> PyJWK | None:
        """The signing key `kid`, or None when the issuer does not publish it. Raises Unavailable."""
        with self._lock:
            keys = self.client
            try:
                found = keys.match_kid(keys.get_signing_keys(), kid)
                if found is None:
                    if time.monotonic() - self._refreshed_at < self._refresh_interval:
                        raise Unavailable("the token names a signing key not fetched yet; try again shortly")
                    self._refreshed_at = time.monotonic()
                    found = keys.match_kid(keys.get_signing_keys(refresh=True), kid)
            except jwt.PyJWKClientConnectionError:
                raise Unavailable(f"{self._who} signing keys could not be fetched") from None
            except (jwt.PyJWKClientError, jwt.PyJWKSetError):
                raise Unavailable(f"{self._who} signing keys could not be read") from None
            return found
