"""Microsoft Graph sendMail and the Entra ID endpoints that msal and azure-identity call, on one
loopback HTTPS server, so the real clients run end to end.

    with GraphSink(ca, client_secret="…") as graph:
        environ = graph.environ()                 # AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET
        options = {"graph_url": graph.url, "authority": graph.url, ...}
        graph.fail_mail(429, retry_after=7)       # the next sendMail gets a 429
        graph.token_requests, graph.mails         # what arrived
        graph.accept_then_drop()                  # the next sendMail keeps the message, then hangs up unanswered
        graph.sent_items_delay = 2.0              # a kept message shows in Sent Items 2 s after it was accepted
        graph.fail_lookup(503, retry_after="4")   # the next Sent Items lookup gets a 503
        graph.members[user_id] = {group_id, ...}  # a user of the directory and their groups (nested ones included)
        graph.fail_member_check(503)              # the next checkMemberGroups gets a 503; graph.member_checks: asked

Endpoints:
    GET  /{tenant}/v2.0/.well-known/openid-configuration     msal's tenant discovery
    POST /{tenant}/oauth2/v2.0/token                         client credentials: secret or certificate (JWT)
    GET  /msi/token                                          App Service managed identity (IDENTITY_ENDPOINT)
    POST /v1.0/users/{sender}/sendMail                       MIME as base64 text/plain → 202, kept in Sent Items
    GET  /v1.0/users/{sender}/mailFolders/SentItems/messages  (or mailFolders('SentItems')) Sent Items, as Graph lists
         them: {"value": [...]}, with $select, $top and the one $filter a mark is found with,
         singleValueExtendedProperties/Any(ep: ep/id eq '<property id>' and ep/value eq '<value>')
    POST /v1.0/users/{id}/checkMemberGroups                   {"groupIds": [at most 20]} → {"value": [those the user
         is in]}; 403 Authorization_RequestDenied without `group_read` (User.Read.All and GroupMember.Read.All, or
         Directory.Read.All), 404 Request_ResourceNotFound for a user not in `members`

A kept message shows as Exchange would store it: Message-ID as internetMessageId, its headers as
internetMessageHeaders, and each X- header as the named property `String {PS_INTERNET_HEADERS} Name <header>`
(MS-OXCMAIL 2.2.3.2.29). As in Graph, the property's name compares case-sensitively and its value does not.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import email
import email.policy
import json
import re
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
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
PS_INTERNET_HEADERS = "{00020386-0000-0000-C000-000000000046}"
SENT_ITEMS = re.compile(r"/v1\.0/users/([^/]+)/mailFolders(?:/SentItems|\('SentItems'\))/messages", re.IGNORECASE)
# The lambda of an extended-property filter, its operator `eq` on the id and on the value; '' is a quote in a literal.
EXTENDED_PROPERTY = re.compile(r"singleValueExtendedProperties/any\(\s*(\w+)\s*:\s*\1/id eq '((?:[^']|'')*)'"
                               r" and \1/value eq '((?:[^']|'')*)'\s*\)", re.IGNORECASE)
DEFAULT_FIELDS = ("id", "internetMessageId", "sentDateTime", "subject")
MEMBER_GROUPS = re.compile(r"/v1\.0/users/([^/]+)/checkMemberGroups", re.IGNORECASE)
MEMBER_GROUPS_A_CALL = 20  # "Up to 20 groups may be specified"


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
    visible_at: float = 0.0  # time.monotonic() from when it shows in Sent Items
    id: str = field(default_factory=lambda: f"AAMkAG{secrets.token_hex(16)}=")
    sent: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))

    def parsed(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.mime, policy=email.policy.default)

    def resource(self) -> dict:
        """The sent item as Graph's message resource has it (a few of its properties)."""
        parsed = self.parsed()
        return {"id": self.id, "sentDateTime": self.sent,
                "internetMessageId": parsed["Message-ID"] or f"<{self.id}@sink.prod.outlook.com>",
                "subject": str(parsed["Subject"] or ""),
                "internetMessageHeaders": [{"name": name, "value": str(value)} for name, value in parsed.items()]}

    def extended_properties(self) -> list[tuple[str, str]]:
        """Its X- headers as the named properties Exchange makes of them: (property id, value)."""
        return [(f"String {PS_INTERNET_HEADERS} Name {name}", str(value))
                for name, value in self.parsed().items() if name.lower().startswith("x-")]


class GraphSink(Sink):
    def __init__(self, tls: TestCA, *, client_secret: str | None = None,
                 certificate: ClientCertificate | None = None, identity_header: str | None = None,
                 mailboxes: tuple[str, ...] = ("relay@contoso.example",), mail_send: bool = True,
                 mail_read: bool = True):
        self.client_secret, self.certificate, self.identity_header = client_secret, certificate, identity_header
        self.mailboxes, self.mail_send, self.mail_read = mailboxes, mail_send, mail_read
        self.server = LoopbackServer(self._route, tls=tls)
        self.url = self.server.url
        self.token_requests: list[dict[str, str]] = []  # form fields, the secret or assertion replaced by `auth`
        self.identity_requests: list[Request] = []
        self.issued: list[str] = []
        self.mails: list[SentMail] = []  # every message accepted, in order
        self.sent_items_delay = 0.0  # seconds from a message's acceptance to its copy in Sent Items
        self._mail_faults: deque[Reply] = deque()
        self._lookup_faults: deque[Reply] = deque()
        self._token_faults: deque[Reply] = deque()
        self._drops = 0
        self.members: dict[str, set[str]] = {}  # user object id: the ids of the groups they are in (nested included)
        self.group_read = True  # the app may read users' group memberships
        self.member_checks: list[tuple[str, list[str]]] = []  # (user, groupIds) of each checkMemberGroups that arrived
        self._member_faults: deque[Reply] = deque()

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
        self._mail_faults.extend(_fault(status, retry_after, body, drop) for _ in range(times))

    def fail_lookup(self, status: int, *, retry_after: str | None = None, body: dict | None = None,
                    times: int = 1, location: str | None = None) -> None:
        """The next lookup(s) get `status`; `location` makes it a redirect."""
        self._lookup_faults.extend(_fault(status, retry_after, body, location=location) for _ in range(times))

    def accept_then_drop(self, times: int = 1) -> None:
        """The next sendMail(s) keep the message, as Graph would, and hang up without an answer."""
        self._drops += times

    def fail_member_check(self, status: int, *, retry_after: str | None = None, body: dict | None = None,
                          times: int = 1, drop: bool = False) -> None:
        """The next checkMemberGroups call(s) get `status` (or, with `drop`, no answer)."""
        self._member_faults.extend(_fault(status, retry_after, body, drop) for _ in range(times))

    def sent_items(self, mailbox: str) -> list[SentMail]:
        """What the mailbox's Sent Items show now."""
        now = time.monotonic()
        return [mail for mail in self.mails if mail.sender == mailbox and mail.visible_at <= now]

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
        if (sent_items := SENT_ITEMS.fullmatch(path)) and request.method == "GET":
            return self._list_sent_items(request, unquote(sent_items.group(1)))
        if (member_groups := MEMBER_GROUPS.fullmatch(path)) and request.method == "POST":
            return self._check_member_groups(request, unquote(member_groups.group(1)))
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

    def _token(self, request: Request) -> str | None:
        """The bearer token of the request, if the sink issued it."""
        authorization = request.headers.get("authorization", "")
        token = authorization.removeprefix("Bearer ")
        return token if authorization.startswith("Bearer ") and token in self.issued else None

    def _send_mail(self, request: Request, sender: str) -> Reply:
        if (token := self._token(request)) is None:
            return _UNAUTHENTICATED
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
        self.mails.append(SentMail(sender, mime, token, visible_at=time.monotonic() + self.sent_items_delay))
        if self._drops:
            self._drops -= 1
            return Reply(drop=True)
        return Reply(202, b"", {"request-id": secrets.token_hex(8)})

    def _list_sent_items(self, request: Request, mailbox: str) -> Reply:
        if self._token(request) is None:
            return _UNAUTHENTICATED
        if self._lookup_faults:
            return self._lookup_faults.popleft()
        if not self.mail_read:
            return Reply(403, {"error": {"code": "ErrorAccessDenied",
                                         "message": "Access is denied. Check credentials and try again."}})
        if mailbox not in self.mailboxes:
            return Reply(404, {"error": {"code": "ErrorInvalidUser", "message": "The requested user is invalid."}})
        query = {k: v[-1] for k, v in request.query.items()}
        mails = self.sent_items(mailbox)
        if "$filter" in query:
            wanted = EXTENDED_PROPERTY.fullmatch(query["$filter"].strip())
            if wanted is None:
                return Reply(400, {"error": {"code": "ErrorInvalidUrlQueryFilter", "message": "unsupported filter"}})
            name, value = (literal.replace("''", "'") for literal in wanted.group(2, 3))
            mails = [mail for mail in mails if any(
                (pid, v.lower()) == (name, value.lower()) for pid, v in mail.extended_properties())]
        fields = query["$select"].split(",") if "$select" in query else DEFAULT_FIELDS
        items = [mail.resource() for mail in mails[:int(query.get("$top", "10"))]]
        return Reply(200, {"value": [{k: item[k] for k in fields if k in item} for item in items]})


    def _check_member_groups(self, request: Request, user: str) -> Reply:
        if self._token(request) is None:
            return _UNAUTHENTICATED
        if self._member_faults:
            return self._member_faults.popleft()
        try:
            body = json.loads(request.body)
        except ValueError:
            body = None
        wanted = body.get("groupIds") if isinstance(body, dict) else None
        if request.headers.get("content-type", "").split(";")[0] != "application/json" \
                or not isinstance(wanted, list) or not all(isinstance(g, str) for g in wanted):
            return Reply(400, {"error": {"code": "Request_BadRequest", "message": "groupIds: a list of group ids"}})
        if not 0 < len(wanted) <= MEMBER_GROUPS_A_CALL:
            return Reply(400, {"error": {"code": "Request_BadRequest",
                                         "message": f"groupIds: 1 to {MEMBER_GROUPS_A_CALL} group ids"}})
        self.member_checks.append((user, list(wanted)))
        if not self.group_read:
            return Reply(403, {"error": {"code": "Authorization_RequestDenied",
                                         "message": "Insufficient privileges to complete the operation."}})
        groups = next((g for u, g in self.members.items() if u.lower() == user.lower()), None)
        if groups is None:
            return Reply(404, {"error": {"code": "Request_ResourceNotFound",
                                         "message": f"Resource '{user}' does not exist or one of its queried"
                                                    " reference-property objects are not present."}})
        theirs = {g.lower() for g in groups}
        return Reply(200, {"@odata.context": f"{self.url}/v1.0/$metadata#Collection(Edm.String)",
                           "value": [g for g in wanted if g.lower() in theirs]})


_UNAUTHENTICATED = Reply(401, {"error": {"code": "InvalidAuthenticationToken", "message": "Access token is empty."}})


def _fault(status: int, retry_after: str | None, body: dict | None, drop: bool = False,
           location: str | None = None) -> Reply:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    headers.update({"Location": location} if location else {})
    body = body if body is not None else {"error": {"code": "ErrorTest", "message": "injected"}}
    return Reply(status, body, headers, drop=drop)
