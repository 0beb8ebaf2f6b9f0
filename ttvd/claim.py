"""The claim protocol: how a daemon takes a job, keeps it, and lets it go.

A daemon claims the oldest request by locking its file and renaming it from ``incoming/`` into
``active/`` (losing that race is ``FileNotFoundError``, not an error). The claim stays alive through
the lock and a lease: the active file's mtime, renewed every few seconds. A claim whose lock is free
(its process died) or whose lease ran out (its host is gone) is taken back by recovery
(``ttvd.recovery``); the old owner notices the loss and stops writing the job's state.
"""
from __future__ import annotations

import fcntl
import logging
import os
import stat
import threading
import time
from collections.abc import Callable

from ttvd.job import is_valid_id
from ttvd.request import MAX_REQUEST_BYTES, Request
from ttvd.spool import Spool

log = logging.getLogger(__name__)

RENEW_SECONDS = 10.0  # how often a claim renews its lease


def claim_next(spool: Spool) -> Claim | None:
    """Claim the oldest queued job; None when nothing is left."""
    for path in spool.by_age("incoming"):
        claimed = claim(spool, path.stem)
        if claimed is not None:
            return claimed
    return None


def claim(spool: Spool, job_id: str) -> Claim | None:
    """Lock the request, then rename it into ``active/``; None if another daemon got it first.

    The lock is taken on the file before the rename and held until the job leaves ``active/``,
    so a live claim is never mistaken for an abandoned one.
    """
    incoming = spool.home.queue("incoming") / f"{job_id}.json"
    if not is_valid_id(job_id):
        spool.set_aside(incoming, "its name is not a job id")
        return None
    try:
        fd = os.open(incoming, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:  # a symlink or something else that is not ours to open
        spool.set_aside(incoming, exc.strerror or str(exc))
        return None
    active = spool.home.request("active", job_id)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # The lease starts before the file appears in active/, so a recovering daemon never sees a
        # fresh claim with the old mtime of its time in the queue.
        now_ns = time.time_ns()
        os.utime(fd, ns=(now_ns, now_ns))
        os.rename(incoming, active)
    except (BlockingIOError, FileNotFoundError):
        os.close(fd)
        return None  # another daemon won the race
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("not a regular file")
        request = Request.from_json(os.pread(fd, MAX_REQUEST_BYTES, 0), job_id)
    except (ValueError, TypeError) as exc:
        spool.set_aside(active, str(exc))
        spool.fail_unqueued(job_id, "the job's request file could not be read; it was kept in spool/corrupt/")
        os.close(fd)
        return None
    return Claim(spool, request, fd, os.fstat(fd).st_mtime_ns)


def owner_gone(fd: int, lease: float) -> bool:
    """True when nobody holds the lock on ``fd``'s file, or its lease is older than ``lease`` seconds.

    The lock answers for owners on this host (the kernel drops it when the process dies, however it
    dies); the lease answers where locks do not reach, such as another host on a shared filesystem.
    """
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return time.time() - os.fstat(fd).st_mtime > lease


class Claim:
    """A job this process holds: the request, the lock on its file, and its way out of ``active/``.

    The lease is the active file's mtime, set to a time this process chose. Another daemon that
    takes the job over renames the file away or sets its own mtime, so ``owned()`` notices the loss.
    """

    def __init__(self, spool: Spool, request: Request, fd: int, lease_ns: int) -> None:
        self.spool = spool
        self.request = request
        self._fd = fd
        self._lease_ns = lease_ns
        self._lock = threading.Lock()
        self.lost = threading.Event()
        self.path = spool.home.request("active", request.job_id)

    def owned(self) -> bool:
        """True while the active file is still this claim's: in place, and with our lease."""
        if self.lost.is_set():
            return False
        try:
            here, mine = os.stat(self.path), os.fstat(self._fd)
            ours = (here.st_dev, here.st_ino) == (mine.st_dev, mine.st_ino) and mine.st_mtime_ns == self._lease_ns
        except OSError:
            ours = False
        if not ours:
            self.lost.set()
            log.error("job %s: the claim was taken over by another daemon; this attempt stops",
                      self.request.job_id)
        return ours

    def renew(self) -> bool:
        """Renew the lease; False (and ``lost`` set) when the claim is no longer ours."""
        with self._lock:
            if not self.owned():
                return False
            now_ns = time.time_ns()
            os.utime(self._fd, ns=(now_ns, now_ns))
            self._lease_ns = os.fstat(self._fd).st_mtime_ns  # as the filesystem stored it
            return True

    def keep_renewed(self, interval: float = RENEW_SECONDS,
                     on_lost: Callable[[], None] = lambda: None) -> threading.Event:
        """Renew the lease every ``interval`` seconds until the returned event is set.

        ``on_lost`` is called (from the renewing thread) if the claim turns out to be lost.
        """
        done = threading.Event()

        def renew() -> None:
            while not done.wait(interval):
                try:
                    alive = self.renew()
                except OSError as exc:  # a transient filesystem error: try again next time
                    log.warning("job %s: lease renewal failed: %s", self.request.job_id, exc)
                    continue
                if not alive:
                    on_lost()
                    return

        threading.Thread(target=renew, name=f"lease-{self.request.job_id[:8]}", daemon=True).start()
        return done

    def finish(self, queue: str) -> None:
        """Move the request to ``done/`` or ``failed/`` and drop the lock."""
        self._leave(queue)

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
                    os.rename(self.path, self.spool.home.queue(queue) / self.path.name)
        finally:
            self._close()

    def _close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
