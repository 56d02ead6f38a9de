"""A loopback Entra ID issuer for the intake's token check: the tenant's two OpenID discovery documents
(v2.0 and v1.0), its JWKS, and tokens signed with its keys (RS256) carrying whatever claims a test asks for.

    with EntraIssuer(tls=ca) as issuer:
        issuer.authority                       # RELAY_ENTRA_AUTHORITY
        issuer.token()                         # a v2.0 token as an Action Group's secure webhook sends it
        issuer.token(version=1)                # the v1.0 form: appid, the Application ID URI, the sts issuer
        issuer.token(roles=None, exp=...)      # a claim changed; None leaves it out
        issuer.rotate()                        # publishes a new key and signs with it from now on
        issuer.fail_next(503)                  # the next request (discovery or JWKS) fails
        issuer.jwks_down = True                # the JWKS answers 503 until set back
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from relay.auth.settings import ACTION_GROUPS_APP_ID, DEFAULT_ROLE
from tests.sinks.server import LoopbackServer, Reply, Request, Sink, TestCA

TENANT = "0a1b2c3d-1111-2222-3333-444455556666"
CLIENT_ID = "7f3e9c2a-5b1d-4e8f-9a6c-2d4b8e1f0a3c"  # the relay's app registration
APP_ID_URI = f"api://{CLIENT_ID}"


@dataclass
class SigningKey:
    kid: str = field(default_factory=lambda: uuid.uuid4().hex)
    private: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(public_exponent=65537,
                                                                                        key_size=2048))

    def jwk(self) -> dict:
        return {**jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True),
                "kid": self.kid, "use": "sig"}


class EntraIssuer(Sink):
    def __init__(self, *, tls: TestCA, tenant: str = TENANT):
        self.tenant = tenant
        self.keys = [SigningKey()]  # published; the last one signs
        self.jwks_down = False
        self.server = LoopbackServer(self._route, tls)
        self.authority = self.server.url
        self.v2_issuer = f"{self.authority}/{tenant}/v2.0"
        self.v1_issuer = f"{self.authority}/sts/{tenant}/"  # Entra's is https://sts.windows.net/{tid}/

    @property
    def signing_key(self) -> SigningKey:
        return self.keys[-1]

    def rotate(self) -> SigningKey:
        self.keys.append(SigningKey())
        return self.signing_key

    def fail_next(self, *args, **kwargs) -> None:
        self.server.fail_next(*args, **kwargs)

    def claims(self, version: int = 2, **changes) -> dict:
        now = int(time.time())
        claims = {"iat": now, "nbf": now, "exp": now + 3600, "tid": self.tenant, "roles": [DEFAULT_ROLE],
                  "oid": str(uuid.uuid4()), "sub": str(uuid.uuid4()), "ver": f"{version}.0"}
        if version == 2:
            claims |= {"iss": self.v2_issuer, "aud": CLIENT_ID, "azp": ACTION_GROUPS_APP_ID, "azpacr": "2"}
        else:
            claims |= {"iss": self.v1_issuer, "aud": APP_ID_URI, "appid": ACTION_GROUPS_APP_ID, "appidacr": "2"}
        claims |= changes
        return {name: value for name, value in claims.items() if value is not None}

    def token(self, version: int = 2, *, key: SigningKey | None = None, **changes) -> str:
        key = key or self.signing_key
        return jwt.encode(self.claims(version, **changes), key.private, algorithm="RS256", headers={"kid": key.kid})

    def _route(self, request: Request) -> Reply:
        base = f"{self.authority}/{self.tenant}"
        documents = {
            f"/{self.tenant}/v2.0/.well-known/openid-configuration": {
                "issuer": self.v2_issuer, "jwks_uri": f"{base}/discovery/v2.0/keys",
                "token_endpoint": f"{base}/oauth2/v2.0/token", "id_token_signing_alg_values_supported": ["RS256"]},
            f"/{self.tenant}/.well-known/openid-configuration": {
                "issuer": self.v1_issuer, "jwks_uri": f"{self.authority}/common/discovery/keys",
                "token_endpoint": f"{base}/oauth2/token", "id_token_signing_alg_values_supported": ["RS256"]},
        }
        if request.path in documents:
            return Reply(200, documents[request.path])
        if request.path == f"/{self.tenant}/discovery/v2.0/keys":
            if self.jwks_down:
                return Reply(503, {"error": "temporarily_unavailable"})
            return Reply(200, {"keys": [key.jwk() for key in self.keys]})
        return Reply(404, {"error": "not_found"})
