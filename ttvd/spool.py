"""The spool: queued job requests plus one state file per job, under one home.

Requests move ``tmp -> incoming -> active -> done|failed`` by ``rename`` (the claim protocol is in
``ttvd.claim``, the recovery sweeps in ``ttvd.recovery``). States live in ``state/<id>.json`` and are
replaced atomically. The spool knows files, requests and states, not videos.
"""
from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ttvd import atomic
from ttvd.errors import NoSpaceError, TtvdError
from ttvd.home import Home, UnknownJob
from ttvd.job import JobState, is_valid_id, new_id
from ttvd.request import MAX_REQUEST_BYTES, Request

log = logging.getLogger(__name__)

MAX_STATE_BYTES = 16 * 1024 * 1024  # a state holds at most 200 log lines: far under this
MAX_VOICES_BYTES = 16 * 1024 * 1024  # spool/voices.json: the catalogue of every voice is far smaller
_StatKey = tuple[int, int, int]


class BadState(TtvdError, ValueError):
    """A state file that cannot be read as a job state: not JSON, wrong types, or not a regular file.

    A server error where it stops a request (HTTP 500): a daemon's recovery sets the file aside in
    ``spool/corrupt/`` and fails the job in a fresh state, after which the request can be made again."""


class Spool:
    """Submitting jobs, and reading and writing their states."""

    def __init__(self, home: Home | Path | str) -> None:
        self.home = home if isinstance(home, Home) else Home(home)
        self._checked: dict[str, _StatKey] = {}  # state files found readable by bad_states()

    def ensure(self) -> Spool:
        self.home.ensure()
        return self

    # -- submitting -------------------------------------------------------------------------------

    def submit(self, text: str, source: str, options: dict[str, Any] | None = None,
               origin: str | None = None) -> JobState:
        """Queue a job durably, or raise (``NoSpaceError`` on a full disk) leaving nothing behind.

        The request is written to ``tmp/`` first, then the state (so status answers at once), then
        the request is renamed into ``incoming/``. A crash in between leaves a complete request in
        ``tmp/`` next to its state, which recovery finishes queueing.
        """
        request = Request(new_id(), text, source, dict(options or {}), origin=origin)
        state = JobState.queued(request.job_id, source, request.options, origin, request.created_at)
        tmp = self.home.request("tmp", request.job_id)
        atomic.write_bytes(tmp, json.dumps(asdict(request), ensure_ascii=False).encode("utf-8"))
        try:
            self.write_state(state)
            os.rename(tmp, self.home.request("incoming", request.job_id))
        except BaseException:
            for path in (tmp, self.home.job(request.job_id).state):
                path.unlink(missing_ok=True)
            raise
        log.info("job %s queued (source %s)", request.job_id, source)
        return state

    def reject(self, reason: str, source: str, origin: str | None = None) -> JobState:
        """Record a job that failed before it could be queued, so the user can read why."""
        state = JobState.rejected(new_id(), reason, source, origin)
        self.write_state(state)
        log.warning("job %s rejected (source %s): %s", state.job_id, source, reason)
        return state

    def fail_unqueued(self, job_id: str, reason: str) -> None:
        """Fail a job whose request is gone or unreadable, unless it already finished."""
        state = self.read_state(job_id)
        if state is None or state.status.finished:
            return
        state.fail(reason)
        try:
            self.write_state(state)
        except NoSpaceError:
            log.error("job %s: no space to record that it failed: %s", job_id, reason)
            return
        log.error("job %s: %s; marked failed", job_id, reason)

    def set_aside(self, path: Path, reason: str, what: str = "request") -> bool:
        """Move a file that cannot be read into ``corrupt/`` for a person; never delete it. False if
        it was gone already. A state file is kept as ``<id>.state.json.<ns>``, a request as
        ``<id>.json.<ns>``."""
        name = f"{path.stem}.state.json" if what == "state file" else path.name
        try:
            os.rename(path, self.home.queue("corrupt") / f"{name}.{time.time_ns()}")
        except FileNotFoundError:
            return False
        log.error("%s %r cannot be read (%s): moved to spool/corrupt/", what, path.name, reason)
        return True

    def replace_bad_state(self, job_id: str, reason: str) -> JobState | None:
        """Set aside the unreadable state of ``job_id`` and, when its request is queued or filed, fail the
        job in a fresh state that says why; the fresh state, or None.

        A queued request is filed in ``failed/`` first, so no daemon runs the job; one claimed meanwhile,
        or in ``active/`` or ``tmp/``, is left to its owner, whose attempt starts a fresh state.
        """
        state_file = self.home.job(job_id).state
        if not self.set_aside(state_file, reason, what="state file"):
            return None
        self._checked.pop(job_id, None)
        incoming = self.home.request("incoming", job_id)
        request = self._request_in("incoming", job_id)
        if request is not None:
            try:
                os.rename(incoming, self.home.request("failed", job_id))
            except FileNotFoundError:
                return None  # claimed meanwhile: its attempt writes a fresh state
        else:
            request = self._request_in("done", job_id) or self._request_in("failed", job_id)
        if request is None:
            return None
        state = self.unreadable_state(request, reason)
        try:
            self.write_state(state)
        except NoSpaceError:
            log.error("job %s: no space to record that its state could not be read", job_id)
            return None
        log.error("job %s: %s; marked failed", job_id, state.error)
        return state

    @staticmethod
    def unreadable_state(request: Request, reason: str) -> JobState:
        """A fresh state for the job of ``request``, failed because its old state could not be read."""
        state = JobState.queued(request.job_id, request.source, request.options, request.origin,
                                request.created_at)
        state.fail(f"its state file could not be read ({reason}); it is kept in spool/corrupt/")
        return state

    def _request_in(self, queue: str, job_id: str) -> Request | None:
        try:
            return Request.from_json(atomic.read_regular(self.home.request(queue, job_id), MAX_REQUEST_BYTES),
                                     job_id)
        except (OSError, ValueError, TypeError):
            return None

    # -- queues -----------------------------------------------------------------------------------

    def queued_ids(self) -> list[str]:
        """Ids waiting in ``incoming/``, oldest first."""
        return [path.stem for path in self.by_age("incoming")]

    def active_ids(self) -> list[str]:
        return [path.stem for path in self.home.queue("active").glob("*.json")]

    def by_age(self, queue: str) -> list[Path]:
        """The request files of ``queue``, oldest first."""
        entries = []
        for path in self.home.queue(queue).glob("*.json"):
            try:
                entries.append((path.stat().st_mtime_ns, path.name, path))
            except FileNotFoundError:
                continue
        return [path for _, _, path in sorted(entries)]

    # -- states -----------------------------------------------------------------------------------

    def write_state(self, state: JobState) -> None:
        state.updated_at = time.time()
        atomic.write_json(self.home.job(state.job_id).state, state.to_dict(), tmp_dir=self.home.queue("tmp"))

    def read_state(self, job_id: str) -> JobState | None:
        """The job's state, or None for an unknown or invalid id; ``BadState`` when its file cannot be
        read as a state (never a hang, whatever the file is: see ``atomic.read_regular``)."""
        try:
            raw = atomic.read_regular(self.home.job(job_id).state, MAX_STATE_BYTES)
        except (FileNotFoundError, UnknownJob):
            return None
        except (atomic.NotRegularFile, atomic.FileTooLarge, IsADirectoryError) as exc:
            why = (exc.strerror or "not a file").lower()
            raise BadState(f"state file {job_id}.json cannot be read: {why}") from None
        try:
            return JobState.from_dict(json.loads(raw))
        except (ValueError, TypeError, RecursionError) as exc:
            raise BadState(f"state file {job_id}.json cannot be read: {_short(exc)}") from None

    def state_files(self) -> Iterator[tuple[str, os.stat_result]]:
        """(job id, file status) of every state file, without reading any of them."""
        with os.scandir(self.home.states) as entries:
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
        for job_id, _ in self.state_files():
            try:
                state = self.read_state(job_id)
            except BadState as exc:
                log.error("job %s: %s; skipped", job_id, exc)
                continue
            if state is not None:
                found.append(state)
        return iter(sorted(found, key=lambda s: (s.created_at, s.job_id)))

    def bad_states(self) -> Iterator[tuple[str, BadState]]:
        """(job id, why) of each state file that cannot be read, reading only the files changed since
        the previous call on this spool (a rescan of a big home costs one directory scan)."""
        seen = set()
        for job_id, info in list(self.state_files()):
            seen.add(job_id)
            key = (info.st_ino, info.st_mtime_ns, info.st_size)
            if self._checked.get(job_id) == key:
                continue
            try:
                self.read_state(job_id)
            except BadState as exc:
                self._checked.pop(job_id, None)
                yield job_id, exc
                continue
            self._checked[job_id] = key
        for job_id in self._checked.keys() - seen:
            del self._checked[job_id]


def _short(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc)[:200] or type(exc).__name__
