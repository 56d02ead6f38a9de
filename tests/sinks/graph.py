"""Microsoft Graph sendMail and the Entra ID endpoints that msal and azure-identity call, on one
loopback HTTPS server, so the real clients run end to end.

    with GraphSink(ca, client_secret="…") as graph:
        environ = graph.environ()                 # AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET
        options = {"graph_url": graph.url, "authority": graph.url, ...}
        graph.fail_mail(429, retry_after=7)       # the next sendMail gets a 429
        graph.token_requests, graph.mails         # what arrived

Endpoints:
    GET  /{tenant}/v2.0/.well-known/openid-configuration     msal's tenant discovery
    POST /{tenant}/oauth2/v2.0/token                         client credentials: secret or certificate (JWT)
    GET  /msi/token                                          App Service managed identity (IDENTITY_ENDPOINT)
    POST /v1.0/users/{sender}/sendMail                       MIME as base64 text/plain → 202
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import email
import email.policy
import secrets
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.sinks.server import LoopbackServer, Reply, Request, Sink, TestCA

TENANT = "0c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f"
CLIENT_ID = "7f6e5d4c-3b2a-1908-f7e6-d5c4b3a29180"


class ClientCertificate:
    """An app registration's certificate: an RSA key and a self-signed certificate."""

    def __init__(self):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relay-test-app")])
        now = dt.datetime.now(dt.UTC)
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
                     .sign(self.key, hashes.SHA256()))
        self.x5t = base64.urlsafe_b64encode(self.cert.fingerprint(hashes.SHA1())).rstrip(b"=").decode()

    def write(self, path: Path, password: str | None = None) -> Path:
        """The PEM file azure-identity and the relay read: private key, then certificate."""
        encryption = (serialization.BestAvailableEncryption(password.encode()) if password
                      else serialization.NoEncryption())
        key = self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
        path.write_bytes(key + self.cert.public_bytes(serialization.Encoding.PEM))
        return path


@dataclass
class SentMail:
    sender: str
    mime: bytes
    token: str

    def parsed(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.mime, policy=email.policy.default)


class GraphSink(Sink):
    def __init__(self, tls: TestCA, *, client_secret: str | None = None,
                 certificate: ClientCertificate | None = None, identity_header: str | None = None,
                 mailboxes: tuple[str, ...] = ("relay@contoso.example",), mail_send: bool = True):
        self.client_secret, self.certificate, self.identity_header = client_secret, certificate, identity_header
        self.mailboxes, self.mail_send = mailboxes, mail_send
        self.server = LoopbackServer(self._route, tls=tls)
        self.url = self.server.url
        self.token_requests: list[dict[str, str]] = []  # form fields, the secret or assertion replaced by `auth`
        self.identity_requests: list[Request] = []
        self.issued: list[str] = []
        self.mails: list[SentMail] = []
        self._mail_faults: deque[Reply] = deque()
        self._token_faults: deque[Reply] = deque()

    @property
    def token_endpoint(self) -> str:
        return f"{self.url}/{TENANT}/oauth2/v2.0/token"

    def environ(self, **extra: str) -> dict[str, str]:
        env = {"AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": CLIENT_ID}
        if self.client_secret:
            env["AZURE_CLIENT_SECRET"] = self.client_secret
        return {**env, **extra}

    def fail_mail(self, status: int, *, retry_after: str | None = None, body: dict | None = None,
                  times: int = 1, drop: bool = False) -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        body = body if body is not None else {"error": {"code": "ErrorTest", "message": "injected"}}
        self._mail_faults.extend(Reply(status, body, headers, drop=drop) for _ in range(times))

    def refuse_tokens(self, error: str = "invalid_client", status: int = 401, code: int = 7000215,
                      description: str = "AADSTS7000215: Invalid client secret provided.", times: int = 1) -> None:
        body = {"error": error, "error_description": description, "error_codes": [code]}
        self._token_faults.extend(Reply(status, body) for _ in range(times))

    # ------------------------------------------------------------------------------------------
    def _route(self, request: Request) -> Reply:
        path = request.path
        if path == f"/{TENANT}/v2.0/.well-known/openid-configuration" and request.method == "GET":
            return Reply(200, self._openid_configuration())
        if path.endswith("/v2.0/.well-known/openid-configuration"):
            return Reply(400, {"error": "invalid_tenant", "error_description": "AADSTS90002: Tenant not found."})
        if path == f"/{TENANT}/oauth2/v2.0/token" and request.method == "POST":
            return self._client_credentials(request)
        if path == "/msi/token" and request.method == "GET":
            return self._managed_identity(request)
        if path.startswith("/v1.0/users/") and path.endswith("/sendMail") and request.method == "POST":
            return self._send_mail(request, unquote(path[len("/v1.0/users/"):-len("/sendMail")]))
        return Reply(404, {"error": {"code": "NotFound", "message": path}})

    def _openid_configuration(self) -> dict:
        base = f"{self.url}/{TENANT}"
        return {"issuer": f"{base}/v2.0", "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token", "jwks_uri": f"{self.url}/{TENANT}/discovery/v2.0/keys",
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"]}

    def _issue(self) -> str:
        token = f"graph-token-{secrets.token_hex(12)}"
        self.issued.append(token)
        return token

    def _client_credentials(self, request: Request) -> Reply:
        form = {k: v[-1] for k, v in parse_qs(request.body.decode()).items()}
        record = {k: v for k, v in form.items() if k not in ("client_secret", "client_assertion")}
        record["auth"] = "secret" if "client_secret" in form else "certificate" if "client_assertion" in form else "none"
        self.token_requests.append(record)
        if self._token_faults:
            return self._token_faults.popleft()
        if form.get("grant_type") != "client_credentials" or form.get("client_id") != CLIENT_ID:
            return Reply(400, {"error": "unauthorized_client", "error_codes": [700016]})
        if not self._client_authenticated(form):
            return Reply(401, {"error": "invalid_client", "error_codes": [7000215],
                               "error_description": "AADSTS7000215: Invalid client secret provided."})
        return Reply(200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                           "access_token": self._issue()})

    def _client_authenticated(self, form: dict[str, str]) -> bool:
        if "client_secret" in form:
            return self.client_secret is not None and secrets.compare_digest(form["client_secret"], self.client_secret)
        assertion = form.get("client_assertion")
        if not assertion or self.certificate is None:
            return False
        try:
            claims = jwt.decode(assertion, self.certificate.key.public_key(), algorithms=["RS256", "PS256"],
                                audience=self.token_endpoint, options={"require": ["exp", "aud", "iss", "sub"]})
        except jwt.InvalidTokenError:
            return False
        header = jwt.get_unverified_header(assertion)
        # x5t: base64url of the certificate's SHA-1 (msal keeps the "=" padding; Entra ID accepts both).
        return claims["iss"] == claims["sub"] == CLIENT_ID and str(header.get("x5t")).rstrip("=") == self.certificate.x5t

    def _managed_identity(self, request: Request) -> Reply:
        self.identity_requests.append(request)
        if not self.identity_header or request.headers.get("x-identity-header") != self.identity_header:
            return Reply(401, {"error": "unauthorized", "error_description": "bad identity header"})
        resource = request.query.get("resource", [""])[0]
        return Reply(200, {"access_token": self._issue(), "expires_on": str(int(time.time()) + 3600),
                           "resource": resource, "token_type": "Bearer"})

    def _send_mail(self, request: Request, sender: str) -> Reply:
        authorization = request.headers.get("authorization", "")
        token = authorization.removeprefix("Bearer ")
        if not authorization.startswith("Bearer ") or token not in self.issued:
            return Reply(401, {"error": {"code": "InvalidAuthenticationToken", "message": "Access token is empty."}})
        if self._mail_faults:
            return self._mail_faults.popleft()
        if not self.mail_send:
            return Reply(403, {"error": {"code": "ErrorAccessDenied",
                                         "message": "Access is denied. Check credentials and try again."}})
        if sender not in self.mailboxes:
            return Reply(404, {"error": {"code": "ErrorInvalidUser", "message": "The requested user is invalid."}})
        if request.headers.get("content-type", "").split(";")[0] != "text/plain":
            return Reply(400, {"error": {"code": "ErrorInvalidRequest", "message": "MIME needs text/plain"}})
        try:
            mime = base64.b64decode(request.body, validate=True)
        except binascii.Error:
            return Reply(400, {"error": {"code": "ErrorMimeContentInvalidBase64String", "message": "bad base64"}})
        self.mails.append(SentMail(sender, mime, token))
        return Reply(202, b"", {"request-id": secrets.token_hex(8)})
