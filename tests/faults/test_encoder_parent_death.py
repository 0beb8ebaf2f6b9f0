"""An encoder dies with its daemon, however the daemon dies (docs/guarantees.md, "Graceful stop"): the
kernel kills it the moment its parent is gone (``PR_SET_PDEATHSIG``, set in ``ttvd.media``).

Seeing the encoder vanish soon after the daemon does not prove that: an orphaned ffmpeg ends anyway a
few seconds later, when it has finished a short test video or met its broken progress pipe. So the
daemon runs under a reaper, as it would under systemd or an init such as tini: a process that adopts
the orphans below it (``PR_SET_CHILD_SUBREAPER``) and writes down how each child it waits for ended.
The daemon's own encoder must have ended by SIGKILL, which nobody but the kernel sends it here.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from faults.faultkit import SLOW, SLOW_TEXT, encoders, rendering
from ttvd.spool import Spool

from helpers import process_env, wait_for

# Adopts the orphans below it and writes "pid waitstatus" for each child it reaps; the first line is
# "daemon <pid>". It exits once it has no child left.
REAPER = r"""
import ctypes, os, sys
if ctypes.CDLL(None, use_errno=True).prctl(36, 1) != 0:  # PR_SET_CHILD_SUBREAPER
    sys.exit(f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(ctypes.get_errno())}")
report = open(sys.argv[1], "w", buffering=1)
report.write(f"daemon {os.posix_spawn(sys.executable, [sys.executable, '-m', 'ttvd', 'daemon'], os.environ)}\n")
while True:
    try:
        pid, status = os.wait()
    except ChildProcessError:
        break
    report.write(f"{pid} {status}\n")
"""
# Generous: the kernel sends the signal as the daemon exits, so the encoder is reaped within
# milliseconds; the bound only has to outlast a loaded machine's scheduling delays.
PROMPTLY_SECONDS = 10.0


class Reaper:
    """``ttvd daemon`` run under the reaper; what the reaper wrote and the daemon logged."""

    def __init__(self, home: Path, folder: Path) -> None:
        self.report = folder / "reaped.txt"
        self.log = folder / "daemon.log"
        with open(self.log, "wb") as out:
            self.popen = subprocess.Popen([sys.executable, "-c", REAPER, str(self.report)],
                                          env=process_env(home, **SLOW), stdout=out, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def lines(self) -> list[list[str]]:
        return [line.split() for line in self.report.read_text().splitlines()] if self.report.exists() else []

    def daemon(self) -> int | None:
        return next((int(pid) for name, pid in self.lines() if name == "daemon"), None)

    def ended(self, pid: int) -> int | None:
        """The wait status of ``pid`` once the reaper has reaped it."""
        return next((int(status) for name, status in self.lines() if name == str(pid)), None)

    def wait(self, pid: int, timeout: float) -> int:
        """The wait status of ``pid``; fails the test if it is not reaped within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while (status := self.ended(pid)) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if status is None:
            pytest.fail(f"process {pid} was still running {timeout:.0f} s after its daemon was killed")
        return status


@pytest.fixture
def reaped(home, tmp_path) -> Iterator[Reaper]:
    reaper = Reaper(home, tmp_path)
    yield reaper
    for pid in [reaper.daemon(), *encoders(home)]:  # whatever a failed test left running
        if pid is not None:
            _kill(pid)
    reaper.popen.kill()
    reaper.popen.wait(10)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("PPid:"))


@pytest.mark.slow  # a real `ttvd daemon` (started by the reaper, not by the `start` fixture)
def test_sigkill_of_the_daemon_makes_the_kernel_kill_its_encoder_at_once(home, reaped):
    job_id = Spool(home).ensure().submit(SLOW_TEXT, "cli").job_id
    wait_for(lambda: rendering(home, job_id), 90, reaped)
    daemon = reaped.daemon()
    [encoder] = encoders(home)
    assert daemon is not None and parent_of(encoder) == daemon  # the daemon's own child, as the kernel sees it

    os.kill(daemon, signal.SIGKILL)
    status = reaped.wait(encoder, PROMPTLY_SECONDS)
    assert _how(status) == "signal SIGKILL", "the encoder outlived its daemon and ended on its own"
    assert reaped.popen.wait(PROMPTLY_SECONDS) == 0  # every child reaped: nothing of the daemon is left running
    assert _how(reaped.ended(daemon) or 0) == "signal SIGKILL"
    assert encoders(home) == []


def _how(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"
