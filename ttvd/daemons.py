"""One status file per running daemon, ``spool/daemons/<host>-<id>.json``, for ``ttvd status``.

A daemon rewrites its file (atomically) every few seconds while it is healthy and removes it when it
exits cleanly; a file that stops changing belongs to a daemon that hangs or died. (Not to be confused
with a claim's lease, ``ttvd.claim``, nor with systemd's watchdog pings, ``ttvd.notify``.) It holds::

    {"id": "<uuid4 hex>", "host": "web1", "pid": 4242, "boot_id": "<kernel boot id>",
     "pid_ns": "pid:[4026531836]", "started_at": 1700000000.0, "heartbeat_at": 1700000420.5,
     "status": "Running job <id>: 60% Generating video search queries...", "job_id": "<id>",
     "jobs_run": 7}

The id, made at start, names the daemon: in containers every daemon may be PID 1 on a host of the same
name. A reader asks the kernel whether the pid lives only when the file was written in its own boot
and PID namespace; for any other daemon the heartbeat's freshness decides.
"""
from __future__ import annotations

import json
import os
import socket
import time
import uuid
from typing import Any

from ttvd import atomic
from ttvd.home import Home

STALE_SECONDS = 60.0  # six missed heartbeats
MAX_STATUS_BYTES = 64 * 1024  # a status file is a few hundred bytes


class DaemonFile:
    """This process's status file in ``home``."""

    def __init__(self, home: Home, host: str | None = None, pid: int | None = None) -> None:
        self.id = uuid.uuid4().hex
        self.host = host or socket.gethostname()
        self.pid = pid or os.getpid()
        self.started_at = time.time()
        self.dir = home.daemons
        self.tmp_dir = home.queue("tmp")
        self.path = self.dir / f"{self.host}-{self.id}.json"

    def write(self, status: str, job_id: str | None, jobs_run: int) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic.write_json(self.path, {
            "id": self.id, "host": self.host, "pid": self.pid, **_here(),
            "started_at": self.started_at,
            "heartbeat_at": time.time(), "status": status, "job_id": job_id, "jobs_run": jobs_run,
        }, tmp_dir=self.tmp_dir if self.tmp_dir.is_dir() else None)

    def remove(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


def read_all(home: Home, now: float | None = None) -> list[dict[str, Any]]:
    """Every daemon's last status, with its age and whether it looks alive; newest first."""
    now = time.time() if now is None else now
    found: list[dict[str, Any]] = []
    directory = home.daemons
    if not directory.is_dir():
        return found
    for path in directory.glob("*.json"):
        try:
            beat = json.loads(atomic.read_regular(path, MAX_STATUS_BYTES))
            age = round(now - float(beat["heartbeat_at"]), 1)
        except (OSError, ValueError, KeyError, TypeError):
            continue  # being replaced, or not ours: the next look will see it
        beat["seconds_since_heartbeat"] = age
        beat["state"] = _judge(beat, age)
        found.append(beat)
    return sorted(found, key=lambda b: b["seconds_since_heartbeat"])


def alive(beats: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The daemons of ``beats`` (from ``read_all``) that serve the home: a fresh heartbeat, a live process."""
    return [beat for beat in beats if beat["state"] == "ok"]


def _judge(beat: dict[str, Any], age: float) -> str:
    """``ok``, ``stale`` (no heartbeat for a while: hung, or where we cannot see) or ``gone``.

    The pid is asked about only when the file comes from this host, boot and PID namespace; a pid
    from another namespace (another container's PID 1) names some other process here, or none.
    """
    here = _here()
    same = beat.get("host") == socket.gethostname() and all(
        here[key] and beat.get(key) == here[key] for key in here)
    if same and isinstance(beat.get("pid"), int):
        try:
            os.kill(beat["pid"], 0)
        except ProcessLookupError:
            return "gone"
        except PermissionError:
            pass  # alive, owned by another user
    return "stale" if age > STALE_SECONDS else "ok"


def _here() -> dict[str, str]:
    """This process's boot and PID namespace, as written in status files ("" where unknown)."""
    return {"boot_id": _read("/proc/sys/kernel/random/boot_id"), "pid_ns": _link("/proc/self/ns/pid")}


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read().strip()
    except (OSError, ValueError):
        return ""


def _link(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""
