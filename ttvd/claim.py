"""A job request and a daemon's claim on it: the lock, the heartbeat, and the ways out of ``active/``."""
from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from ttvd.spool import Spool

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 64 * 1024 * 1024
HEARTBEAT_SECONDS = 10.0  # how often a claim renews its heartbeat


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
    def from_json(cls, raw: bytes, job_id: str) -> "Request":
        """The request in ``raw``; ValueError unless it is a well-formed request for ``job_id``."""
        if len(raw) >= MAX_REQUEST_BYTES:
            raise ValueError("request file is too large")
        try:
            data = json.loads(raw)
        except RecursionError:
            raise ValueError("request is nested too deeply") from None
        if not isinstance(data, dict) or data.get("job_id") != job_id:
            raise ValueError("not a job request for this file name")
        for key, kind in (("text", str), ("source", str), ("options", dict), ("created_at", int),
                          ("attempts", int), ("origin", (str, type(None)))):
            if key in data and not isinstance(data[key], kind):
                raise ValueError(f"request field {key!r} has the wrong type")
        if "text" not in data:
            raise ValueError("request has no text")
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def owner_gone(fd: int, lease: float) -> bool:
    """True when nobody holds the lock on ``fd``'s file, or its heartbeat is older than ``lease``.

    The lock answers for owners on this host (the kernel drops it when the process dies, however it
    dies); the heartbeat answers where locks do not reach, such as another host on a shared filesystem.
    """
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return time.time() - os.fstat(fd).st_mtime > lease


class Claim:
    """A job this process holds: the request, the lock on its file, and its way out of ``active/``.

    The claim's heartbeat is the active file's mtime, set to a time this process chose. Another
    daemon that takes the job over (after a lease ran out) renames the file away or sets its own
    mtime, so ``owned()`` notices the loss and the old owner stops writing the job's state.
    """

    def __init__(self, spool: "Spool", request: Request, fd: int, beat_ns: int) -> None:
        self.spool = spool
        self.request = request
        self._fd = fd
        self._beat_ns = beat_ns
        self._lock = threading.Lock()
        self.lost = threading.Event()
        self.path = spool.dir("active") / f"{request.job_id}.json"

    def owned(self) -> bool:
        """True while the active file is still this claim's: in place, and with our heartbeat."""
        if self.lost.is_set():
            return False
        try:
            here, mine = os.stat(self.path), os.fstat(self._fd)
        except (FileNotFoundError, OSError):
            here = mine = None
        if here is None or (here.st_dev, here.st_ino) != (mine.st_dev, mine.st_ino) \
                or mine.st_mtime_ns != self._beat_ns:
            self.lost.set()
            log.error("job %s: the claim was taken over by another daemon; this attempt stops",
                      self.request.job_id)
            return False
        return True

    def beat(self) -> bool:
        """Renew the heartbeat; False (and ``lost`` set) when the claim is no longer ours."""
        with self._lock:
            if not self.owned():
                return False
            beat_ns = time.time_ns()
            os.utime(self._fd, ns=(beat_ns, beat_ns))
            self._beat_ns = os.fstat(self._fd).st_mtime_ns  # as the filesystem stored it
            return True

    def keep_alive(self, interval: float = HEARTBEAT_SECONDS,
                   on_lost: Callable[[], None] = lambda: None) -> threading.Event:
        """Renew the heartbeat every ``interval`` seconds until the returned event is set.

        ``on_lost`` is called (from the heartbeat thread) if the claim turns out to be lost.
        """
        done = threading.Event()

        def beat() -> None:
            while not done.wait(interval):
                try:
                    alive = self.beat()
                except OSError as exc:  # a transient filesystem error: try again next beat
                    log.warning("job %s: heartbeat failed: %s", self.request.job_id, exc)
                    continue
                if not alive:
                    on_lost()
                    return

        threading.Thread(target=beat, name=f"heartbeat-{self.request.job_id[:8]}", daemon=True).start()
        return done

    def finish(self, ok: bool) -> None:
        """Move the request to ``done/`` or ``failed/`` and drop the lock."""
        self._leave("done" if ok else "failed")

    def release(self) -> None:
        """Give the job back to the queue (a graceful stop) and drop the lock."""
        self._leave("incoming")

    def abandon(self) -> None:
        """Drop the lock without moving the file: the claim was lost to another daemon."""
        self._close()

    def _leave(self, queue: str) -> None:
        try:
            with self._lock:
                if self.owned():
                    os.rename(self.path, self.spool.dir(queue) / self.path.name)
        finally:
            self._close()

    def _close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
