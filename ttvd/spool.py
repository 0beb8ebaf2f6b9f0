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
from ttvd.errors import NoSpaceError
from ttvd.home import Home, UnknownJob
from ttvd.job import JobState, is_valid_id, new_id
from ttvd.request import Request

log = logging.getLogger(__name__)


class Spool:
    """Submitting jobs, and reading and writing their states."""

    def __init__(self, home: Home | Path | str) -> None:
        self.home = home if isinstance(home, Home) else Home(home)

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

    def set_aside(self, path: Path, reason: str) -> None:
        """Move a request file that cannot be read into ``corrupt/`` for a person; never delete it."""
        try:
            os.rename(path, self.home.queue("corrupt") / f"{path.name}.{time.time_ns()}")
        except FileNotFoundError:
            return
        log.error("request %r cannot be read (%s): moved to spool/corrupt/", path.name, reason)

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
        """The job's state, or None for an unknown or invalid id."""
        try:
            return JobState.from_dict(json.loads(self.home.job(job_id).state.read_bytes()))
        except (FileNotFoundError, UnknownJob):
            return None

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
            except (ValueError, TypeError) as exc:
                log.error("state file %s.json cannot be read: %s", job_id, exc)
                continue
            if state is not None:
                found.append(state)
        return iter(sorted(found, key=lambda s: (s.created_at, s.job_id)))
