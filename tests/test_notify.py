"""sd_notify, the health monitor and daemon files; and a real ``ttvd daemon`` talking to a socket we own."""
from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest

from ttvd import daemons
from ttvd.daemons import DaemonFile
from ttvd.home import Home
from ttvd.notify import Monitor, Notifier, watchdog_seconds

from helpers import process_env, wait_for


class NotifySocket:
    """The service manager's end: a datagram socket whose messages a thread collects, as systemd does
    (a queue nobody reads fills up, and the daemon's non-blocking sends would be dropped)."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)
        self.messages: list[str] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def _collect(self) -> None:
        while not self._closed.is_set():
            readable, _, _ = select.select([self.sock], [], [], 0.05)
            if readable:
                with self._lock:
                    self._take()

    def _take(self) -> None:
        """Move every queued datagram to ``messages`` (the caller holds ``_lock``)."""
        while True:
            try:
                self.messages.append(self.sock.recv(4096, socket.MSG_DONTWAIT).decode())
            except BlockingIOError:
                return

    def drain(self) -> list[str]:
        """Every message sent so far. A datagram is in the queue once its send returned, and the thread
        takes from the queue only under the lock: nothing is in between, whatever the machine's load."""
        with self._lock:
            self._take()
            return list(self.messages)

    def lines(self) -> list[str]:
        return [line for message in self.drain() for line in message.split("\n")]

    def close(self) -> None:
        self._closed.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture
def notify_socket(tmp_path):
    sock = NotifySocket(str(tmp_path / "notify.sock"))
    yield sock
    sock.close()


# -- the protocol -----------------------------------------------------------------------------------

def test_notifier_sends_one_datagram_to_a_path_socket(notify_socket):
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": notify_socket.address})
    assert notifier.send("READY=1", "STATUS=Waiting for jobs")
    assert notify_socket.drain() == ["READY=1\nSTATUS=Waiting for jobs"]


def test_notifier_reaches_an_abstract_socket():
    sock = NotifySocket(f"@ttvd-test-{uuid.uuid4().hex}")
    try:
        assert Notifier(sock.address).send("WATCHDOG=1")
        assert sock.drain() == ["WATCHDOG=1"]
    finally:
        sock.close()


def test_notifier_without_socket_does_nothing():
    notifier = Notifier.from_environ({})
    assert not notifier.enabled
    assert notifier.send("READY=1") is False


def test_notifier_survives_a_missing_socket(tmp_path):
    assert Notifier(str(tmp_path / "gone.sock")).send("READY=1") is False


@pytest.mark.parametrize("env, expected", [
    ({"WATCHDOG_USEC": "30000000"}, 30.0),
    ({"WATCHDOG_USEC": "500000", "WATCHDOG_PID": str(os.getpid())}, 0.5),
    ({"WATCHDOG_USEC": "500000", "WATCHDOG_PID": "1"}, None),  # meant for another process
    ({"WATCHDOG_USEC": "0"}, None),
    ({"WATCHDOG_USEC": "soon"}, None),
    ({}, None),
])
def test_watchdog_seconds(env, expected):
    assert watchdog_seconds(env) == expected


# -- the monitor ------------------------------------------------------------------------------------

class Recorder(Notifier):
    def __init__(self) -> None:
        super().__init__(None)
        self.sent: list[str] = []

    def send(self, *lines: str) -> bool:
        self.sent.extend(lines)
        return True


def test_monitor_is_ready_once_after_the_first_scan_and_reports_jobs(home):
    notifier = Recorder()
    monitor = Monitor(DaemonFile(Home(home)), 60, notifier)
    monitor.tick(0)
    assert "READY=1" not in notifier.sent
    monitor.scanned()
    monitor.scanned()
    assert notifier.sent.count("READY=1") == 1
    monitor.job_step("ab" * 16, 60, "Generating video search queries...")
    assert notifier.sent[-1] == f"STATUS=Running job {'ab' * 16}: 60% Generating video search queries..."
    monitor.stopping()
    monitor.stopping()
    assert notifier.sent.count("STOPPING=1") == 1
    assert notifier.sent[-1] == f"STATUS=Stopping: finishing job {'ab' * 16}"


def test_monitor_is_unhealthy_when_stalled_or_the_watcher_died(home):
    monitor = Monitor(DaemonFile(Home(home)), 10, Recorder())
    assert monitor.healthy()
    monitor.last_progress = time.monotonic() - 11
    assert not monitor.healthy()
    monitor.tick()
    assert monitor.healthy()
    monitor.watcher_alive = lambda: False
    assert not monitor.healthy()


def test_the_daemon_file_is_written_when_a_job_ends(home):
    """Not left to the monitor thread's rewrite every DAEMON_FILE_SECONDS: a finished job is in the file at
    once. The thread is not started here, so every write seen is one the daemon's calls made."""
    monitor = Monitor(DaemonFile(Home(home)), 60, Recorder())

    def written() -> dict:
        return json.loads(monitor.daemon_file.path.read_bytes())

    monitor.scanned()
    ready = written()
    assert (ready["status"], ready["jobs_run"]) == ("Waiting for jobs; 0 job(s) run since start", 0)
    monitor.job_step("ab" * 16, 60, "Generating video search queries...")
    monitor.tick(0)  # a round of the loop in which no job ended: nothing new to write
    assert written() == ready
    monitor.tick(1)
    after = written()
    assert (after["status"], after["jobs_run"], after["job_id"]) == (
        "Waiting for jobs; 1 job(s) run since start", 1, None)


def test_watchdog_pings_only_while_healthy(home):
    notifier = Recorder()
    monitor = Monitor(DaemonFile(Home(home)), 10, notifier, watchdog=0.04)
    monitor.start()
    wait_for(lambda: notifier.sent.count("WATCHDOG=1") >= 2, 5)
    assert monitor.daemon_file.path.exists()
    pings_when_asked: list[int] = []

    def dead_watcher() -> bool:
        pings_when_asked.append(notifier.sent.count("WATCHDOG=1"))
        return False

    # The monitor's thread asks before each ping whether to send it; counted by its asking, not by a
    # clock: a ping decided before the watcher died has landed by the thread's first question.
    monitor.watcher_alive = dead_watcher
    wait_for(lambda: len(pings_when_asked) >= 6, 30)  # five ping periods and more, all of them sick
    monitor.stop()
    assert notifier.sent.count("WATCHDOG=1") == pings_when_asked[0], pings_when_asked
    assert not monitor.daemon_file.path.exists()
    assert "STOPPING=1" in notifier.sent


# -- daemon files -----------------------------------------------------------------------------------

def test_daemon_files_are_read_with_their_age_and_judged(home):
    job = "cd" * 16
    mine = DaemonFile(Home(home))
    mine.write("Running job", job, 3)
    written = json.loads(mine.path.read_bytes())["heartbeat_at"]
    dead = _dead_pid()
    DaemonFile(Home(home), host=socket.gethostname(), pid=dead).write("Waiting for jobs", None, 0)
    DaemonFile(Home(home), host="elsewhere", pid=77).write("Waiting for jobs", None, 1)

    def read(now: float) -> dict:
        return {(b["host"], b["pid"]): b for b in daemons.read_all(Home(home), now=now)}

    beats = read(written + 5)  # read as if 5 s after this process wrote: no wall clock in the answer
    me = beats[(socket.gethostname(), os.getpid())]
    assert me["state"] == "ok" and me["job_id"] == job and me["jobs_run"] == 3
    assert me["seconds_since_heartbeat"] == 5.0
    assert beats[(socket.gethostname(), dead)]["state"] == "gone"
    assert beats[("elsewhere", 77)]["state"] == "ok"
    # a live process's file is judged by its heartbeat's age, either side of the stale limit
    stale = daemons.STALE_SECONDS
    assert read(written + stale - 1)[(socket.gethostname(), os.getpid())]["state"] == "ok"
    assert read(written + stale + 1)[(socket.gethostname(), os.getpid())]["state"] == "stale"
    assert read(written + stale + 1)[(socket.gethostname(), dead)]["state"] == "gone"


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# -- a real daemon ----------------------------------------------------------------------------------

def test_daemon_process_notifies_ready_watchdog_status_and_stopping(start, home, notify_socket, tmp_path):
    daemon = start(["daemon"], home, NOTIFY_SOCKET=notify_socket.address, WATCHDOG_USEC="400000")
    wait_for(lambda: "READY=1" in notify_socket.lines(), 30, daemon)
    lines = notify_socket.lines()
    assert lines.index("READY=1") < len(lines) and any(line.startswith("STATUS=Waiting for jobs") for line in lines)
    wait_for(lambda: notify_socket.lines().count("WATCHDOG=1") >= 3, 10, daemon)  # every 0.2 s

    beat = wait_for(lambda: _daemons(home), 10, daemon)[0]
    assert beat["pid"] == daemon.popen.pid and beat["state"] == "ok"
    assert beat["status"].startswith("Waiting for jobs")  # the ready daemon's file says so at once

    story = tmp_path / "story.txt"
    story.write_text("The lighthouse keeper counted the ships. Then the fog came in.")
    job_id = subprocess.run([sys.executable, "-m", "ttvd", "--home", str(home), "submit", str(story)],
                            capture_output=True, text=True, check=True, env=process_env(home)).stdout.strip()
    wait_for(lambda: "STATUS=Waiting for jobs; 1 job(s) run since start" in notify_socket.lines(), 60, daemon)
    assert any(line.startswith(f"STATUS=Running job {job_id}: ") for line in notify_socket.lines())
    # written when the job ended (test_the_daemon_file_is_written_when_a_job_ends shows it is not left to
    # the periodic rewrite); the timeout only fails a daemon that never writes it
    beat = wait_for(lambda: [b for b in _daemons(home) if b["jobs_run"] == 1], 60, daemon)[0]
    assert beat["status"].startswith("Waiting for jobs")

    daemon.popen.send_signal(signal.SIGTERM)
    assert daemon.popen.wait(20) == 0
    lines = notify_socket.lines()
    assert "STOPPING=1" in lines
    assert lines.index("STOPPING=1") > lines.index("READY=1")
    assert not _daemons(home), "a cleanly stopped daemon removes its daemon file"


def test_status_summary_shows_queue_running_jobs_and_daemons(start, home, spool):
    daemon = start(["daemon"], home)
    wait_for(lambda: _daemons(home), 30, daemon)
    spool.submit("A short text that waits in the queue.", "cli")
    out = subprocess.run([sys.executable, "-m", "ttvd", "status"], capture_output=True, text=True,
                         check=True, env=process_env(home)).stdout
    summary = json.loads(out)
    assert set(summary) >= {"queued", "active", "running", "jobs", "daemons"}
    assert summary["daemons"][0]["pid"] == daemon.popen.pid
    assert summary["daemons"][0]["state"] == "ok"  # a fresh heartbeat from a live process, as judged by ttvd
    assert isinstance(summary["daemons"][0]["seconds_since_heartbeat"], float)
    assert daemon.stop() == 0


def _daemons(home):
    return daemons.read_all(Home(home))
