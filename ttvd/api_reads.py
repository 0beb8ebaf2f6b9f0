"""The API's read endpoints: a job's status, the jobs listing, downloads, the voice catalogue, health.

They read the spool and the home's files and write nothing; how a file is sent (ranges, validators,
HEAD) is ``ttvd.download``.
"""
from __future__ import annotations

import base64
import json
import logging
import math
import os
import shutil
import threading
from pathlib import Path
from typing import Any, NamedTuple

import bottle

from ttvd import answers, atomic, daemons
from ttvd.answers import ApiError, json_response, state_or_404
from ttvd.config import Settings
from ttvd.download import send_file, servable
from ttvd.home import DOWNLOADS, Home
from ttvd.job import JobState, JobStatus, is_valid_id
from ttvd.spool import MAX_VOICES_BYTES, BadState, Spool

log = logging.getLogger(__name__)

NO_VOICES = "No voice catalogue yet: a daemon publishes one when it starts (`ttvd daemon`)"
MIN_FREE_BYTES = 100 * 2**20  # under this the home's disk counts as full: a render would not fit
CONTENT_TYPES = {"mp4": "video/mp4", "srt": "application/x-subrip", "vtt": "text/vtt", "json": "application/json"}
ORDERS = ("oldest", "newest")
STATUSES = tuple(status.value for status in JobStatus)


def register(app: bottle.Bottle, settings: Settings, spool: Spool) -> None:
    """Add the read endpoints to ``app``."""
    def route(path: str, method: str = "GET"):
        return answers.route(app, path, method)

    @route("/api/v1/status/<job_id:path>")
    def status(job_id: str):
        state = state_or_404(spool, job_id)  # the seed's five fields, and what a client can act on
        return json_response(200, {**state.full_view(), "links": links(spool.home, state)})

    listing = JobsListing(spool)

    @route("/api/v1/jobs")
    def jobs():
        wanted = _choice("status", STATUSES)
        limit = _limit(bottle.request.query.get("limit"))
        order = _choice("order", ORDERS)
        cursor = bottle.request.query.get("cursor")
        after = None
        if cursor is not None:
            made_for, after = decode_cursor(cursor)
            if order not in (None, made_for):
                raise ApiError(400, f"this cursor continues a listing with order={made_for}")
            order = made_for
        body = listing.body(wanted, limit, order or "oldest", after)
        return bottle.HTTPResponse(body, status=200, headers={"Content-Type": "application/json"})

    @route("/api/v1/download/<job_id:path>")
    def download(job_id: str):
        state = state_or_404(spool, job_id)
        fmt = _choice("format", tuple(DOWNLOADS)) or "mp4"
        if state.status is not JobStatus.COMPLETED:
            raise ApiError(400, "Video not ready for download")
        # the seed answers a missing video with 500; a missing side file is just not there
        missing = (ApiError(500, "Video file not found") if fmt == "mp4" else
                   ApiError(404, f"This job has no {fmt} file: it was made before side files were "
                                 "written, or the file was removed"))
        return send_file(spool.home.job(job_id).download(fmt), CONTENT_TYPES[fmt],
                         f"generated_video_{job_id}.{fmt}", missing)

    @route("/api/v1/voices")
    def voices():
        try:  # written atomically by the daemon at start (ttvd.voices.publish): always whole
            catalogue = atomic.read_regular(spool.home.voices, MAX_VOICES_BYTES)
        except FileNotFoundError:
            raise ApiError(503, NO_VOICES) from None
        except OSError as exc:  # a FIFO, a symlink, a huge file: not the daemon's catalogue
            log.error("spool/voices.json cannot be read: %s", exc.strerror)
            raise ApiError(503, NO_VOICES) from None
        return bottle.HTTPResponse(catalogue, status=200, headers={"Content-Type": "application/json"})

    @route("/api/v1/health")
    def health():
        code, body = health_view(spool.home)
        return json_response(code, body, {"Cache-Control": "no-store"})


def _choice(name: str, allowed: tuple[str, ...]) -> str | None:
    """The query parameter ``name``, one of ``allowed``, or None when absent; 400 for another value."""
    value = bottle.request.query.get(name)
    if value is not None and value not in allowed:
        raise ApiError(400, f"{name} must be one of: {', '.join(allowed)}")
    return value


def _limit(value: str | None) -> int | None:
    if value is None:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 10 and 0 < int(value) <= 10**9):
        raise ApiError(400, "limit must be a positive integer")
    return int(value)


# -- GET /status/<id> ----------------------------------------------------------------------------

def links(home: Home, state: JobState) -> dict[str, Any]:
    """Relative URLs of the job: its status, and once it is completed each download that exists."""
    found = {"status": f"/api/v1/status/{state.job_id}"}
    if state.status is not JobStatus.COMPLETED:
        return found
    paths = home.job(state.job_id)
    downloads = {fmt: f"/api/v1/download/{state.job_id}?format={fmt}"
                 for fmt in DOWNLOADS if servable(paths.download(fmt))}
    return {**found, "download": downloads} if downloads else found


# -- GET /jobs -------------------------------------------------------------------------------------------

class Entry(NamedTuple):
    """One job of the listing, its place in it and its JSON, ready to join."""

    created_at: float
    job_id: str
    status: str
    fragment: str  # '"<id>": {view}'

    @property
    def place(self) -> tuple[float, str]:
        """Where the job stands in the listing: by creation, ties broken by id."""
        return self.created_at, self.job_id


class JobsListing:
    """The body of ``GET /jobs``, rereading only the states that changed since the last request.

    Each job's JSON is cached under its state file's identity (inode, mtime, size). States are
    replaced whole, never edited in place, so a new version always has a new identity; the file is
    statted before it is read, so a cached entry is never newer than its key claims.
    """

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self._cache: dict[str, tuple[tuple[int, int, int], Entry | None]] = {}  # None: unreadable
        self._lock = threading.Lock()

    def body(self, status: str | None = None, limit: int | None = None, order: str = "oldest",
             after: tuple[float, str] | None = None) -> bytes:
        """``{"jobs": {id: view}}`` in ``order`` (of creation), optionally only ``status``, only the jobs
        after the place ``after`` (created_at, id), and at most ``limit`` of them, with ``"next"`` (a
        cursor) when more remain."""
        entries = self._entries()
        if order == "newest":
            entries.reverse()
        if after is not None:
            later = order == "oldest"
            entries = [e for e in entries if (e.place > after if later else e.place < after)]
        selected = [e for e in entries if status is None or e.status == status]
        page = selected if limit is None else selected[:limit]
        text = '{"jobs": {' + ", ".join(e.fragment for e in page) + "}"
        if len(page) < len(selected):
            text += f', "next": "{encode_cursor(order, page[-1])}"'
        return (text + "}").encode("utf-8")

    def _entries(self) -> list[Entry]:
        """Every readable job, oldest first."""
        with self._lock:
            entries = []
            seen = set()
            for job_id, info in self.spool.state_files():
                seen.add(job_id)
                entry = self._entry(job_id, (info.st_ino, info.st_mtime_ns, info.st_size))
                if entry is not None:
                    entries.append(entry)
            for job_id in self._cache.keys() - seen:
                del self._cache[job_id]
        return sorted(entries, key=lambda e: e.place)

    def _entry(self, job_id: str, key: tuple[int, int, int]) -> Entry | None:
        cached = self._cache.get(job_id)
        if cached is not None and cached[0] == key:
            return cached[1]
        try:
            state = self.spool.read_state(job_id)
        except BadState as exc:  # left out, and logged once until it changes; the daemon sets it aside
            log.error("job %s: %s; left out of the listing", job_id, exc)
            self._cache[job_id] = (key, None)
            return None
        if state is None:
            return None
        fragment = f"{json.dumps(job_id)}: {json.dumps(state.jobs_view(), ensure_ascii=False)}"
        entry = Entry(state.created_at, job_id, state.status.value, fragment)
        self._cache[job_id] = (key, entry)
        return entry


def encode_cursor(order: str, last: Entry) -> str:
    """An opaque cursor naming the place after ``last`` in a listing in ``order``.

    It holds a place (created_at, id), not an index, so jobs added or removed meanwhile do not shift it.
    """
    raw = json.dumps([order, last.created_at, last.job_id], separators=(",", ":")).encode("ascii")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> tuple[str, tuple[float, str]]:
    """(order, place) of a cursor made by ``encode_cursor``; 400 for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        order, created_at, job_id = json.loads(raw)
    except (ValueError, TypeError):
        order = created_at = job_id = None
    if (order not in ORDERS or not is_valid_id(job_id) or isinstance(created_at, bool)
            or not isinstance(created_at, int | float) or not math.isfinite(created_at)):
        raise ApiError(400, "cursor is not one this server gave: pass the 'next' of the previous page as it is")
    return order, (created_at, job_id)


# -- GET /health -----------------------------------------------------------------------------------------

def health_view(home: Home) -> tuple[int, dict[str, Any]]:
    """200 and ``{"status": "ok"}`` when a daemon is alive and the disk has room, else 503 and why.

    A daemon is alive while its status file is fresh (``ttvd.daemons``): a daemon rewrites it every
    few seconds only while healthy, so a hung daemon goes stale as a dead one does. The body names no
    path or host: it is the one endpoint that may be open to anyone.
    """
    beats = daemons.read_all(home)
    alive = len(daemons.alive(beats))
    free = shutil.disk_usage(home.root).free
    body = {"daemons": {"alive": alive, "known": len(beats)},
            "queued": _count(home.queue("incoming")), "processing": _count(home.queue("active")),
            "disk_free_bytes": free}
    problems = []
    if not alive:
        problems.append(_daemon_problem(beats))
    if free < MIN_FREE_BYTES:
        problems.append(f"disk full: {free} bytes free, under the {MIN_FREE_BYTES} a job needs")
    if problems:
        return 503, {"status": "unhealthy", "error": "; ".join(problems), **body}
    return 200, {"status": "ok", **body}


def _daemon_problem(beats: list[dict[str, Any]]) -> str:
    stale = [beat for beat in beats if beat["state"] == "stale"]
    if stale:
        return (f"daemon stale: the freshest heartbeat is {stale[0]['seconds_since_heartbeat']:g} s old "
                f"(over {daemons.STALE_SECONDS:g} s)")
    if beats:
        return "no daemon: the daemons that were running have exited; start one with `ttvd daemon`"
    return "no daemon: none is running; start one with `ttvd daemon`"


def _count(queue: Path) -> int:
    """Request files in a queue, without reading or sorting them."""
    try:
        with os.scandir(queue) as entries:
            return sum(1 for entry in entries if entry.name.endswith(".json"))
    except FileNotFoundError:
        return 0
