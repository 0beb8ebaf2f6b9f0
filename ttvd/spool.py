"""The spool: a Maildir-style queue of job requests plus one state file per job.

Requests move ``tmp -> incoming -> active -> done|failed`` by ``rename``; a daemon claims a job by
renaming it into ``active/`` (losing that race is ``FileNotFoundError``, not an error). States live in
``state/<id>.json`` and are replaced atomically. The spool knows files, claims and states, not videos.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import stat
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterator

from ttvd import atomic
from ttvd.claim import MAX_REQUEST_BYTES, Claim, Request, owner_gone
from ttvd.errors import InputError, NoSpaceError
from ttvd.job import JobState, JobStatus, is_valid_id, new_id

log = logging.getLogger(__name__)

LEASE_SECONDS = 120.0  # a heartbeat older than this means the claim's owner is gone
TMP_MAX_AGE_SECONDS = 3600.0  # temporary files older than this were left by a crash
QUEUE_DIRS = ("tmp", "incoming", "active", "done", "failed", "corrupt", "state")


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
        """Queue a job durably, or raise (``NoSpaceError`` on a full disk) leaving nothing behind.

        The request is written to ``tmp/`` first, then the state (so status answers at once), then
        the request is renamed into ``incoming/``. A crash in between leaves a complete request in
        ``tmp/`` next to its state, which ``recover()`` finishes queueing.
        """
        request = Request(new_id(), text, source, dict(options or {}), origin=origin)
        state = JobState(request.job_id, created_at=request.created_at, source=source,
                         options=request.options, origin=origin)
        tmp = self.dir("tmp") / f"{request.job_id}.json"
        atomic.write_bytes(tmp, json.dumps(asdict(request), ensure_ascii=False).encode("utf-8"))
        try:
            self.write_state(state)
            os.rename(tmp, self.dir("incoming") / tmp.name)
        except BaseException:
            for path in (tmp, self.dir("state") / tmp.name):
                path.unlink(missing_ok=True)
            raise
        log.info("job %s queued (source %s)", request.job_id, source)
        return state

    def reject(self, reason: str, source: str, origin: str | None = None) -> JobState:
        """Record a job that failed before it could be queued, so the user can read why."""
        state = JobState(new_id(), status=JobStatus.FAILED, message=reason, source=source,
                         origin=origin, error=reason, logs=[reason])
        self.write_state(state)
        log.warning("job %s rejected (source %s): %s", state.job_id, source, reason)
        return state

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
            fd = os.open(incoming, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            return None
        except OSError as exc:  # a symlink or something else that is not ours to open
            self._set_aside(incoming, exc.strerror or str(exc))
            return None
        active = self.dir("active") / incoming.name
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # The heartbeat is set before the file appears in active/, so a recovering daemon
            # never sees a fresh claim with the old mtime of its time in the queue.
            beat_ns = time.time_ns()
            os.utime(fd, ns=(beat_ns, beat_ns))
            os.rename(incoming, active)
        except (BlockingIOError, FileNotFoundError):
            os.close(fd)
            return None  # another daemon won the race
        beat_ns = os.fstat(fd).st_mtime_ns
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ValueError("not a regular file")
            request = Request.from_json(os.pread(fd, MAX_REQUEST_BYTES, 0), job_id)
        except (ValueError, TypeError) as exc:
            self._set_aside(active, str(exc))
            self._fail_unreadable(job_id)
            os.close(fd)
            return None
        return Claim(self, request, fd, beat_ns)

    def _fail_unreadable(self, job_id: str) -> None:
        """Tell the user (through the state) that the job's request file was unreadable."""
        state = self.read_state(job_id)
        if state is None or state.status in (JobStatus.COMPLETED, JobStatus.FAILED):
            return
        reason = "the job's request file could not be read; it was kept in spool/corrupt/"
        state.status, state.error, state.message = JobStatus.FAILED, reason, f"Failed: {reason}"
        state.log(state.message)
        try:
            self.write_state(state)
        except NoSpaceError:
            log.error("job %s: no space to record that its request is unreadable", job_id)

    def recover(self, lease: float = LEASE_SECONDS, tmp_max_age: float = TMP_MAX_AGE_SECONDS) -> list[str]:
        """Put claims whose owner is gone back in ``incoming/``; returns their ids.

        An owner is gone when its lock is free (the process died) or, where locks do not reach
        (another host), when its heartbeat is older than ``lease`` seconds. A live claim keeps its
        lock and renews its heartbeat, so it is never taken. Also finishes submissions a crash
        interrupted, fails jobs whose request is gone, and cleans up stale temporary files.
        """
        recovered = []
        for path in self.dir("active").glob("*.json"):
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            except FileNotFoundError:
                continue
            except OSError as exc:
                self._set_aside(path, exc.strerror or str(exc))
                continue
            try:
                if owner_gone(fd, lease):
                    os.rename(path, self.dir("incoming") / path.name)
                    recovered.append(path.stem)
                    log.warning("job %s: its daemon is gone; back in the queue", path.stem)
            except FileNotFoundError:
                pass  # it left active/ meanwhile: finished, released or recovered by another daemon
            finally:
                os.close(fd)
        self._finish_submissions(tmp_max_age)
        self._fail_orphans(lease)
        self._clean_tmp(tmp_max_age)
        return recovered

    def _finish_submissions(self, max_age: float) -> None:
        """Queue complete requests left in ``tmp/`` by a submitter that died after writing the state."""
        for path in self.dir("tmp").glob("*.json"):
            try:
                age = time.time() - path.stat().st_mtime
                if age < min(max_age, 60.0) or self.read_state(path.stem) is None:
                    continue
                Request.from_json(path.read_bytes(), path.stem)
                os.rename(path, self.dir("incoming") / path.name)
                log.warning("job %s: its submitter stopped before queueing it; queued now", path.stem)
            except (FileNotFoundError, ValueError, TypeError):
                continue

    def _fail_orphans(self, lease: float) -> None:
        """Fail unfinished jobs whose request is in no queue (deleted by hand, or lost) for a lease."""
        held = set()
        for name in ("tmp", "incoming", "active", "done", "failed", "corrupt"):
            held.update(entry.name.split(".")[0] for entry in os.scandir(self.dir(name)))
        for entry in os.scandir(self.dir("state")):
            job_id = entry.name[:-5]
            if not entry.name.endswith(".json") or job_id in held or not is_valid_id(job_id):
                continue
            state = self.read_state(job_id)
            if state is None or state.status in (JobStatus.COMPLETED, JobStatus.FAILED) \
                    or time.time() - state.updated_at < lease:
                continue
            reason = "the job's request file is missing from the spool"
            state.status, state.error, state.message = JobStatus.FAILED, reason, f"Failed: {reason}"
            state.log(state.message)
            self.write_state(state)
            log.error("job %s: %s; marked failed", job_id, reason)

    def _clean_tmp(self, max_age: float) -> None:
        """Remove files a crash left half-written, once they are clearly abandoned.

        That is ``spool/tmp/`` and the ``.*.part`` videos of ``output/``; a job's own ``work/<id>/``
        is cleaned by the daemon that claims it.
        """
        stale = list(self.dir("tmp").iterdir()) + list(self.output.glob(".*.part"))
        for path in stale:
            try:
                if time.time() - path.lstat().st_mtime > max_age:
                    path.unlink()
                    log.info("removed stale temporary file %s", path.relative_to(self.home))
            except (FileNotFoundError, IsADirectoryError, PermissionError):
                continue

    def active_ids(self) -> list[str]:
        return [path.stem for path in self.dir("active").glob("*.json")]

    def _set_aside(self, path: Path, reason: str) -> None:
        try:
            os.rename(path, self.dir("corrupt") / f"{path.name}.{time.time_ns()}")
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

    def state_files(self) -> Iterator[tuple[str, os.stat_result]]:
        """(job id, file status) of every state file, without reading any of them."""
        with os.scandir(self.dir("state")) as entries:
            for entry in entries:
                job_id = entry.name[:-5]
                if not entry.name.endswith(".json") or not is_valid_id(job_id):
                    continue
                try:
                    yield job_id, entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue

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
