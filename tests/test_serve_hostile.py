"""`relay serve` against clients that stall, smuggle, lie about lengths or send what no webhook sends: each is
answered or refused, its connection closed where the rest of its bytes cannot be trusted, and /api/health
answers throughout. Raw sockets on 127.0.0.1, so that the bytes are exactly the ones written here."""
import logging
import socket
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from relay.config import default_config
from relay.hosts.serve import RelayServer
from relay.hosts.wiring import Paths, open_relay
from relay.inbox.sqlite import SqliteInbox
from tests.polling import wait_for

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ALERT = (EXAMPLES / "alerts" / "01-planned.json").read_bytes()
KEY = "k3y"
CAP = 64


@pytest.fixture
def server(tmp_path):
    relay = open_relay(default_config(), Paths(EXAMPLES / "inventory.json", tmp_path / "l.sqlite", tmp_path / "out"),
                       now=datetime(2027, 1, 12, tzinfo=UTC))
    server = RelayServer(("127.0.0.1", 0), relay, SqliteInbox(tmp_path / "inbox.sqlite"), key=KEY,
                         max_connections=CAP, header_seconds=1.0, body_seconds=1.0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    assert wait_for(lambda: health(server) is not None)
    yield server
    server.shutdown()
    server.server_close()
    relay.ledger.close()


def connect(server) -> socket.socket:
    sock = socket.create_connection(server.server_address, timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def exchange(server, data: bytes) -> bytes:
    """Everything the server sends back until it closes the connection (or 5 s pass without a byte)."""
    with connect(server) as sock:
        sock.sendall(data)
        return read_to_close(sock)


def read_to_close(sock: socket.socket) -> bytes:
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        received += b"<still open>"
    return received


def statuses(received: bytes) -> list[int]:
    return [int(line.split()[1]) for line in received.split(b"\r\n") if line.startswith((b"HTTP/1.1 ", b"HTTP/1.0 "))]


def post(path: str, body: bytes, *headers: str) -> bytes:
    head = [f"POST {path} HTTP/1.1", "Host: x", f"x-functions-key: {KEY}", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def health(server, key: str | None = KEY) -> bytes | None:
    keyed = f"x-functions-key: {key}\r\n" if key else ""
    try:
        received = exchange(server, f"GET /api/health HTTP/1.1\r\nHost: x\r\n{keyed}Connection: close\r\n\r\n".encode())
    except OSError:
        return None
    return received if statuses(received) == [200] else None


def test_stalled_connections_neither_stop_alerts_nor_health(server):
    stalled = []
    for _ in range(CAP * 3):  # three times the cap of connections that never finish their head, keyless
        sock = connect(server)
        sock.sendall(b"POST /api/alerts HTTP/1.1\r\nHost: x\r\n")
        stalled.append(sock)
        assert len(stalled) % CAP or health(server)  # and health answers all along
    assert statuses(exchange(server, post("/api/alerts", ALERT, "Connection: close"))) == [202]
    assert b'"inbox"' in health(server)
    assert wait_for(lambda: all(peer_closed(sock) for sock in stalled))  # evicted, or timed out after 1 s
    for sock in stalled:
        sock.close()


def peer_closed(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def test_a_head_never_finished_is_closed_without_an_answer(server):
    with connect(server) as sock:
        sock.sendall(b"POST /api/alerts HTTP/1.1\r\nHost: x\r\nx-functions-key: k3y\r\n")
        assert read_to_close(sock) == b""  # closed at the header deadline (1 s here), nothing sent


def test_a_body_never_finished_gets_408(server):
    with connect(server) as sock:
        sock.sendall(post("/api/alerts", ALERT)[:-100])
        assert statuses(read_to_close(sock)) == [408]


def test_health_counts_need_the_key(server):
    assert b'"inbox"' not in health(server, key=None)
    assert b'"inbox"' in health(server)


@pytest.mark.parametrize("first", [
    post("/api/nope", b""),  # an unknown path: 404
    post("/api/alerts", b"", "x-functions-key: wrong").replace(f"x-functions-key: {KEY}\r\n".encode(), b""),  # 401
    b"PUT /api/alerts HTTP/1.1\r\nHost: x\r\nContent-Length: {n}\r\n\r\n",  # 405
])
def test_a_refused_body_is_never_read_as_a_second_request(server, first):
    smuggled = f"GET /api/health HTTP/1.1\r\nHost: x\r\nx-functions-key: {KEY}\r\n\r\n".encode()
    request = first.replace(b"Content-Length: 0", b"Content-Length: {n}").replace(b"{n}", str(len(smuggled)).encode())
    received = exchange(server, request + smuggled)
    assert len(statuses(received)) == 1 and statuses(received)[0] in (401, 404, 405), received
    assert b'"inbox"' not in received


def test_content_length_with_transfer_encoding_is_refused(server):
    smuggled = b"0\r\n\r\nGET /api/health HTTP/1.1\r\nHost: x\r\n\r\n"
    request = post("/api/alerts", smuggled, "Transfer-Encoding: chunked")
    assert statuses(exchange(server, request)) == [400]


@pytest.mark.parametrize("request_bytes", [
    b"POST /api/alerts HTTP/1.1\r\nHost: x\r\nx-functions-key: k3y\r\nContent-Length: \xb2\r\n\r\n{}",
    b"POST /api/alerts HTTP/1.1\r\nHost: x\r\nx-functions-key: k3y\r\nContent-Length: -1\r\n\r\n{}",
    b"POST /api/alerts HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/health now please HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/health HTTP/1.1\r\nHost: x\r\nBad Header: x\r\n\r\n",
], ids=["superscript-two", "negative", "two-lengths", "long-url", "five-words", "space-in-name"])
def test_malformed_requests_get_400_and_a_closed_connection(server, request_bytes, caplog):
    caplog.set_level(logging.DEBUG)
    received = exchange(server, request_bytes)
    assert statuses(received) == [400] and not received.endswith(b"<still open>")
    assert "Traceback" not in caplog.text and "malformed request refused (400)" in caplog.text
    assert health(server)


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("PUT", "/api/alerts", "POST"), ("DELETE", "/api/health", "GET"), ("OPTIONS", "/api/scheduled-events", "POST"),
])
def test_other_methods_get_405_with_allow(server, method, path, allowed):
    received = exchange(server, f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode())
    head, _, body = received.partition(b"\r\n\r\n")
    assert statuses(received) == [405]
    assert f"Allow: {allowed}".encode() in head and b"application/problem+json" in head
    assert b'"status": 405' in body


def test_the_log_shows_a_hostile_path_escaped(server, caplog):
    caplog.set_level(logging.INFO, logger="relay.serve")
    received = exchange(server, b"GET /api/%1b[2J%1b]0;owned%07?code=k3y HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert statuses(received) == [404]
    line = next(r.getMessage() for r in caplog.records if r.name == "relay.serve" and "404" in r.getMessage())
    assert "\x1b" not in line and "\x07" not in line and "\\x1b[2J" in line
    assert "k3y" not in caplog.text
