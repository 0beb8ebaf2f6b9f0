"""The spool: a Maildir-style queue of job requests plus one state file per job.

Requests move ``tmp -> incoming -> active -> done|failed`` by ``rename``; a daemon claims a job by
renaming it into ``active/`` (losing that race is ``FileNotFoundError``, not an error). States live in
``state/<id>.json`` and are replaced atomically. The spool knows files, claims and states, not videos.
"""
from __future__ import annotations

import fcntl
import json
import logging
import threading
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ttvd import atomic
from ttvd.errors import InputError
from ttvd.job import JobState, JobStatus, is_valid_id, new_id

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 64 * 1024 * 1024
HEARTBEAT_SECONDS = 10.0
QUEUE_DIRS = ("tmp", "incoming", "active", "done", "failed", "corrupt", "state")


@dataclass
class Request:
    """What a daemon needs to run a job: the text and how it was asked for."""

    job_id: str
    text: str
    source: str = "api"
    options: dict[str, Any] = field(default_factory=dict)
    created_at: int = field(default_factory=lambda: int(time.time()))
    attempts: int = 0
    origin: str | None = None

    @classmethod
    def from_json(cls, raw: bytes) -> "Request":
        data = json.loads(raw)
        if not isinstance(data, dict) or not is_valid_id(data.get("job_id")):
            raise ValueError("not a job request")
        if not isinstance(data.get("text"), str):
            raise ValueError("request has no text")
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def _owner_gone(fd: int, lease: float) -> bool:
    """True when nobody holds the lock on ``fd``'s file, or its heartbeat is older than ``lease``."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return time.time() - os.fstat(fd).st_mtime > lease


class Claim:
    """A job this process holds: the request, the lock on its file, and its way out of ``active/``."""

    def __init__(self, spool: "Spool", request: Request, fd: int) -> None:
        self.spool = spool
        self.request = request
        self._fd = fd
        self.path = spool.dir("active") / f"{request.job_id}.json"

    def keep_alive(self, interval: float = HEARTBEAT_SECONDS) -> threading.Event:
        """Touch the claim's mtime every ``interval`` seconds until the returned event is set."""
        done = threading.Event()

        def beat() -> None:
            while not done.wait(interval):
                try:
                    os.utime(self.path)
                except FileNotFoundError:
                    return

        threading.Thread(target=beat, name=f"heartbeat-{self.request.job_id[:8]}", daemon=True).start()
        return done

    def finish(self, ok: bool) -> None:
        """Move the request to ``done/`` or ``failed/`` and drop the lock."""
        self._leave("done" if ok else "failed")

    def release(self) -> None:
        """Give the job back to the queue (a graceful stop) and drop the lock."""
        self._leave("incoming")

    def _leave(self, queue: str) -> None:
        try:
            os.rename(self.path, self.spool.dir(queue) / self.path.name)
        finally:
            os.close(self._fd)


class Spool:
    """The queue directories and state files under one home."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self.root = self.home / "spool"
        self.output = self.home / "output"
        self.work = self.home / "work"
        self.watch = self.home / "watch"

    def dir(self, name: str) -> Path:
        return self.root / name

    def ensure(self) -> "Spool":
        for name in QUEUE_DIRS:
            self.dir(name).mkdir(parents=True, exist_ok=True)
        for path in (self.output, self.work, self.watch):
            path.mkdir(parents=True, exist_ok=True)
        return self

    # -- submitting -------------------------------------------------------------------------------

    def submit(self, text: str, source: str, options: dict[str, Any] | None = None,
               origin: str | None = None) -> JobState:
        """Queue a job: its state first (so status answers at once), then its request."""
        request = Request(new_id(), text, source, dict(options or {}), origin=origin)
        state = JobState(request.job_id, created_at=request.created_at, source=source,
                         options=request.options, origin=origin)
        self.write_state(state)
        self._put(request, "incoming")
        log.info("job %s queued (source %s)", request.job_id, source)
        return state

    def reject(self, reason: str, source: str, origin: str | None = None) -> JobState:
        """Record a job that failed before it could be queued, so the user can read why."""
        state = JobState(new_id(), status=JobStatus.FAILED, message=reason, source=source,
                         origin=origin, error=reason, logs=[reason])
        self.write_state(state)
        log.warning("job %s rejected (source %s): %s", state.job_id, source, reason)
        return state

    def _put(self, request: Request, queue: str) -> None:
        data = json.dumps(asdict(request), ensure_ascii=False).encode("utf-8")
        tmp = self.dir("tmp") / f"{request.job_id}.json"
        atomic.write_bytes(tmp, data)
        os.rename(tmp, self.dir(queue) / tmp.name)

    # -- claiming ---------------------------------------------------------------------------------

    def queued_ids(self) -> list[str]:
        """Ids waiting in ``incoming/``, oldest first."""
        return [path.stem for path in self._sorted_by_age(self.dir("incoming"))]

    def claim_next(self) -> "Claim | None":
        """Claim the oldest queued job; None when nothing is left."""
        for path in self._sorted_by_age(self.dir("incoming")):
            claim = self.claim(path.stem)
            if claim is not None:
                return claim
        return None

    def claim(self, job_id: str) -> "Claim | None":
        """Lock the request, then rename it into ``active/``; None if another daemon got it first.

        The lock is taken on the file before the rename and held until the job leaves ``active/``,
        so a live claim is never mistaken for an abandoned one.
        """
        incoming = self.dir("incoming") / f"{job_id}.json"
        if not is_valid_id(job_id):
            self._set_aside(incoming, "its name is not a job id")
            return None
        try:
            fd = os.open(incoming, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            active = self.dir("active") / incoming.name
            os.rename(incoming, active)
        except (BlockingIOError, FileNotFoundError):
            os.close(fd)
            return None  # another daemon won the race
        os.utime(active)
        try:
            request = Request.from_json(os.pread(fd, MAX_REQUEST_BYTES, 0))
        except (ValueError, TypeError, UnicodeDecodeError) as exc:
            os.close(fd)
            self._set_aside(active, str(exc))
            return None
        return Claim(self, request, fd)

    def recover(self, lease: float = 120.0) -> list[str]:
        """Put claims whose owner is gone back in ``incoming/``; returns their ids.

        An owner is gone when its lock is free (the process died) or, where locks do not reach
        (another host), when its heartbeat is older than ``lease`` seconds.
        """
        recovered = []
        for path in self.dir("active").glob("*.json"):
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                if _owner_gone(fd, lease):
                    os.rename(path, self.dir("incoming") / path.name)
                    recovered.append(path.stem)
                    log.warning("job %s: its daemon is gone; back in the queue", path.stem)
            except FileNotFoundError:
                pass
            finally:
                os.close(fd)
        self._clean_tmp()
        return recovered

    def _clean_tmp(self, max_age: float = 3600.0) -> None:
        """Remove files a crash left half-written in ``tmp/`` once they are clearly abandoned."""
        for path in self.dir("tmp").iterdir():
            try:
                if time.time() - path.stat().st_mtime > max_age:
                    path.unlink()
                    log.info("removed stale temporary file spool/tmp/%s", path.name)
            except FileNotFoundError:
                continue

    def active_ids(self) -> list[str]:
        return [path.stem for path in self.dir("active").glob("*.json")]

    def _set_aside(self, path: Path, reason: str) -> None:
        try:
            os.rename(path, self.dir("corrupt") / f"{path.name}.{int(time.time())}")
        except FileNotFoundError:
            return
        log.error("request %r cannot be read (%s): moved to spool/corrupt/", path.name, reason)

    @staticmethod
    def _sorted_by_age(directory: Path) -> list[Path]:
        entries = []
        for path in directory.glob("*.json"):
            try:
                entries.append((path.stat().st_mtime_ns, path.name, path))
            except FileNotFoundError:
                continue
        return [path for _, _, path in sorted(entries)]

    # -- states -----------------------------------------------------------------------------------

    def state_path(self, job_id: str) -> Path:
        if not is_valid_id(job_id):
            raise InputError("Job not found")
        return self.dir("state") / f"{job_id}.json"

    def write_state(self, state: JobState) -> None:
        state.updated_at = time.time()
        atomic.write_json(self.state_path(state.job_id), state.to_dict(), tmp_dir=self.dir("tmp"))

    def read_state(self, job_id: str) -> JobState | None:
        """The job's state, or None for an unknown or invalid id."""
        if not is_valid_id(job_id):
            return None
        try:
            return JobState.from_dict(json.loads(self.state_path(job_id).read_bytes()))
        except FileNotFoundError:
            return None

    def states(self) -> Iterator[JobState]:
        """Every readable state, oldest first; unreadable ones are logged and skipped."""
        found = []
        for path in self.dir("state").glob("*.json"):
            if not is_valid_id(path.stem):
                continue
            try:
                found.append(JobState.from_dict(json.loads(path.read_bytes())))
            except FileNotFoundError:
                continue
            except (ValueError, TypeError) as exc:
                log.error("state file %s cannot be read: %s", path.name, exc)
        return iter(sorted(found, key=lambda s: (s.created_at, s.job_id)))

    def output_path(self, job_id: str) -> Path:
        if not is_valid_id(job_id):
            raise InputError("Job not found")
        return self.output / f"video_{job_id}.mp4"

    def audio_path(self, job_id: str) -> Path:
        if not is_valid_id(job_id):
            raise InputError("Job not found")
        return self.output / f"audio_{job_id}.wav"

    def work_dir(self, job_id: str) -> Path:
        if not is_valid_id(job_id):
            raise InputError("Job not found")
        return self.work / job_id
