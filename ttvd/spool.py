"""The spool: a Maildir-style queue of job requests plus one state file per job.

Requests move ``tmp -> incoming -> active -> done|failed`` by ``rename``; a daemon claims a job by
renaming it into ``active/`` (losing that race is ``FileNotFoundError``, not an error). States live in
``state/<id>.json`` and are replaced atomically. The spool knows files, claims and states, not videos.
"""
from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ttvd import atomic
from ttvd.errors import InputError
from ttvd.job import JobState, JobStatus, is_valid_id, new_id

log = logging.getLogger(__name__)

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

    def claim_next(self) -> Request | None:
        """Claim the oldest queued job by renaming it into ``active/``; None when nothing is left."""
        for path in self._sorted_by_age(self.dir("incoming")):
            request = self.claim(path.stem)
            if request is not None:
                return request
        return None

    def claim(self, job_id: str) -> Request | None:
        if not is_valid_id(job_id):
            self._set_aside(self.dir("incoming") / f"{job_id}.json", "its name is not a job id")
            return None
        active = self.dir("active") / f"{job_id}.json"
        try:
            os.rename(self.dir("incoming") / f"{job_id}.json", active)
        except FileNotFoundError:
            return None  # another daemon won the race
        try:
            return Request.from_json(active.read_bytes())
        except (ValueError, TypeError, UnicodeDecodeError) as exc:
            self._set_aside(active, str(exc))
            return None

    def finish(self, job_id: str, ok: bool) -> None:
        """Move a claimed request to ``done/`` or ``failed/``."""
        target = self.dir("done" if ok else "failed") / f"{job_id}.json"
        os.replace(self.dir("active") / f"{job_id}.json", target)

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
