"""The claim protocol: how a daemon takes a job, keeps it, and lets it go.

A daemon claims the oldest request by locking its file and renaming it from ``incoming/`` into
``active/`` (losing that race is ``FileNotFoundError``, not an error). The claim stays alive through
the lock and a lease: the active file's mtime, renewed every few seconds. Beside it, ``<id>.owner``
names where its lock can be seen (this kernel and this mount): a lock taken on another host, or
through another mount of a network filesystem, is invisible here. A claim whose lock is free and
visible (its process died) or whose lease ran out (its host is gone) is taken back by recovery
(``ttvd.recovery``, through ``take_back``) as a copy with a new inode, so a lock the old owner
still holds (it is frozen, not dead) never blocks the next claim; the old owner notices the loss and
stops writing the job's state.
"""
from __future__ import annotations

import fcntl
import functools
import logging
import os
import socket
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ttvd import atomic
from ttvd.errors import NoSpaceError
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
    mark_owner(active, fd)
    return Claim(spool, request, fd, os.fstat(fd).st_mtime_ns)


def owner_gone(fd: int, lease: float, path: Path) -> bool:
    """True when nobody holds the lock on ``fd``'s file (the claim at ``path``), or its lease is older
    than ``lease`` seconds.

    The lock answers for owners whose lock this process can see: the kernel drops it when the process
    dies, however it dies. Whether it can see it is written beside the claim (``mark_owner``); for an
    owner on another host, or behind another mount of a network filesystem whose locks do not cross,
    a free lock means nothing and the lease alone answers.
    """
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if _lock_visible(path, fd):
            return True
    except BlockingIOError:
        pass
    return time.time() - os.fstat(fd).st_mtime > lease


def owner_mark(path: Path) -> Path:
    """The file beside the claim at ``path`` that names where its lock is seen."""
    return path.with_suffix(".owner")


def mark_owner(path: Path, fd: int) -> None:
    """Record, beside the claim just made at ``path``, where its lock can be seen.

    Written after the rename that won the claim, so a loser of the race never overwrites it; until it
    is written (or if it is lost) the claim is judged by its lease alone, which is only slower.
    """
    try:
        mark = os.open(owner_mark(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_NONBLOCK
                       | os.O_CLOEXEC, 0o644)
        try:
            os.write(mark, _lock_domain(fd))
        finally:
            os.close(mark)
    except OSError as exc:
        log.warning("%s: could not record the claim's owner (%s); it is judged by its lease", path.name, exc)


def unmark_owner(path: Path) -> None:
    """Remove the owner record of the claim that was at ``path``."""
    try:
        owner_mark(path).unlink(missing_ok=True)
    except OSError as exc:
        log.warning("%s: could not remove its owner record (%s); recovery does", path.name, exc)


def clean_owner_marks(folder: Path, max_age: float) -> None:
    """Remove owner records (``ttvd.claim.owner_mark``) whose claim left ``folder`` long ago: a crash
    between a claim's move and its record's removal leaves one behind."""
    for mark in folder.glob("*.owner"):
        try:
            if not mark.with_suffix(".json").exists() and time.time() - mark.lstat().st_mtime > max_age:
                mark.unlink()
        except OSError:
            continue


def _lock_visible(path: Path, fd: int) -> bool:
    """True when the claim at ``path`` was made where a lock on ``fd`` is seen from here."""
    try:
        mark = atomic.read_regular(owner_mark(path), 4096)
    except (OSError, ValueError):
        return False
    return mark == _lock_domain(fd)


def _lock_domain(fd: int) -> bytes:
    """Where a lock on ``fd``'s file is seen: this host and kernel boot, and this mount (its device),
    as written in owner records (UTF-8: a host name need not be ASCII)."""
    return f"{_host()} {os.fstat(fd).st_dev}".encode("utf-8", "surrogateescape")


@functools.cache
def _host() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            boot = handle.read().strip()
    except OSError:
        boot = ""
    return f"{socket.gethostname()}/{boot}"


def take_back(spool: Spool, path: Path, fd: int) -> bool:
    """Requeue the abandoned claim at ``path`` (``fd`` is open on it) as a new file; False if another took it.

    A frozen owner still holds the lock on the old file, so the old file itself could never be
    claimed again: the queue gets a copy. The steps, each safe to stop after:

    1. stamp the lease with our own time, so other daemons judge the claim live for a lease;
    2. rename ``active/<id>.json`` to ``tmp/<id>.json``: only one daemon can, and no claimer looks there
       (a crash after this is finished by recovery, as an interrupted submission);
    3. check it is the file judged abandoned, not a new claim that took its place meanwhile;
    4. replace it with a durable copy of its bytes (a new inode), then rename the copy into ``incoming/``.

    The old owner's ``Claim.owned()`` then finds its path gone or holding another file.
    """
    home = spool.home
    marker = home.queue("tmp") / path.name
    mine = os.fstat(fd)
    if not _same_file(path, mine):
        return False  # gone from active/, or already requeued and claimed again
    try:
        now_ns = time.time_ns()
        os.utime(fd, ns=(now_ns, now_ns))
        os.rename(path, marker)
    except FileNotFoundError:
        return False  # it left active/ meanwhile: finished, released or taken by another daemon
    if not _same_file(marker, mine):
        os.rename(marker, path)  # a live claim that replaced the judged one: put it back at once
        return False
    unmark_owner(path)  # before the request is back in the queue, so it never names the next claim
    try:
        atomic.write_bytes(marker, _read_all(fd), tmp_dir=marker.parent)
    except (OSError, NoSpaceError):  # write_bytes says a full disk as NoSpaceError, not OSError
        os.rename(marker, path)  # not requeued: the next sweep tries again
        raise
    os.rename(marker, home.queue("incoming") / path.name)
    atomic.fsync_dir(home.queue("incoming"))
    return True


def _same_file(path: Path, info: os.stat_result) -> bool:
    try:
        here = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return (here.st_dev, here.st_ino) == (info.st_dev, info.st_ino)


def _read_all(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    chunks, offset = [], 0
    while offset < size:
        chunk = os.pread(fd, size - offset, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


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
                    unmark_owner(self.path)
        finally:
            self._close()

    def _close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
