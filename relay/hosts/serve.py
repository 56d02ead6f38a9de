"""`relay serve`: the Function's HTTP intake on a laptop, with the inbox worker in a thread.

    POST /api/alerts   an Action Group webhook body → 202 {"id": …} | 400 | 413 | 503
                       (401 without the key when one is set; 401/403 without a good Entra ID token
                       when `entra` is given — both before the body is read)
    POST /api/scheduled-events   a Scheduled Event from `relay agent` on a VM: the same checks and answers
    GET  /api/health   200 {"status": "ok", "inbox": {...}}
"""
from __future__ import annotations

import hmac
import logging
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from relay.alerts import MAX_BYTES
from relay.hosts import worker
from relay.hosts.intake import ALERTS, SCHEDULED_EVENTS, Reply, authenticate, ingest, problem, too_large
from relay.hosts.parked import announce_parked
from relay.inbox.sqlite import SqliteInbox
from relay.pipeline import Relay

if TYPE_CHECKING:
    from relay.auth.entra import EntraCheck

log = logging.getLogger("relay.serve")

INTAKE_PATHS = (ALERTS, SCHEDULED_EVENTS)


class RelayServer(ThreadingHTTPServer):
    server_address: tuple[str, int]  # an AF_INET socket's: the host as text, then the port bound
    daemon_threads = True
    request_queue_size = 128  # the default backlog of 5 refuses bursts of new connections

    def __init__(self, address: tuple[str, int], relay: Relay, inbox: SqliteInbox, key: str | None = None,
                 workers: int = 1, entra: EntraCheck | None = None):
        super().__init__(address, _Handler)
        self.relay, self.inbox, self.key, self.entra = relay, inbox, key, entra
        self.stop_worker = threading.Event()
        self.workers = [threading.Thread(target=worker.run, args=(inbox, relay, self.stop_worker), daemon=True,
                                         name=f"relay-worker-{n}") for n in range(workers)]

    def start_worker(self) -> None:
        """Starts relaying; what a killed predecessor on this machine had taken is taken up at once, and
        what it parked without telling anyone is announced (in the background: it may take a while)."""
        orphans = self.inbox.release_orphans()
        if orphans:
            log.warning("taking up %d alert(s) a stopped relay serve had not finished", orphans)
        for thread in self.workers:
            thread.start()
        threading.Thread(target=announce_parked, args=(self.inbox, self.relay), daemon=True,
                         name="relay-announce-parked").start()

    def handle_error(self, request, client_address) -> None:
        # socketserver would print a traceback to stderr; a client that hung up is routine.
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            log.info("client %s went away: %s", client_address[0], type(error).__name__)
        else:
            log.exception("request from %s failed", client_address[0])

    def server_close(self) -> None:
        self.stop_worker.set()
        for thread in self.workers:
            if thread.is_alive():
                thread.join(timeout=10)
        super().server_close()


class _Handler(BaseHTTPRequestHandler):
    server: RelayServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes; Nagle would hold the body ~40 ms

    def do_POST(self) -> None:
        endpoint = urlsplit(self.path).path.rstrip("/")
        if endpoint not in INTAKE_PATHS:
            return self._send(problem(404, "Not found", "POST alerts to /api/alerts, Scheduled Events to"
                                      " /api/scheduled-events."))
        if not self._authorized():
            return self._refuse(problem(401, "Unauthorized", "Send the key as ?code= or the x-functions-key header."))
        refusal = authenticate(lambda: self.server.entra, self.headers.get("Authorization"), endpoint)
        if refusal:
            return self._refuse(refusal)
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            return self._send(problem(411, "Length required", "Send the body with a Content-Length header."))
        if int(length) > MAX_BYTES:
            self.close_connection = True
            return self._send(too_large(int(length)))
        body = self.rfile.read(int(length))
        self._send(ingest(body, lambda raw, event: self.server.inbox.put(raw), endpoint))

    def do_GET(self) -> None:
        if urlsplit(self.path).path.rstrip("/") != "/api/health":
            return self._send(problem(404, "Not found", "GET /api/health, or POST alerts to /api/alerts."))
        self._send(Reply(200, {"status": "ok", "inbox": self.server.inbox.counts()}))

    def _authorized(self) -> bool:
        if not self.server.key:
            return True
        given = self.headers.get("x-functions-key") or parse_qs(urlsplit(self.path).query).get("code", [""])[0]
        return hmac.compare_digest(given.encode(), self.server.key.encode())

    def _refuse(self, reply: Reply) -> None:
        self.close_connection = True  # the body stays unread, so the connection cannot carry another request
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        data = reply.encoded()
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:
        # The request line may carry ?code=<key>: log the path only.
        log.info("%s %s → %s", self.command, urlsplit(self.path).path, args[1] if len(args) > 1 else "")

