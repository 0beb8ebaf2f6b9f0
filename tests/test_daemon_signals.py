"""Signal handlers only set flags: a stop signal that lands while the daemon holds a lock still stops it."""
from __future__ import annotations

import socket
import subprocess
import sys

import pytest

# The daemon runs in a child process; its "pipeline" sends SIGTERM to its own process while the main
# thread holds the sd_notify lock, as it does while reporting a job step. A handler that took that
# lock (to say STOPPING=1) would wait for itself forever.
CHILD = r"""
import logging, os, signal, sys
from ttvd import config
from ttvd.daemon import Daemon
from ttvd.notify import Monitor, Notifier
from ttvd.spool import Spool

logging.basicConfig(level=logging.INFO)
home, address = sys.argv[1], sys.argv[2]
settings = config.load({}, TTVD_HOME=home, TTVD_POLL_SECONDS="0.1")
spool = Spool(home).ensure()
spool.submit("A tale told while a signal lands.", "api")
notifier = Notifier(address)

def runner(job):
    with notifier._lock:
        os.kill(os.getpid(), signal.SIGTERM)
        total = sum(range(100000))  # the handler runs on this thread, between these bytecodes
    job.output.write_bytes(b"video")
    return job.output

sys.exit(Daemon(settings, spool, runner=runner, monitor=Monitor(None, 600, notifier)).run())
"""


@pytest.mark.slow
def test_a_stop_signal_while_the_notifier_lock_is_held_still_stops_the_daemon(tmp_path, home):
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        sock.settimeout(0.5)
        try:
            child = subprocess.run([sys.executable, "-c", CHILD, str(home), address], capture_output=True,
                                   text=True, timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail("the daemon hung: its signal handler waited for a lock its own thread held")
        messages = []
        try:
            while True:
                messages.append(sock.recv(4096).decode())
        except TimeoutError:
            pass
    assert child.returncode == 0, child.stderr[-2000:]
    assert any("STOPPING=1" in m for m in messages)
    assert "stop signal received" in child.stderr
    assert list((home / "spool" / "done").iterdir()), "the job under way finished before the daemon stopped"
