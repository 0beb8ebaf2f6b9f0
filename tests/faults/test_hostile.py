"""Hostile input gets a clear 4xx with a JSON error body: never a 500, never a hang."""
import json
import os
import socket
import time

import pytest

from faults.faultkit import queue
from ttvd.job import JobState, JobStatus, new_id
from ttvd.spool import Spool

from helpers import Proc, free_port, process_env, serving, wait_for

LIMITS = {"TTVD_MAX_BODY_BYTES": "4096", "TTVD_MAX_TEXT_CHARS": "200", "TTVD_RATE_LIMIT": "0"}


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """One `ttvd serve` with small limits for the whole table (started by hand: module scope)."""
    home = tmp_path_factory.mktemp("hostile") / "home"
    home.mkdir()
    port = free_port()
    proc = Proc(["serve", "--port", str(port)], process_env(home, **LIMITS), home.parent / "serve.log")
    yield serving(proc, port, home)
    proc.stop()


def raw(port: int, data: bytes, timeout: float = 30.0) -> tuple[int, dict]:
    """Send ``data`` as is; return the status and JSON body of the answer. The socket stays open for
    writing, so a server that waits for more than was sent never answers (``timeout`` fails the test)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        response = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            response += chunk
            head, _, body = response.partition(b"\r\n\r\n")
            length = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")]
            if length and len(body) >= length[0]:
                break
    head, _, body = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    assert b"application/json" in head.lower(), head
    return status, json.loads(body)


def get(port: int, path: bytes) -> tuple[int, dict]:
    return raw(port, b"GET " + path + b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")


def post(port: int, body: bytes, headers: bytes = b"") -> tuple[int, dict]:
    head = (b"POST /api/v1/generate HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
            b"Content-Type: application/json\r\n" + headers)
    if b"Content-Length" not in headers and b"chunked" not in headers:
        head += b"Content-Length: %d\r\n" % len(body)
    return raw(port, head + b"\r\n" + body)


BODIES = [
    ("malformed JSON", b"{not json", 400),
    ("truncated JSON", b'{"text": "a', 400),
    ("deep nesting", b'{"text": ' + b"[" * 1900 + b"]" * 1900 + b"}", 400),
    ("not an object", b"[1, 2, 3]", 400),
    ("a bare string", b'"text"', 400),
    ("text a number", b'{"text": 42}', 400),
    ("text a list", b'{"text": ["a"]}', 400),
    ("text an object", b'{"text": {"a": "b"}}', 400),
    ("text true", b'{"text": true}', 400),
    ("options a list", b'{"text": "hi", "options": []}', 400),
    ("non-UTF-8 body", b'{"text": "caf\xe9"}', 400),
    ("UTF-16 body", '{"text": "hi"}'.encode("utf-16"), 400),
    ("lone surrogate", b'{"text": "\\ud800"}', 400),
    ("duplicate keys", b'{"text": "a", "text": "b"}', 400),
    ("NUL-only text", b'{"text": "\\u0000\\u0000"}', 400),
    ("no words", b'{"text": "?!... --"}', 400),
    ("text over the limit", json.dumps({"text": "word " * 100}).encode(), 413),
    ("body over the limit", json.dumps({"text": "hi", "pad": "x" * 5000}).encode(), 413),
]


@pytest.mark.parametrize("name,body,expected", BODIES, ids=[b[0] for b in BODIES])
def test_hostile_bodies(api, name, body, expected):
    status, answer = post(api.port, body)
    assert status == expected and set(answer) == {"error"} and answer["error"], answer


def test_a_huge_declared_body_is_refused_before_it_is_sent(api):
    # Nothing follows the head, and the connection stays open: a server that read the body first would
    # wait for it, then close the connection without an answer at TTVD_REQUEST_TIMEOUT; a 413 is only
    # answered by refusing on the declared length alone.
    status, answer = post(api.port, b"", b"Content-Length: 1000000000000\r\n")
    assert status == 413 and "too large" in answer["error"]


def test_a_huge_chunked_body_is_refused_while_it_is_read(api):
    chunk = b"x" * 2048
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(4)) + b"0\r\n\r\n"
    status, answer = post(api.port, body, b"Transfer-Encoding: chunked\r\n")
    assert status == 413 and set(answer) == {"error"}


PATHS = [b"/api/v1/status/..", b"/api/v1/status/%2e%2e", b"/api/v1/status/%2E%2E%2f%2e%2e%2fetc%2fpasswd",
         b"/api/v1/status/../../etc/passwd", b"/api/v1/status/abc%00def", b"/api/v1/status/%00",
         b"/api/v1/status/a/b", b"/api/v1/status/%ff%fe", b"/api/v1/status/%c0%ae%c0%ae",
         b"/api/v1/download/..%2f..%2fspool%2fstate", b"/api/v1/download/%2e", b"/api/v1/download/x%00.mp4",
         b"/api/v1/status/" + new_id().upper().encode(), b"/api/v1/status/" + b"a" * 5000]


@pytest.mark.parametrize("path", PATHS, ids=[p.decode("latin-1")[:40] for p in PATHS])
def test_hostile_ids_are_job_not_found(api, path):
    assert get(api.port, path) == (404, {"error": "Job not found"})


QUERIES = [(b"/api/v1/jobs?limit=abc", 400), (b"/api/v1/jobs?limit=0", 400), (b"/api/v1/jobs?limit=-1", 400),
           (b"/api/v1/jobs?limit=%00", 400), (b"/api/v1/jobs?limit=\xd9\xa3", 400),
           (b"/api/v1/jobs?status=bogus", 400), (b"/api/v1/jobs?status=%ff", 400),
           (b"/api/v1/nowhere", 404), (b"/api/v1/status/", 404)]


@pytest.mark.parametrize("path,expected", QUERIES, ids=[q[0].decode("latin-1") for q in QUERIES])
def test_hostile_queries(api, path, expected):
    status, answer = get(api.port, path)
    assert status == expected and set(answer) == {"error"}


def test_malformed_requests_are_answered_in_json(api):
    assert raw(api.port, b"GARBAGE\r\n\r\n")[0] == 400
    status, _ = raw(api.port, b"GET /api/v1/jobs HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * 300000 + b"\r\n\r\n")
    assert 400 <= status < 500
    status, answer = raw(api.port, b"DELETE /api/v1/jobs HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    assert status == 405 and set(answer) == {"error"}


@pytest.mark.parametrize("kind", ["symlink", "fifo", "directory"])
def test_downloads_serve_only_regular_files_inside_output(api, kind, tmp_path):
    spool = Spool(api.home)
    state = JobState(new_id(), status=JobStatus.COMPLETED, progress=100)
    spool.write_state(state)
    target = spool.home.job(state.job_id).video
    if kind == "symlink":
        secret = tmp_path / "secret.mp4"
        secret.write_bytes(b"not for you")
        target.symlink_to(secret)
    elif kind == "fifo":
        os.mkfifo(target)
    else:
        target.mkdir()
    # answered at all: a FIFO opened to be read waits for a writer that never comes, and no answer would arrive
    assert get(api.port, f"/api/v1/download/{state.job_id}".encode()) == (500, {"error": "Video file not found"})


def test_the_server_survived_the_table(api):
    assert api.proc.popen.poll() is None
    assert "Traceback" not in api.proc.output()


def test_watch_folder_skips_symlinks_fifos_and_directories(start, home, tmp_path):
    spool = Spool(home).ensure()
    outside = tmp_path / "outside.txt"
    outside.write_text("A tale from outside the watch folder.")
    (spool.home.watch / "link.txt").symlink_to(outside)
    os.mkfifo(spool.home.watch / "pipe.txt")
    (spool.home.watch / "folder.txt").mkdir()
    (spool.home.watch / "real.txt").write_text("A tale dropped the ordinary way.")
    daemon = start(["daemon"], home)
    wait_for(lambda: len(list(spool.states())) == 1 and
             list(spool.states())[0].status is JobStatus.COMPLETED, 60, daemon)
    time.sleep(1.5)  # a further rescan
    assert daemon.stop() == 0
    [only] = list(spool.states())
    assert only.origin == "real.txt"
    log = daemon.output()
    for name in ("link.txt", "pipe.txt", "folder.txt"):
        assert f"skipping '{name}': it is not a regular file" in log
        assert log.count(f"skipping '{name}'") == 1  # once, not on every rescan
    assert (spool.home.watch / "link.txt").is_symlink() and outside.read_text().startswith("A tale")
    assert queue(home, "incoming") == []
