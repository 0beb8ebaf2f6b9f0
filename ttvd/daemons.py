"""One status file per running daemon, ``spool/daemons/<host>-<pid>.json``, for ``ttvd status``.

A daemon rewrites its file (atomically) every few seconds while it is healthy and removes it when it
exits cleanly; a file that stops changing belongs to a daemon that hangs or died. (Not to be confused
with a claim's lease, ``ttvd.claim``, nor with systemd's watchdog pings, ``ttvd.notify``.) It holds::

    {"host": "web1", "pid": 4242, "started_at": 1700000000.0, "heartbeat_at": 1700000420.5,
     "status": "Running job <id>: 60% Generating video search queries...", "job_id": "<id>",
     "jobs_run": 7}
"""
from __future__ import annotations

import json
import os
import socket
import time
from typing import Any

from ttvd import atomic
from ttvd.home import Home

STALE_SECONDS = 60.0  # six missed heartbeats


class DaemonFile:
    """This process's status file in ``home``."""

    def __init__(self, home: Home, host: str | None = None, pid: int | None = None) -> None:
        self.host = host or socket.gethostname()
        self.pid = pid or os.getpid()
        self.started_at = time.time()
        self.dir = home.daemons
        self.tmp_dir = home.queue("tmp")
        self.path = self.dir / f"{self.host}-{self.pid}.json"

    def write(self, status: str, job_id: str | None, jobs_run: int) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic.write_json(self.path, {
            "host": self.host, "pid": self.pid, "started_at": self.started_at,
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
            beat = json.loads(path.read_bytes())
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
    """``ok``, ``stale`` (no heartbeat for a while: hung, or on a host we cannot see) or ``gone``."""
    if beat.get("host") == socket.gethostname() and isinstance(beat.get("pid"), int):
        try:
            os.kill(beat["pid"], 0)
        except ProcessLookupError:
            return "gone"
        except PermissionError:
            pass  # alive, owned by another user
    return "stale" if age > STALE_SECONDS else "ok"
