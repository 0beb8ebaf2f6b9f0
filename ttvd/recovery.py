"""Recovery sweeps: what a daemon does at start and on every rescan so that no job is lost.

- claims whose owner is gone go back to ``incoming/`` (``ttvd.claim.owner_gone``);
- complete requests that a dying submitter left in ``tmp/`` are queued;
- state files that cannot be read go to ``corrupt/``, and their job is failed in a fresh state;
- unfinished jobs whose request is in no queue are failed, saying so;
- temporary files a crash left behind are removed once clearly abandoned.
"""
from __future__ import annotations

import logging
import os
import time

from ttvd import atomic
from ttvd.claim import clean_owner_marks, owner_gone, take_back
from ttvd.job import is_valid_id
from ttvd.request import MAX_REQUEST_BYTES, Request
from ttvd.spool import BadState, Spool

log = logging.getLogger(__name__)

LEASE_SECONDS = 120.0  # a lease older than this means the claim's owner is gone
TMP_MAX_AGE_SECONDS = 3600.0  # temporary files older than this were left by a crash
SUBMIT_GRACE_SECONDS = 60.0  # a request in tmp/ younger than this may still be on its way to the queue


def recover(spool: Spool, lease: float = LEASE_SECONDS, tmp_max_age: float = TMP_MAX_AGE_SECONDS) -> list[str]:
    """Run every sweep; returns the ids of the claims put back in the queue."""
    set_aside_bad_states(spool)
    recovered = requeue_abandoned(spool, lease)
    finish_submissions(spool, min(tmp_max_age, SUBMIT_GRACE_SECONDS))
    fail_orphans(spool, lease)
    clean_tmp(spool, tmp_max_age)
    return recovered


def requeue_abandoned(spool: Spool, lease: float) -> list[str]:
    """Put claims whose owner is gone back in ``incoming/``.

    An owner is gone when its lock is free (the process died) or, where locks do not reach (another
    host), when its lease is older than ``lease`` seconds. A live claim keeps its lock and renews
    its lease, so it is never taken. The queue gets a copy of the request (``take_back``): an owner
    that is frozen rather than dead still holds the lock on the old file.
    """
    recovered = []
    for path in spool.home.queue("active").glob("*.json"):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            continue
        except OSError as exc:
            spool.set_aside(path, exc.strerror or str(exc))
            continue
        try:
            if owner_gone(fd, lease, path) and take_back(spool, path, fd):
                recovered.append(path.stem)
                log.warning("job %s: its daemon is gone; back in the queue", path.stem)
        finally:
            os.close(fd)
    clean_owner_marks(spool.home.queue("active"), lease)
    return recovered


def set_aside_bad_states(spool: Spool) -> None:
    """Move each state file that cannot be read to ``corrupt/`` and fail its job (``replace_bad_state``)."""
    for job_id, reason in spool.bad_states():
        spool.replace_bad_state(job_id, str(reason))


def finish_submissions(spool: Spool, min_age: float) -> None:
    """Queue complete requests left in ``tmp/`` by a submitter that died after writing the state."""
    for path in spool.home.queue("tmp").glob("*.json"):
        try:
            if time.time() - path.lstat().st_mtime < min_age or spool.read_state(path.stem) is None:
                continue
            Request.from_json(atomic.read_regular(path, MAX_REQUEST_BYTES), path.stem)
            os.rename(path, spool.home.queue("incoming") / path.name)
            log.warning("job %s: its submitter stopped before queueing it; queued now", path.stem)
        except (OSError, ValueError, TypeError):
            continue  # gone, or not a request: clean_tmp removes it once it is old


def fail_orphans(spool: Spool, lease: float) -> None:
    """Fail unfinished jobs whose request has been in no queue (deleted by hand, or lost) for a lease."""
    held: set[str] = set()
    for queue in ("tmp", "incoming", "active", "done", "failed", "corrupt"):
        held.update(entry.name.split(".")[0] for entry in os.scandir(spool.home.queue(queue)))
    for job_id, _ in spool.state_files():
        if job_id in held or not is_valid_id(job_id):
            continue
        try:
            state = spool.read_state(job_id)
        except BadState as exc:
            spool.replace_bad_state(job_id, str(exc))  # it went bad since set_aside_bad_states looked
            continue
        if state is None or state.status.finished or time.time() - state.updated_at < lease:
            continue
        spool.fail_unqueued(job_id, "the job's request file is missing from the spool")


def clean_tmp(spool: Spool, max_age: float) -> None:
    """Remove files a crash left half-written, once they are clearly abandoned.

    That is ``spool/tmp/`` and the ``.*.part`` videos of ``output/``; a job's own ``work/<id>/``
    is cleaned by the daemon that claims it.
    """
    home = spool.home
    for path in [*home.queue("tmp").iterdir(), *home.output.glob(".*.part")]:
        try:
            if time.time() - path.lstat().st_mtime > max_age:
                path.unlink()
                log.info("removed stale temporary file %s", path.relative_to(home.root))
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            continue
