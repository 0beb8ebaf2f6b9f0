"""Telling the service manager how the daemon is: the sd_notify protocol and a health monitor.

sd_notify is one datagram of ``KEY=VALUE`` lines to the AF_UNIX socket named in ``$NOTIFY_SOCKET``
(a leading ``@`` names an abstract socket). Without that variable every call is a no-op, so the
daemon runs the same under systemd, under another supervisor, or in a terminal.

The ``Monitor`` sends ``READY=1`` after the first scan, ``STATUS=`` lines as jobs move, and, from its
own thread, ``WATCHDOG=1`` at half of ``$WATCHDOG_USEC`` only while the daemon is healthy: the file
watcher is alive and the loop or the running job made progress within the stall limit. On the same
thread it rewrites this daemon's status file (``ttvd.daemons``), so ``ttvd status`` shows health without systemd.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping

from ttvd.daemons import DaemonFile
from ttvd.errors import NoSpaceError
from ttvd.home import Home

log = logging.getLogger(__name__)

DAEMON_FILE_SECONDS = 10.0  # how often a healthy daemon rewrites its status file


class Notifier:
    """Sends sd_notify messages to ``$NOTIFY_SOCKET``; does nothing when it is unset."""

    def __init__(self, address: str | None) -> None:
        if address and address.startswith("@"):
            address = "\0" + address[1:]
        self.address = address or None
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        environ = os.environ if environ is None else environ
        return cls(environ.get("NOTIFY_SOCKET"))

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *lines: str) -> bool:
        """Send ``lines`` as one datagram; False (and a debug line) when it could not be sent."""
        if self.address is None:
            return False
        message = "\n".join(lines).encode("utf-8")
        with self._lock:
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                # Never block: a manager that is not reading must not stall the daemon. A dropped
                # STATUS is replaced by the next; a dropped WATCHDOG=1 is sent again next period.
                self._sock.sendto(message, socket.MSG_DONTWAIT, self.address)
                return True
            except OSError as exc:
                log.debug("sd_notify to %r failed: %s", self.address, exc)
                return False

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None


def watchdog_seconds(environ: Mapping[str, str] | None = None) -> float | None:
    """The watchdog timeout systemd set for this process, in seconds; None when there is none."""
    environ = os.environ if environ is None else environ
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    pid = environ.get("WATCHDOG_PID")
    if usec <= 0 or (pid and pid.isdigit() and int(pid) != os.getpid()):
        return None
    return usec / 1_000_000


class Monitor:
    """The daemon's health as the service manager and ``ttvd status`` see it.

    Inert until ``start()``; the daemon calls ``scanned()``, ``tick()``, ``job_step()`` and
    ``stopping()`` as it works, and ``stop()`` on the way out.
    """

    def __init__(self, daemon_file: DaemonFile | None, stall_seconds: float,
                 notifier: Notifier | None = None, watchdog: float | None = None,
                 watcher_alive: Callable[[], bool] = lambda: True) -> None:
        self.daemon_file = daemon_file
        self.stall_seconds = stall_seconds
        self.notifier = notifier or Notifier(None)
        self.watchdog = watchdog
        self.watcher_alive = watcher_alive
        self.last_progress = time.monotonic()
        self.job_id: str | None = None
        self.jobs_run = 0
        self.status = "Starting"
        self.ready = False
        self._stopping = False
        self._sick_reason: str | None = None
        self._done = threading.Event()
        self._file_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._sent_status: str | None = None

    @classmethod
    def for_daemon(cls, home: Home, stall_seconds: float) -> Monitor:
        """A monitor wired to this process's environment: $NOTIFY_SOCKET, $WATCHDOG_USEC."""
        return cls(DaemonFile(home), stall_seconds, Notifier.from_environ(), watchdog_seconds())

    @classmethod
    def inert(cls) -> Monitor:
        """A monitor that reports nothing: for a daemon stepped by hand."""
        return cls(None, float("inf"))

    # -- what the daemon tells it ------------------------------------------------------------------

    def start(self, watcher_alive: Callable[[], bool] = lambda: True) -> None:
        """Start the thread that sends watchdog pings and rewrites the daemon file."""
        self.watcher_alive = watcher_alive
        self.last_progress = time.monotonic()
        self._set_status("Starting: recovering abandoned jobs and scanning the watch folder")
        self._thread = threading.Thread(target=self._beat, name="ttvd-monitor", daemon=True)
        self._thread.start()

    def scanned(self) -> None:
        """The first scan is done: the daemon is ready (sent once)."""
        self.last_progress = time.monotonic()
        if not self.ready:
            self.ready = True
            self.status = self._idle_status()
            self._write_daemon_file()  # before READY=1: whoever sees READY sees a ready daemon's file
            self._set_status(self.status, "READY=1")

    def tick(self, jobs_run: int | None = None) -> None:
        """One round of the loop between jobs: progress, and an idle status line."""
        self.last_progress = time.monotonic()
        finished_one = jobs_run is not None and jobs_run != self.jobs_run
        if jobs_run is not None:
            self.jobs_run = jobs_run
        self.job_id = None
        if self.ready and not self._stopping:
            self._set_status(self._idle_status())
        if finished_one:
            self._write_daemon_file()

    def job_step(self, job_id: str, progress: int, message: str) -> None:
        """The running job moved: progress, and a status line saying where it is."""
        self.last_progress = time.monotonic()
        self.job_id = job_id
        prefix = "Stopping after" if self._stopping else "Running"
        self._set_status(f"{prefix} job {job_id}: {progress}% {message}")

    def stopping(self) -> None:
        """Shutdown has begun (sent once)."""
        if self._stopping:
            return
        self._stopping = True
        what = f"finishing job {self.job_id}" if self.job_id else "no job running"
        self._set_status(f"Stopping: {what}", "STOPPING=1")

    def stop(self) -> None:
        """The daemon is leaving: say so, end the thread, remove the daemon file."""
        self.stopping()
        self._set_status(f"Stopped after {self.jobs_run} job(s)")
        self._done.set()
        if self._thread is not None:
            self._thread.join(5)
        if self.daemon_file is not None:
            self.daemon_file.remove()
        self.notifier.close()

    # -- health ------------------------------------------------------------------------------------

    def healthy(self) -> bool:
        """True while the watcher is alive and the daemon made progress within the stall limit."""
        reason = None
        if not self.watcher_alive():
            reason = "the file watcher is not running"
        elif time.monotonic() - self.last_progress > self.stall_seconds:
            where = f"job {self.job_id}" if self.job_id else "the loop"
            reason = f"{where} made no progress for over {self.stall_seconds:g} s"
        if reason != self._sick_reason:
            if reason:
                log.error("unhealthy: %s; watchdog pings and daemon-file updates stop", reason)
            else:
                log.info("healthy again; watchdog pings and daemon-file updates resume")
            self._sick_reason = reason
        return reason is None

    def _beat(self) -> None:
        period = self.watchdog / 2 if self.watchdog else float("inf")
        next_ping = next_file = time.monotonic()
        while True:
            now = time.monotonic()
            healthy = self.healthy()
            if now >= next_ping:
                if healthy:
                    self.notifier.send("WATCHDOG=1")
                next_ping = now + period
            if now >= next_file:
                if healthy and self.daemon_file is not None:
                    self._write_daemon_file()
                next_file = now + DAEMON_FILE_SECONDS
            if self._done.wait(max(0.01, min(next_ping, next_file) - time.monotonic())):
                return

    def _write_daemon_file(self) -> None:
        if self.daemon_file is None:
            return
        try:
            with self._file_lock:  # read and write under one lock, so an older status never lands last
                self.daemon_file.write(self.status, self.job_id, self.jobs_run)
        except (OSError, NoSpaceError) as exc:  # a full disk must not stop the daemon; the next round retries
            log.warning("cannot write the daemon file %s: %s", self.daemon_file.path, exc)

    def _set_status(self, status: str, *extra: str) -> None:
        self.status = status
        if status != self._sent_status or extra:
            self._sent_status = status
            self.notifier.send(*extra, f"STATUS={status}")

    def _idle_status(self) -> str:
        return f"Waiting for jobs; {self.jobs_run} job(s) run since start"
