"""Webhooks: events written once per finished job, signed, delivered over real sockets to a receiver on
127.0.0.1, retried with backoff, refused for private addresses, and kept across a daemon killed mid-way."""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ttvd import courier, pipeline, webhooks
from ttvd.courier import Courier
from ttvd.daemon import Daemon
from ttvd.errors import ConfigError, StageError
from ttvd.job import JobState, JobStatus
from ttvd.options import validate
from ttvd.spool import Spool
from ttvd.webhooks import Outbox

from helpers import free_port, wait_for

SECRET = "s3cret-webhook-key-never-logged"


class Receiver:
    """A webhook receiver on 127.0.0.1 (a threaded http.server): keeps every request and answers each with
    the next scripted status, then 200; with ``hold``, not before that event is set."""

    def __init__(self, port: int = 0, statuses: tuple[int, ...] = (), hold: threading.Event | None = None) -> None:
        self.requests: list[dict] = []
        self.statuses = list(statuses)
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.requests.append({"path": self.path, "body": body,
                                              "headers": {k.lower(): v for k, v in self.headers.items()}})
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                if hold is not None:
                    hold.wait(60)  # a fail-later bound: the test sets it when it is done
                try:
                    self.send_response(status)
                    if 300 <= status < 400:
                        self.send_header("Location", "/elsewhere")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the courier gave up waiting

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def events(self) -> list[dict]:
        with self.lock:
            return [json.loads(r["body"]) for r in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def hooked(settings, receiver):
    """Settings that send every job's events to ``receiver`` (on loopback, so private addresses allowed)."""
    return settings.replace(webhook_url=receiver.url, webhook_secret=SECRET, webhook_allow_private=True,
                            http_timeout=2.0)


def finished(spool: Spool, status: JobStatus, options: dict | None = None) -> JobState:
    state = JobState.queued(spool.submit("A tale.", "api", options).job_id, "api", options or {})
    if status is JobStatus.COMPLETED:
        state.complete(f"output/video_{state.job_id}.mp4")
    elif status is JobStatus.FAILED:
        state.fail("no voice", "speech")
    else:
        state.cancel("cancelled while queued")
    spool.write_state(state)
    return state


def runner(job: pipeline.Job) -> Path:
    if job.text == "Two.":
        raise StageError("speech", "no voice")
    job.output.write_bytes(b"video")
    return job.output


def waiting(spool: Spool) -> list[dict]:
    return [json.loads(p.read_bytes()) for p in sorted(spool.home.outbox.glob("*.json"))]


def verify(request: dict, secret: str = SECRET) -> dict:
    """What a receiver does: check the signature over the exact body, then decode it."""
    expected = "sha256=" + hmac.new(secret.encode(), request["body"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request["headers"]["x-ttvd-signature"], expected)
    return json.loads(request["body"])


# -- the option and the address rule ------------------------------------------------------------------

@pytest.mark.parametrize("url", ["https://hooks.example.com/ttvd?token=abc", "http://example.com:8080/",
                                 "http://[2001:db8::1]:9000/hook"])
def test_a_callback_url_is_an_http_url(url):
    assert validate({"callback_url": url}) == {"callback_url": url}


@pytest.mark.parametrize("url", ["ftp://example.com/", "https://user:pw@example.com/", "https://exa mple.com/",
                                 "https://example.com/\n", "http:///path", "https://example.com:99999/",
                                 "https://example.com/" + "a" * 2000, 42, "//example.com/"])
def test_a_bad_callback_url_is_refused_at_submission(url):
    with pytest.raises(ConfigError, match="callback_url"):
        validate({"callback_url": url})


@pytest.mark.parametrize("address, reason", [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"), ("10.1.2.3", "private"),
    ("192.168.0.10", "private"), ("172.16.5.4", "private"), ("169.254.169.254", "link-local"),
    ("fe80::1", "link-local"), ("fc00::1", "private"), ("224.0.0.1", "multicast"), ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"), ("100.64.0.1", "non-public"), ("240.0.0.1", "private"),
    ("2002:7f00:1::", "loopback"), ("64:ff9b::a00:1", "private"),
    ("93.184.215.14", None), ("2606:4700:4700::1111", None), ("::ffff:8.8.8.8", None)])
def test_only_public_addresses_are_delivered_to(address, reason):
    assert courier.forbidden(ipaddress.ip_address(address)) == reason


def test_a_host_name_is_refused_when_it_resolves_to_a_private_address():
    with pytest.raises(webhooks.Refused, match="loopback"):
        courier.check_destination("http://localhost:8080/hook", allow_private=False)
    courier.check_destination("http://localhost:8080/hook", allow_private=True)
    with pytest.raises(webhooks.Refused, match="credentials"):
        courier.check_destination("http://a:b@localhost/", allow_private=True)


# -- writing events -----------------------------------------------------------------------------------

def test_an_event_is_written_once_per_finish_and_only_where_a_url_applies(settings, spool, receiver):
    state = finished(spool, JobStatus.COMPLETED)
    assert webhooks.enqueue(spool, settings, state) is None  # no URL: no event
    queued = JobState.queued(spool.submit("More.", "api").job_id, "api", {})
    assert webhooks.enqueue(spool, settings.replace(webhook_url=receiver.url), queued) is None  # not finished

    own = finished(spool, JobStatus.FAILED, {"callback_url": receiver.url + "?job=own"})
    path = webhooks.enqueue(spool, settings.replace(webhook_url="https://default.example/"), own)
    assert path is not None and path.parent == spool.home.outbox
    entry = json.loads(path.read_bytes())
    assert entry["url"] == receiver.url + "?job=own" and entry["attempts"] == 0  # the job's own URL wins
    assert webhooks.enqueue(spool, settings.replace(webhook_url="https://default.example/"), own) is None
    assert len(waiting(spool)) == 1


def test_each_finished_job_sends_one_signed_event(hooked, spool, receiver):
    daemon = Daemon(hooked, spool, runner=runner)
    ok, bad = spool.submit("One.", "api").job_id, spool.submit("Two.", "api").job_id
    before = time.time()
    assert daemon.step() and daemon.step() and not daemon.step()
    after = time.time()
    assert Courier(spool, hooked).run_once() == 2

    events = {event["job_id"]: event for event in map(verify, receiver.requests)}
    assert events[ok] == {"event_id": events[ok]["event_id"], "event": "job.completed", "job_id": ok,
                          "status": "completed", "created_at": events[ok]["created_at"], "error": None,
                          "output_file": f"output/video_{ok}.mp4", "links": {
                              "status": f"/api/v1/status/{ok}", "download": f"/api/v1/download/{ok}",
                              "srt": f"/api/v1/download/{ok}?format=srt",
                              "vtt": f"/api/v1/download/{ok}?format=vtt",
                              "json": f"/api/v1/download/{ok}?format=json"}}
    assert int(before) <= events[ok]["created_at"] <= after  # when the job finished, in whole Unix seconds
    assert (events[bad]["event"], events[bad]["status"], events[bad]["error"]) == ("job.failed", "failed", "no voice")
    assert events[bad]["links"] == {"status": f"/api/v1/status/{bad}"} and events[bad]["output_file"] is None
    for request in receiver.requests:
        headers, event = request["headers"], json.loads(request["body"])
        assert headers["content-type"] == "application/json" and headers["user-agent"].startswith("ttvd/")
        assert (headers["x-ttvd-event"], headers["x-ttvd-event-id"]) == (event["event"], event["event_id"])
        assert request["path"] == "/hook"
    assert waiting(spool) == [] and not list((spool.home.outbox / "sending").iterdir())

    # A daemon killed after the event was written but before the request was filed: recovery files the
    # job again, and no second event is written.
    os.rename(spool.home.request("done", ok), spool.home.request("incoming", ok))
    assert daemon.step()
    assert (spool.home.queue("done") / f"{ok}.json").exists()
    assert Courier(spool, hooked).run_once() == 0 and len(receiver.requests) == 2


def test_a_job_cancelled_without_a_daemon_sends_its_event(hooked, spool, receiver):
    state = finished(spool, JobStatus.CANCELLED)  # what the API does for a queued job, then enqueue
    assert webhooks.enqueue(spool, hooked, state) is not None
    assert Courier(spool, hooked).run_once() == 1
    event = verify(receiver.requests[0])
    assert (event["event"], event["status"], event["error"]) == ("job.cancelled", "cancelled", None)
    assert event["event_id"] == webhooks.event_id(spool.read_state(state.job_id))


def test_without_a_secret_nothing_is_signed(hooked, spool, receiver):
    webhooks.enqueue(spool, hooked, finished(spool, JobStatus.COMPLETED))
    assert Courier(spool, hooked.replace(webhook_secret="")).run_once() == 1
    assert "x-ttvd-signature" not in receiver.requests[0]["headers"]


def test_a_sweep_writes_the_events_a_dead_process_never_wrote(hooked, spool):
    lost, fresh = finished(spool, JobStatus.COMPLETED), finished(spool, JobStatus.FAILED)
    old = time.time() - 2 * webhooks.SWEEP_GRACE_SECONDS
    os.utime(spool.home.job(lost.job_id).state, (old, old))
    assert webhooks.sweep(spool, hooked, time.time()) == 1  # the fresh one is left to its own process
    assert [entry["event"]["job_id"] for entry in waiting(spool)] == [lost.job_id]
    assert webhooks.sweep(spool, hooked, time.time()) == 0
    assert fresh.job_id not in {entry["event"]["job_id"] for entry in waiting(spool)}


# -- delivering ---------------------------------------------------------------------------------------

def test_a_failed_delivery_is_retried_with_backoff(hooked, spool, receiver):
    receiver.statuses = [500, 302]
    now = [1000.0]
    courier = Courier(spool, hooked, clock=lambda: now[0], backoff=(10.0, 15.0))
    webhooks.enqueue(spool, hooked, finished(spool, JobStatus.COMPLETED), now=now[0])

    assert courier.run_once() == 0
    [entry] = waiting(spool)
    assert (entry["attempts"], entry["last_error"]) == (1, "HTTP 500")
    assert 9 <= entry["due_at"] - now[0] <= 11
    assert courier.run_once() == 0 and len(receiver.requests) == 1  # not due yet

    now[0] += 11
    assert courier.run_once() == 0  # a redirect is not followed, and counts as a failure
    [entry] = waiting(spool)
    assert (entry["attempts"], entry["last_error"]) == (2, "HTTP 302")
    assert 13 <= entry["due_at"] - now[0] <= 16.5  # doubled, then capped
    assert [r["path"] for r in receiver.requests] == ["/hook", "/hook"]

    now[0] += 17
    assert courier.run_once() == 1 and waiting(spool) == []
    assert len({r["body"] for r in receiver.requests}) == 1  # the same bytes, the same event id every time
    assert len({r["headers"]["x-ttvd-signature"] for r in receiver.requests}) == 1


def test_an_unanswered_delivery_times_out_and_is_retried(hooked, spool):
    answer = threading.Event()
    silent = Receiver(hold=answer)  # takes the request and answers only once the test is over
    try:
        settings = hooked.replace(webhook_url=silent.url, http_timeout=0.3)
        webhooks.enqueue(spool, settings, finished(spool, JobStatus.COMPLETED))
        # run_once returns while the receiver still holds its answer: the courier gave up waiting
        # (a courier without a timeout would get the 200 after the hold, and count it delivered)
        assert Courier(spool, settings).run_once() == 0
        assert not answer.is_set() and len(silent.requests) == 1
        [entry] = waiting(spool)
        assert (entry["attempts"], entry["last_error"]) == (1, "no answer in time")
    finally:
        answer.set()
        silent.close()


def test_an_event_is_given_up_after_the_last_attempt(hooked, spool, receiver, caplog):
    receiver.statuses = [500, 503]
    settings = hooked.replace(webhook_max_attempts=2)
    now = [1000.0]
    courier = Courier(spool, settings, clock=lambda: now[0], backoff=(1.0, 1.0))
    state = finished(spool, JobStatus.FAILED)
    webhooks.enqueue(spool, settings, state, now=now[0])
    courier.run_once()
    now[0] += 2
    with caplog.at_level(logging.ERROR, logger="ttvd.webhooks"):
        courier.run_once()
    assert waiting(spool) == [] and len(receiver.requests) == 2
    [kept] = (spool.home.outbox / "failed").iterdir()
    entry = json.loads(kept.read_bytes())
    assert entry["attempts"] == 2 and entry["last_error"] == "HTTP 503, after 2 attempts"
    assert f"job {state.job_id}: job.failed event given up" in caplog.text
    now[0] += 3600
    assert courier.run_once() == 0 and len(receiver.requests) == 2


def test_a_private_address_is_refused_without_the_setting(settings, spool, receiver, caplog):
    refusing = settings.replace(webhook_url=receiver.url, webhook_secret=SECRET)  # 127.0.0.1, not allowed
    webhooks.enqueue(spool, refusing, finished(spool, JobStatus.COMPLETED))
    with caplog.at_level(logging.INFO, logger="ttvd.webhooks"):
        assert Courier(spool, refusing).run_once() == 0
    assert receiver.requests == [] and waiting(spool) == []  # refused at once: no retries
    [kept] = (spool.home.outbox / "failed").iterdir()
    entry = json.loads(kept.read_bytes())
    assert entry["attempts"] == 1 and "loopback address (127.0.0.1)" in entry["last_error"]
    assert "TTVD_WEBHOOK_ALLOW_PRIVATE" in caplog.text


def test_the_secret_is_never_logged_nor_written(hooked, spool, receiver, caplog):
    receiver.statuses = [500]
    courier = Courier(spool, hooked, backoff=(0.05, 0.05))
    with caplog.at_level(logging.DEBUG):
        daemon = Daemon(hooked, spool, runner=runner)
        spool.submit("One.", "api")
        spool.submit("Two.", "api")
        while daemon.step():
            pass
        assert courier.run_once() == 1  # one answered 500, the other was delivered
        time.sleep(0.1)
        assert courier.run_once() == 1
        refusing = hooked.replace(webhook_allow_private=False)
        webhooks.enqueue(spool, refusing, finished(spool, JobStatus.FAILED))
        Courier(spool, refusing).run_once()
    assert len(receiver.requests) == 3
    assert "not delivered" in caplog.text and "delivered" in caplog.text and "given up" in caplog.text
    assert SECRET not in caplog.text
    assert not [p for p in spool.home.root.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]


def test_two_couriers_never_hold_one_event_and_a_dead_claim_is_taken_back(hooked, spool, receiver):
    webhooks.enqueue(spool, hooked, finished(spool, JobStatus.COMPLETED))
    mine, theirs = Outbox(spool.home), Outbox(spool.home)
    [name] = mine.due(time.time())
    held = mine.claim(name)
    assert held is not None and theirs.claim(name) is None  # the other courier loses the race

    courier = Courier(spool, hooked)
    assert courier.run_once() == 0 and receiver.requests == []  # a live claim is left to its owner
    os.close(held.fd)  # its owner dies without a word: the kernel drops the lock
    assert courier.run_once() == 1 and len(receiver.requests) == 1
    assert not list((spool.home.outbox / "sending").iterdir())


def test_a_claim_recovered_before_its_time_waits_again(hooked, spool, receiver):
    now = [1000.0]
    courier = Courier(spool, hooked, clock=lambda: now[0])
    webhooks.enqueue(spool, hooked, finished(spool, JobStatus.COMPLETED), now=now[0])
    entry_path = next(spool.home.outbox.glob("*.json"))
    entry = json.loads(entry_path.read_bytes())
    entry["due_at"] = now[0] + 60  # as if a retry was rescheduled but its file came back under the old name
    entry_path.write_text(json.dumps(entry))
    assert courier.run_once() == 0 and receiver.requests == []
    [name] = [p.name for p in spool.home.outbox.glob("*.json")]
    assert name.startswith(f"{int((now[0] + 60) * 1000):013d}.")
    now[0] += 61
    assert courier.run_once() == 1


def test_a_courier_thread_starts_and_stops(hooked, spool, receiver):
    webhooks.enqueue(spool, hooked, finished(spool, JobStatus.COMPLETED))
    courier = Courier(spool, hooked).start()
    try:
        wait_for(lambda: receiver.requests, 10)
    finally:
        courier.stop()
    assert not courier._thread.is_alive()


# -- a real daemon, killed before it could deliver ----------------------------------------------------

@pytest.mark.slow
def test_an_event_survives_a_daemon_killed_before_delivery(start, home):
    port = free_port()  # nobody listens yet: the first delivery fails (refused at once, whatever the timeout)
    # A generous timeout: an answer that is merely slow on a loaded machine must not be tried again,
    # since a retry is a second delivery and this test counts deliveries.
    env = {"TTVD_WEBHOOK_URL": f"http://127.0.0.1:{port}/hook", "TTVD_WEBHOOK_SECRET": SECRET,
           "TTVD_WEBHOOK_ALLOW_PRIVATE": "1", "TTVD_HTTP_TIMEOUT": "60"}
    spool = Spool(home).ensure()
    job_id = spool.submit("A lamp. A light.", "api").job_id
    daemon = start(["daemon"], home, **env)

    def failed_once() -> bool:
        """The retry is written and its claim let go: a kill inside that move would leave the event twice
        (at least once, by design), and this test is about a kill between deliveries."""
        state = spool.read_state(job_id)
        return state is not None and state.status is JobStatus.COMPLETED and any(
            entry["attempts"] >= 1 for entry in waiting(spool)) and not list(
            (spool.home.outbox / "sending").glob("*.json"))
    wait_for(failed_once, 120, daemon)
    daemon.stop(signal.SIGKILL)
    expected = webhooks.event_id(spool.read_state(job_id))

    receiver = Receiver(port)
    try:
        again = start(["daemon"], home, **env)
        wait_for(lambda: receiver.requests, 30, again)
        wait_for(lambda: not waiting(spool) and not list((spool.home.outbox / "sending").iterdir()), 10, again)
        time.sleep(1.5)  # a round or so more: nothing else arrives
        assert again.stop() == 0
        events = [verify(request) for request in receiver.requests]
        assert [event["event_id"] for event in events] == [expected]
        assert (events[0]["job_id"], events[0]["event"]) == (job_id, "job.completed")
        assert SECRET not in again.output() + daemon.output()
    finally:
        receiver.close()


def test_the_api_takes_a_callback_url_and_refuses_a_bad_one(client):
    status, body = client.json("POST", "/api/v1/generate", {"text": "A tale.", "options": {
        "callback_url": "https://hooks.example.com/ttvd?token=abc"}})
    assert status == 202, body
    status, body = client.json("POST", "/api/v1/generate", {"text": "A tale.", "options": {
        "callback_url": "https://user:pw@hooks.example.com/"}})
    assert status == 400 and "callback_url" in body["error"]
