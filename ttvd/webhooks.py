"""Webhooks: a signed JSON event POSTed when a job completes, fails or is cancelled.

Events wait in an outbox in the spool, so they survive restarts and any process may add one::

    spool/outbox/<due ms>.<event id>.json    waiting; the name sorts by the time the event is due
    spool/outbox/sending/<same name>         claimed (locked) by the courier delivering it now
    spool/outbox/failed/<same name>          given up: a refused address or too many attempts; kept for a person
    spool/outbox/ledger/<job id>.<event id>  one empty file per event ever written, so none is written twice

``enqueue()`` writes the event of a finished job once per transition: its id is derived from the
finished state, and the ledger remembers it after delivery. Each daemon runs a ``Courier`` thread
(``ttvd.courier``) that delivers due events, reschedules failures with backoff and takes back claims
whose owner died. Delivery is at least once; receivers drop duplicates by the event id. This half only
writes files, so the API process can record an event without loading an HTTP client.
"""
from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import os
import stat
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ttvd import __version__, atomic
from ttvd.claim import clean_owner_marks, mark_owner, owner_gone, unmark_owner
from ttvd.config import Settings
from ttvd.errors import NoSpaceError, TtvdError
from ttvd.home import Home
from ttvd.job import JobState, JobStatus
from ttvd.spool import Spool

log = logging.getLogger(__name__)

EVENTS = {JobStatus.COMPLETED: "job.completed", JobStatus.FAILED: "job.failed",
          JobStatus.CANCELLED: "job.cancelled"}
USER_AGENT = f"ttvd/{__version__}"
SWEEP_GRACE_SECONDS = 30.0      # younger finished states are left to the process that finished the job
SWEEP_HORIZON_SECONDS = 3600.0  # older ones are not looked at: they finished before this outage (or webhooks)
MAX_ENTRY_BYTES = 1 << 20
_EVENT_IDS = uuid.UUID("5b0f6c52-3c8e-4a55-9d1c-6f1f0d3e7a10")  # namespace of the derived event ids



class Refused(TtvdError):
    """The URL, or an address its host leads to, is not one ttvd delivers to; never retried."""


class Undelivered(TtvdError):
    """This delivery failed (no connection, no answer, not a 2xx); it is retried later."""


# -- events -------------------------------------------------------------------------------------------

def target(settings: Settings, state: JobState) -> str | None:
    """Where the job's events go: its ``callback_url`` option, else ``TTVD_WEBHOOK_URL``; None: nowhere."""
    return state.options.get("callback_url") or settings.webhook_url or None


def event_id(state: JobState) -> str:
    """The id of the event of ``state``'s finish: the same for every process that looks at that state."""
    return str(uuid.uuid5(_EVENT_IDS, f"{state.job_id}/{state.status.value}/{state.updated_at!r}"))


def event_for(state: JobState) -> dict[str, Any]:
    """The event body for a finished ``state``; links are relative to the API's base URL."""
    links = {"status": f"/api/v1/status/{state.job_id}"}
    if state.status is JobStatus.COMPLETED:
        links["download"] = f"/api/v1/download/{state.job_id}"
        links.update({fmt: f"/api/v1/download/{state.job_id}?format={fmt}" for fmt in ("srt", "vtt", "json")})
    return {"event_id": event_id(state), "event": EVENTS[state.status], "job_id": state.job_id,
            "status": state.status.value, "created_at": int(state.updated_at), "error": state.error,
            "output_file": state.output_file, "links": links}


def body_of(event: dict[str, Any]) -> bytes:
    """The exact bytes POSTed (and signed) for ``event``; the same at every attempt."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def signature(secret: str, body: bytes) -> str:
    """The ``X-Ttvd-Signature`` value: ``sha256=`` and the hex HMAC-SHA256 of ``body`` under ``secret``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def headers_for(event: dict[str, Any], body: bytes, secret: str) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, "X-Ttvd-Event": event["event"],
               "X-Ttvd-Event-Id": event["event_id"]}
    if secret:
        headers["X-Ttvd-Signature"] = signature(secret, body)
    return headers


@dataclass
class Entry:
    """One event in the outbox: where it goes, when it is due, how often it was tried."""

    url: str
    event: dict[str, Any]
    due_at: float
    enqueued_at: float
    attempts: int = 0
    last_error: str | None = None

    @property
    def name(self) -> str:
        return f"{int(self.due_at * 1000):013d}.{self.event['event_id']}.json"

    @property
    def job_id(self) -> str:
        return str(self.event.get("job_id"))

    @classmethod
    def from_json(cls, data: bytes) -> Entry:
        raw = json.loads(data)
        entry = cls(str(raw["url"]), dict(raw["event"]), float(raw["due_at"]), float(raw["enqueued_at"]),
                    int(raw["attempts"]), raw.get("last_error"))
        entry.event["event_id"] = str(uuid.UUID(entry.event["event_id"]))  # a path is built from it
        return entry


# -- the outbox ---------------------------------------------------------------------------------------

class Outbox:
    """The outbox directories of one home, and the claim protocol of their files."""

    def __init__(self, home: Home) -> None:
        self.root = home.outbox
        self.sending = self.root / "sending"
        self.failed = self.root / "failed"
        self.ledger = self.root / "ledger"
        self.tmp = home.queue("tmp")

    def ensure(self) -> Outbox:
        for path in (self.root, self.sending, self.failed, self.ledger, self.tmp):
            path.mkdir(parents=True, exist_ok=True)
        return self

    def put(self, entry: Entry, folder: Path | None = None) -> Path:
        """Write ``entry`` durably under its name in ``folder`` (default: waiting)."""
        path = (folder or self.root) / entry.name
        atomic.write_json(path, asdict(entry), tmp_dir=self.tmp)
        return path

    def due(self, now: float) -> list[str]:
        """Names of the waiting events due at ``now``, earliest first."""
        names = sorted(name for name in os.listdir(self.root) if name.endswith(".json") and name[:13].isdigit())
        limit = f"{int(now * 1000):013d}"
        return [name for name in names if name[:13] <= limit]

    def claim(self, name: str) -> Held | None:
        """Lock the waiting event ``name`` and move it to ``sending/``; None if another courier has it."""
        waiting, sending = self.root / name, self.sending / name
        try:
            fd = os.open(waiting, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:  # taken by another courier, or not a file of ours
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            now_ns = time.time_ns()
            os.utime(fd, ns=(now_ns, now_ns))  # the lease starts now, not when the event was written
            os.rename(waiting, sending)
            here, mine = os.stat(sending), os.fstat(fd)
            if (here.st_dev, here.st_ino) != (mine.st_dev, mine.st_ino):
                raise FileNotFoundError(name)  # we locked a file that was replaced meanwhile: recovery takes it
        except (BlockingIOError, FileNotFoundError):
            os.close(fd)
            return None
        mark_owner(sending, fd)
        return Held(self, sending, fd)

    def recover(self, lease: float) -> list[str]:
        """Put back claims whose courier died (its lock is free) or went silent for ``lease`` seconds."""
        recovered = []
        for path in self.sending.glob("*.json"):
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            except OSError:
                continue
            try:
                if owner_gone(fd, lease, path):
                    os.rename(path, self.root / path.name)
                    unmark_owner(path)
                    recovered.append(path.name)
                    log.warning("webhook event %s: its courier is gone; waiting again", path.name)
            except FileNotFoundError:
                pass  # delivered, rescheduled or recovered meanwhile
            finally:
                os.close(fd)
        clean_owner_marks(self.sending, lease)
        return recovered


class Held:
    """A claimed event: the locked file in ``sending/``. Its new place is written before it is removed,
    so a crash never loses an event; at worst it is delivered twice."""

    def __init__(self, outbox: Outbox, path: Path, fd: int) -> None:
        self.outbox, self.path, self.fd = outbox, path, fd

    def read(self) -> Entry:
        if not stat.S_ISREG(os.fstat(self.fd).st_mode):  # a FIFO or device would block or never end
            raise ValueError(f"webhook event {self.path.name} is not a regular file")
        return Entry.from_json(os.pread(self.fd, MAX_ENTRY_BYTES, 0))

    def move(self, entry: Entry, folder: Path | None) -> None:
        """Put ``entry`` in ``folder`` (None: nowhere, it was delivered) and let go of the claim."""
        try:
            if folder is not None:
                self.outbox.put(entry, folder)
            self.path.unlink(missing_ok=True)
            unmark_owner(self.path)
        finally:
            os.close(self.fd)

    def set_aside(self) -> None:
        """An unreadable event: moved as it is to ``failed/`` for a person."""
        try:
            os.rename(self.path, self.outbox.failed / self.path.name)
            unmark_owner(self.path)
        finally:
            os.close(self.fd)


# -- writing events -----------------------------------------------------------------------------------

def enqueue(spool: Spool, settings: Settings, state: JobState, now: float | None = None) -> Path | None:
    """Write the event of ``state``'s finish to the outbox, once per transition; the file written, or None
    (not finished, no URL applies, or written before). Works from any process: the API calls it for a
    job cancelled while queued. Raises ``NoSpaceError`` or ``OSError`` when it cannot be written."""
    url = target(settings, state)
    if not state.status.finished or not url:
        return None
    outbox = Outbox(spool.home).ensure()
    event = event_for(state)
    mark = outbox.ledger / f"{state.job_id}.{event['event_id']}"
    if mark.exists():
        return None
    now = time.time() if now is None else now
    path = outbox.put(Entry(url, event, now, now))
    atomic.write_bytes(mark, b"", tmp_dir=outbox.tmp)  # after the event: a crash in between repeats it, same id
    log.info("job %s: %s event queued for %s", state.job_id, event["event"], urlsplit(url).hostname)
    return path


def enqueue_finished(spool: Spool, settings: Settings, job_id: str) -> None:
    """``enqueue()`` for the job's current state, never raising: what fails is logged and the sweep of a
    courier writes it later."""
    try:
        state = spool.read_state(job_id)
        if state is not None:
            enqueue(spool, settings, state)
    except (OSError, NoSpaceError, ValueError, TypeError) as exc:
        log.error("job %s: its webhook event could not be written now (%s); a courier retries", job_id, exc)


def sweep(spool: Spool, settings: Settings, now: float) -> int:
    """Write the events of jobs that finished lately but whose event was never written (the process
    that finished them died first, or the disk was full); how many were written."""
    written = 0
    for job_id, info in spool.state_files():
        if not now - SWEEP_HORIZON_SECONDS <= info.st_mtime <= now - SWEEP_GRACE_SECONDS:
            continue
        try:
            state = spool.read_state(job_id)
        except ValueError:  # BadState: the recovery sweep sets it aside
            continue
        if state is not None and enqueue(spool, settings, state, now) is not None:
            log.warning("job %s: its %s event had not been written; written now", job_id, EVENTS[state.status])
            written += 1
    return written


def forget(spool: Spool, job_id: str) -> None:
    """Drop the ledger of a job being deleted (its waiting events are still delivered)."""
    for mark in Outbox(spool.home).ledger.glob(f"{spool.home.job(job_id).job_id}.*"):
        mark.unlink(missing_ok=True)
