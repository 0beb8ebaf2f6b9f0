"""Slow clients cannot starve everyone: connections that trickle a request a byte at a time are closed
after TTVD_REQUEST_TIMEOUT, and while they trickle everybody else is still answered."""
import selectors
import socket
import time

import pytest

from helpers import Proc, free_port, process_env, serving

TRICKLERS = 120  # more than waitress's default connection limit (100)
TIMEOUT = 5  # TTVD_REQUEST_TIMEOUT for this server
REQUEST = b"GET /api/v1/jobs HTTP/1.1\r\nHost: localhost\r\n\r\n"


@pytest.fixture
def api(request, tmp_path):
    """``ttvd serve`` with TTVD_REQUEST_TIMEOUT of TIMEOUT seconds, or of the test's indirect parameter."""
    timeout = getattr(request, "param", TIMEOUT)
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    proc = Proc(["serve", "--port", str(port)],
                process_env(home, TTVD_REQUEST_TIMEOUT=str(timeout), TTVD_RATE_LIMIT="0"), tmp_path / "serve.log")
    yield serving(proc, port, home)
    proc.stop()


def closed_by_peer(sock: socket.socket) -> bool:
    """True when the server has closed ``sock`` (EOF or reset); it never answers a trickle."""
    try:
        return sock.recv(4096) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_trickling_clients_are_cut_off_and_others_are_answered(api):
    tricklers, opened = [], {}
    for _ in range(TRICKLERS):
        connecting = time.monotonic()  # before the server can have accepted it: its clock starts later
        sock = socket.create_connection(("127.0.0.1", api.port), timeout=5)
        sock.setblocking(False)
        tricklers.append(sock)
        opened[sock] = connecting
    sent = {sock: 0 for sock in tricklers}
    closed_at: dict[socket.socket, float] = {}
    answered = 0
    watching = selectors.DefaultSelector()
    for sock in tricklers:
        watching.register(sock, selectors.EVENT_READ)
    next_byte = time.monotonic()
    # A fail-later bound, not the promise: they are cut off about TIMEOUT s after opening; this is ten
    # times that, and a trickler's request would not be complete for another 90 s.
    deadline = time.monotonic() + 10 * (TIMEOUT + 1)
    try:
        while time.monotonic() < deadline and (len(closed_at) < TRICKLERS or answered < 5):
            if time.monotonic() >= next_byte:  # one more byte of the request line on every open trickler, every 2 s
                for sock in tricklers:
                    if sock not in closed_at and sent[sock] < len(REQUEST) - 4:  # never the whole request
                        try:
                            sock.send(REQUEST[sent[sock]:sent[sock] + 1])
                            sent[sock] += 1
                        except OSError:
                            closed_at[sock] = time.monotonic()
                            watching.unregister(sock)
                next_byte = time.monotonic() + 2
            for key, _ in watching.select(timeout=0):
                if closed_by_peer(key.fileobj):
                    closed_at[key.fileobj] = time.monotonic()
                    watching.unregister(key.fileobj)
            if len(closed_at) < TRICKLERS or answered < 5:  # someone else, meanwhile: answered
                status, _, body = api.request("GET", "/api/v1/jobs", timeout=60)
                assert status == 200 and body.startswith(b"{"), (status, body[:200])
                answered += 1
            time.sleep(0.2)
    finally:
        watching.close()
        for sock in tricklers:
            sock.close()
    assert answered >= 5
    assert len(closed_at) == TRICKLERS, f"{TRICKLERS - len(closed_at)} trickling connections never cut off"
    # Not before its request had taken TIMEOUT s: measured from before the connection existed to after the
    # close was seen, so a slow machine only lengthens it. (No upper bound: the log lines below say which
    # rule cut them off, and the deadline above fails a server that never does.)
    waited = sorted(closed_at[sock] - opened[sock] for sock in tricklers)
    assert waited[0] >= TIMEOUT, waited
    assert max(sent.values()) < len(REQUEST) - 4  # none got through its request line before the cut
    assert api.proc.popen.poll() is None
    log = api.proc.output()
    assert "Traceback" not in log
    assert log.count("its request did not arrive within 5 s (TTVD_REQUEST_TIMEOUT)") == TRICKLERS


def read_response(sock: socket.socket) -> bytes:
    """One whole response (head and its Content-Length of body) from a blocking socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536) or pytest.fail(f"closed after {data!r}")
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += sock.recv(65536) or pytest.fail("closed mid-body")
    return head


@pytest.mark.parametrize("api", [60], indirect=True)  # far more than the 2 s of pieces, on any machine
def test_a_request_sent_in_a_few_slow_pieces_within_the_timeout_is_served(api):
    with socket.create_connection(("127.0.0.1", api.port), timeout=60) as sock:
        for piece in (REQUEST[:10], REQUEST[10:30], REQUEST[30:]):
            sock.sendall(piece)
            time.sleep(1)
        head = read_response(sock)
    assert head.startswith(b"HTTP/1.1 200")


def test_a_kept_alive_connection_gets_a_fresh_clock_for_each_request(api):
    with socket.create_connection(("127.0.0.1", api.port), timeout=60) as sock:
        for _ in range(3):  # 3 x 2.5 s on one connection: longer than TIMEOUT in all, each request quick
            sock.sendall(REQUEST)
            head = read_response(sock)
            assert head.startswith(b"HTTP/1.1 200"), head[:100]
            time.sleep(2.5)
