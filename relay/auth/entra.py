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

import ssl
from dataclasses import dataclass

import jwt
from jwt import PyJWK, PyJWKClient

from relay.auth.settings import ACTION_GROUPS_APP_ID, EntraSettings
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

LEEWAY = 60  # seconds of clock skew
KEYS_LIFESPAN = 300  # seconds the signing keys are kept before they are fetched again


@dataclass(frozen=True)
class Verdict:
    status: int  # 200 accepted, 401, 403 or 503
    reason: str  # what was wrong, never what the token held
    error: str = ""  # the RFC 6750 error code for WWW-Authenticate

    @property
    def ok(self) -> bool:
        return self.status == 200


ACCEPTED = Verdict(200, "accepted")


def _forbidden(reason: str) -> Verdict:
    return Verdict(403, reason, "insufficient_scope")


_INVALID = reasons("the token is for another audience", "the token is from another issuer")


class EntraCheck:
    def __init__(self, settings: EntraSettings, *, ssl_context: ssl.SSLContext | None = None,
                 refresh_interval: float = REFRESH_INTERVAL):
        self.settings = settings
        self._tls = ssl_context or ssl.create_default_context()  # honours SSL_CERT_FILE
        self._issuers: tuple[str, str] | None = None
        self._keys = SigningKeys(self._signing_keys, "the tenant's", refresh_interval)

    def check(self, authorization: str | None) -> Verdict:
        got = verified(authorization, self._keys, self._decode, "the tenant", _INVALID)
        if isinstance(got, Refusal):
            return Verdict(got.status, got.reason, got.error)
        return self._authorize(got[0])

    def _decode(self, token: str, key: PyJWK) -> dict:
        return jwt.decode(token, key, algorithms=ALGORITHMS, audience=list(self.settings.audiences),
                          issuer=self._issuers, leeway=LEEWAY, options={"require": ["exp", "iss", "aud"]})

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

    def _signing_keys(self) -> PyJWKClient:
        """The JWKS client of the tenant, from the v2.0 discovery document; the accepted issuers, from
        both discovery documents. Fetched once, on the first token."""
        base = f"{self.settings.authority}/{self.settings.tenant_id}"
        what = "the tenant's OpenID configuration"
        v2 = fetch_json(f"{base}/v2.0/.well-known/openid-configuration", self._tls, what)
        v1 = fetch_json(f"{base}/.well-known/openid-configuration", self._tls, what)
        jwks_uri, v2_issuer, v1_issuer = v2.get("jwks_uri"), v2.get("issuer"), v1.get("issuer")
        if not (isinstance(jwks_uri, str) and jwks_uri.startswith("https://")) \
                or not (isinstance(v2_issuer, str) and v2_issuer and isinstance(v1_issuer, str) and v1_issuer):
            raise Unavailable("the tenant's OpenID configuration lacks an issuer or an https jwks_uri")
        self._issuers = (v2_issuer, v1_issuer)
        return PyJWKClient(jwks_uri, lifespan=KEYS_LIFESPAN, timeout=FETCH_TIMEOUT, ssl_context=self._tls)
