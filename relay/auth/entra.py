"""Checks the Entra ID access token an Action Group's secure webhook sends (`Authorization: Bearer …`).

Microsoft documents that the Action Group calls as its first-party app "AzNS AAD Webhook"
(ACTION_GROUPS_APP_ID), which you give an app role (ActionGroupsSecureWebhook) on your app registration,
and that your API should accept v2.0 access tokens. What such a token holds follows Microsoft's
access-token claims reference: a v2.0 token names the calling app in `azp`, has `iss`
https://login.microsoftonline.com/{tid}/v2.0 and `aud` the client ID; a v1.0 token names it in `appid`,
has `iss` https://sts.windows.net/{tid}/ and `aud` the client ID or the Application ID URI. Both versions
are accepted, for the configured tenant only: the version is the app registration's
`requestedAccessTokenVersion`, which defaults to v1.0, and refusing v1.0 tokens would drop every alert
of a registration left at the default. Both issuers are read from the authority's OpenID discovery
documents (v2.0 and v1.0), so other clouds need no list of host names here.

Verdicts: 401 when the token is missing, malformed, not RS256, badly signed, expired or not yet valid
(60 s leeway), from another issuer or for another audience; 403 when it is valid but names another
tenant, is not the Action Groups app's, or lacks the app role; 503 when the discovery documents or the
signing keys cannot be fetched, or a token names a key we lack while a refresh is held back. Action
Groups retry a 503, so a key Entra has just started to use costs a retry, not an alert.
"""
from __future__ import annotations

import json
import math
import ssl
import threading
import time
import urllib.request
from dataclasses import dataclass
from http.client import HTTPException

import jwt
from jwt import PyJWK, PyJWKClient

from relay.auth.settings import ACTION_GROUPS_APP_ID, EntraSettings

ALGORITHMS = ["RS256"]
LEEWAY = 60  # seconds of clock skew
FETCH_TIMEOUT = 5  # seconds; an Action Group waits about 10 for the whole call
KEYS_LIFESPAN = 300  # seconds the signing keys are kept before they are fetched again
REFRESH_INTERVAL = 15  # seconds at least between fetches forced by tokens naming an unknown key


@dataclass(frozen=True)
class Verdict:
    status: int  # 200 accepted, 401, 403 or 503
    reason: str  # what was wrong, never what the token held
    error: str = ""  # the RFC 6750 error code for WWW-Authenticate

    @property
    def ok(self) -> bool:
        return self.status == 200


ACCEPTED = Verdict(200, "accepted")
NO_TOKEN = Verdict(401, "no bearer token")


def _invalid(reason: str) -> Verdict:
    return Verdict(401, reason, "invalid_token")


def _forbidden(reason: str) -> Verdict:
    return Verdict(403, reason, "insufficient_scope")


_INVALID = (  # PyJWT's refusal → what we say; checked in order, the first match wins
    (jwt.ExpiredSignatureError, "the token has expired"),
    (jwt.ImmatureSignatureError, "the token is not valid yet"),
    (jwt.InvalidAudienceError, "the token is for another audience"),
    (jwt.InvalidIssuerError, "the token is from another issuer"),
    (jwt.InvalidSignatureError, "the token's signature does not verify"),
    (jwt.InvalidAlgorithmError, "the token is not signed with RS256"),
    (jwt.MissingRequiredClaimError, "the token lacks a required claim"),
)


class _Unavailable(Exception):
    """The issuer's metadata or signing keys cannot be had now; the caller should try again."""


class EntraCheck:
    def __init__(self, settings: EntraSettings, *, ssl_context: ssl.SSLContext | None = None,
                 refresh_interval: float = REFRESH_INTERVAL):
        self.settings = settings
        self._tls = ssl_context or ssl.create_default_context()  # honours SSL_CERT_FILE
        self._refresh_interval = refresh_interval
        self._lock = threading.Lock()
        self._issuers: tuple[str, str] | None = None
        self._keys: PyJWKClient | None = None
        self._refreshed_at = -math.inf

    def check(self, authorization: str | None) -> Verdict:
        token = _bearer(authorization)
        if token is None:
            return NO_TOKEN
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            return _invalid("the token is not a JWT")
        if header.get("alg") not in ALGORITHMS:
            return _invalid("the token is not signed with RS256")
        if not isinstance(header.get("kid"), str):
            return _invalid("the token names no signing key")
        try:
            key = self._key(header["kid"])
        except _Unavailable as e:
            return Verdict(503, str(e))
        if key is None:
            return _invalid("the token's signing key is not one the tenant publishes")
        try:
            claims = jwt.decode(token, key, algorithms=ALGORITHMS, audience=list(self.settings.audiences),
                                issuer=self._issuers, leeway=LEEWAY, options={"require": ["exp", "iss", "aud"]})
        except jwt.InvalidTokenError as e:
            return _invalid(next((reason for kind, reason in _INVALID if isinstance(e, kind)), "the token is invalid"))
        return self._authorize(claims)

    def _authorize(self, claims: dict) -> Verdict:
        if claims.get("tid") != self.settings.tenant_id:
            return _forbidden("the token is from another tenant")
        callers = [claims[name] for name in ("azp", "appid") if name in claims]  # v2.0, v1.0
        if not callers or any(caller != ACTION_GROUPS_APP_ID for caller in callers):
            return _forbidden("the calling app is not Azure Monitor's Action Groups")
        roles = claims.get("roles")
        if not isinstance(roles, list) or self.settings.role not in roles:
            return _forbidden(f"the token lacks the app role {self.settings.role}")
        return ACCEPTED

    def _key(self, kid: str) -> PyJWK | None:
        """The tenant's signing key `kid`, fetching the keys again (at most every refresh interval) when
        a token names one we lack: that is how a rotated key arrives."""
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
                raise _Unavailable("the tenant's signing keys could not be fetched") from None
            except (jwt.PyJWKClientError, jwt.PyJWKSetError):
                raise _Unavailable("the tenant's signing keys could not be read") from None
        return found

    def _signing_keys(self) -> PyJWKClient:
        """The JWKS client of the tenant, from the v2.0 discovery document; the accepted issuers, from
        both discovery documents. Fetched once, on the first token."""
        if self._keys is None:
            base = f"{self.settings.authority}/{self.settings.tenant_id}"
            v2 = self._fetch_json(f"{base}/v2.0/.well-known/openid-configuration")
            v1 = self._fetch_json(f"{base}/.well-known/openid-configuration")
            jwks_uri, v2_issuer, v1_issuer = v2.get("jwks_uri"), v2.get("issuer"), v1.get("issuer")
            if not (isinstance(jwks_uri, str) and jwks_uri.startswith("https://")) \
                    or not (isinstance(v2_issuer, str) and v2_issuer and isinstance(v1_issuer, str) and v1_issuer):
                raise _Unavailable("the tenant's OpenID configuration lacks an issuer or an https jwks_uri")
            self._issuers = (v2_issuer, v1_issuer)
            self._keys = PyJWKClient(jwks_uri, lifespan=KEYS_LIFESPAN, timeout=FETCH_TIMEOUT, ssl_context=self._tls)
        return self._keys

    def _fetch_json(self, url: str) -> dict:
        opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=self._tls))
        try:
            with opener.open(url, timeout=FETCH_TIMEOUT) as response:
                data = json.load(response)
        except (OSError, HTTPException, ValueError):  # URLError and timeouts are OSErrors
            raise _Unavailable("the tenant's OpenID configuration could not be fetched") from None
        if not isinstance(data, dict):
            raise _Unavailable("the tenant's OpenID configuration is not a JSON object")
        return data


def _bearer(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token and " " not in token else None
