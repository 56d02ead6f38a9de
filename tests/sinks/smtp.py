"""A loopback SMTP server (aiosmtpd) for integration tests: STARTTLS or implicit TLS with a TestCA
certificate, optional AUTH, every accepted message recorded, and refusals on command.

    with SmtpSink(tls=TestCA(), users={"relay": "pw"}) as sink:
        sink.fail_next(451, at="rcpt")            # the next RCPT TO gets "451 …"
        ... smtp://relay:pw@127.0.0.1:{sink.port} ...
        sink.messages[0].parsed()["Subject"]
"""
from __future__ import annotations

import email
import email.policy
import threading
from collections import deque
from dataclasses import dataclass

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.sinks.server import TestCA

_TEXT = {421: "4.3.2 Service not available", 451: "4.3.0 Try again later", 452: "4.5.3 Too many recipients",
         550: "5.1.1 No such user here", 552: "5.3.4 Message too big", 554: "5.7.1 Rejected"}


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    authenticated_as: str | None

    def parsed(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)


class _Controller(Controller):
    """aiosmtpd's Controller on a free port (it needs the port to poke the server once it is up)."""

    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()

    def factory(self):
        smtp = super().factory()
        if self.ssl_context:  # implicit TLS: aiosmtpd would otherwise hide AUTH behind a STARTTLS it cannot offer
            smtp._auth_require_tls = False
        return smtp


class SmtpSink:
    def __init__(self, tls: TestCA | None = None, *, implicit_tls: bool = False, starttls: bool = True,
                 users: dict[str, str] | None = None):
        self.messages: list[Received] = []
        self.logins: list[str] = []  # user names tried (never an auth_* attribute: aiosmtpd reads those as mechanisms)
        self._users = users
        self._faults: deque[tuple[str, str]] = deque()
        self._lock = threading.Lock()
        kwargs: dict = {"hostname": "127.0.0.1", "port": 0, "server_hostname": "relay-test-sink"}
        if tls and implicit_tls:
            kwargs["ssl_context"] = tls.server_context()
        elif tls and starttls:
            kwargs.update(tls_context=tls.server_context(), require_starttls=True)
        if users is not None:
            kwargs.update(authenticator=self._authenticate, auth_required=True)
        self._controller = _Controller(self, **kwargs)

    @property
    def port(self) -> int:
        return self._controller.port

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self._controller.stop()

    def fail_next(self, code: int, *, at: str = "rcpt", times: int = 1) -> None:
        """Answer the next `times` MAIL FROM / RCPT TO / DATA commands (`at`) with `code`."""
        with self._lock:
            self._faults.extend((at, f"{code} {_TEXT.get(code, 'Refused')}") for _ in range(times))

    def _fault(self, stage: str) -> str | None:
        with self._lock:
            if self._faults and self._faults[0][0] == stage:
                return self._faults.popleft()[1]
        return None

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user, password = auth_data.login.decode(), auth_data.password.decode()
        self.logins.append(user)
        # handled=False: aiosmtpd answers 235 or 535 itself.
        return AuthResult(success=self._users.get(user) == password, handled=False, auth_data=user)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if fault := self._fault("mail"):
            return fault
        envelope.mail_from, envelope.mail_options = address, mail_options
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if fault := self._fault("rcpt"):
            return fault
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if fault := self._fault("data"):
            return fault
        user = session.auth_data if session.authenticated else None
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content, user))
        return "250 2.0.0 Message accepted for delivery"
