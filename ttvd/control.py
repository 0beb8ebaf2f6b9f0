"""Cancel, retry and delete a job through the spool, from any process on any host that shares it.

A cancel is a file, ``spool/cancel/<id>``: a queued job is claimed and cancelled on the spot; a
running one is stopped by the daemon that owns it, which looks for the file every
``CANCEL_POLL_SECONDS`` while the job runs and before it starts (``ttvd.attempt``). No signal is
ever sent, so it works across daemons and hosts. Retry puts a failed or cancelled request back in
the queue with its work folder, so finished stages are reused. Delete cancels, waits for the job
to end, then removes every file of it, its state last (a delete cut short can be run again).
"""
from __future__ import annotations

import logging
import os
import shutil
import time

from ttvd import atomic, webhooks
from ttvd.claim import claim
from ttvd.config import Settings
from ttvd.errors import Conflict
from ttvd.home import UnknownJob
from ttvd.job import JobState, JobStatus
from ttvd.spool import Spool

log = logging.getLogger(__name__)

CANCEL_POLL_SECONDS = 0.5   # how often a running job looks for its cancel file
DELETE_WAIT_SECONDS = 20.0  # how long a delete waits for a running job to stop
FINISHED_QUEUES = ("done", "failed")


def state_of(spool: Spool, job_id: str) -> JobState:
    """The job's state; ``UnknownJob`` (404) when there is none."""
    state = spool.read_state(job_id)
    if state is None:
        raise UnknownJob()
    return state


def cancel_requested(spool: Spool, job_id: str) -> bool:
    return spool.home.cancels.joinpath(job_id).exists()


def clear_cancel(spool: Spool, job_id: str) -> None:
    spool.home.cancels.joinpath(job_id).unlink(missing_ok=True)


def cancel(spool: Spool, job_id: str, settings: Settings | None = None) -> JobState:
    """Ask the job to stop for good; its state now (``cancelled`` at once if it was only queued).

    ``Conflict`` for a job that already finished. A job cancelled here (it was only queued) has its
    webhook event written with ``settings``; a running job's daemon writes its own.
    """
    state = state_of(spool, job_id)
    if state.status.finished:
        raise Conflict(f"Job already {state.status.value}; only a queued or running job can be cancelled")
    paths = spool.home.job(job_id)
    atomic.write_bytes(spool.home.cancels / paths.job_id, b"", tmp_dir=spool.home.queue("tmp"))
    log.info("job %s: cancel requested", job_id)
    taken = claim(spool, job_id)  # a queued job: take it out of the queue ourselves
    if taken is None:
        return state  # running (its daemon notices the file), or it just finished
    try:
        current = spool.read_state(job_id) or state
        if current.status.finished:  # it finished between our read and our claim
            taken.finish("done" if current.status is JobStatus.COMPLETED else "failed")
            clear_cancel(spool, job_id)
            return current
        current.cancel("cancelled while queued")
        spool.write_state(current)
    except BaseException:
        taken.release()
        raise
    taken.finish("failed")
    clear_cancel(spool, job_id)
    log.info("job %s: cancelled while queued", job_id)
    if settings is not None:
        webhooks.enqueue(spool, settings, current)
    return current


def retry(spool: Spool, job_id: str) -> JobState:
    """Queue a failed or cancelled job again, keeping its finished stages; ``Conflict`` otherwise."""
    state = state_of(spool, job_id)
    if state.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
        raise Conflict(f"Job is {state.status.value}; only a failed or cancelled job can be retried")
    request = spool.home.request("failed", job_id)
    if not request.exists():
        raise Conflict("Job cannot be retried: its request was never queued (it was refused when submitted)")
    clear_cancel(spool, job_id)
    state.retry()
    spool.write_state(state)
    try:
        os.rename(request, spool.home.request("incoming", job_id))
    except FileNotFoundError:  # another retry won the race; it queued the job
        return state
    log.info("job %s: queued again on request", job_id)
    return state


def delete(spool: Spool, job_id: str, wait: float = DELETE_WAIT_SECONDS, settings: Settings | None = None) -> None:
    """Cancel the job if it runs, wait for it to end, then remove every file of it."""
    state = state_of(spool, job_id)
    if not state.status.finished:
        state = cancel(spool, job_id, settings)
    active = spool.home.request("active", job_id)
    deadline = time.monotonic() + wait
    while not state.status.finished or active.exists():  # its daemon files the request just after
        if time.monotonic() > deadline:
            raise Conflict(f"Job is still stopping after {wait:.0f} s; try the delete again")
        time.sleep(CANCEL_POLL_SECONDS / 2)
        state = spool.read_state(job_id) or state
    paths = spool.home.job(job_id)
    for queue in ("incoming", *FINISHED_QUEUES):
        spool.home.request(queue, job_id).unlink(missing_ok=True)
    for path in (paths.video, *paths.side_files, paths.audio, paths.partial_video):
        path.unlink(missing_ok=True)
    shutil.rmtree(paths.work, ignore_errors=True)
    clear_cancel(spool, job_id)
    webhooks.forget(spool, job_id)
    paths.state.unlink(missing_ok=True)
    log.info("job %s: deleted with its files", job_id)

