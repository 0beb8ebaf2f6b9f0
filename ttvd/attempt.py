"""One attempt of one claimed job: run the pipeline, record each step, and say how it ended.

``run_attempt`` returns an ``Outcome``; the daemon files it (done, failed, back to the queue). How
an attempt ended is decided by one small pure function of what happened, ``outcome_of``.
"""
from __future__ import annotations

import errno
import logging
import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from ttvd import control, pipeline
from ttvd.claim import RENEW_SECONDS, Claim
from ttvd.config import Settings
from ttvd.errors import Cancelled, NoSpaceError, StageError, TtvdError
from ttvd.job import STAGE_BY_NAME, JobState, JobStatus
from ttvd.spool import BadState, Spool

log = logging.getLogger(__name__)

LOW_SPACE_BYTES = 1024 * 1024  # a job that fails with less free space than this waits for space instead
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class Outcome(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"
    REQUEUED = "requeued"                    # stopped by a graceful stop: resumes later
    WAITING_FOR_SPACE = "waiting for space"  # the disk is full: requeued, not counted as an attempt
    LOST = "lost"                            # another daemon took the claim over
    CANCELLED = "cancelled"                  # the job itself was cancelled


def outcome_of(error: BaseException | None, *, lost: bool = False, stopped: bool = False,
               cancelled: bool = False, low_space: bool = False) -> Outcome:
    """How an attempt ended, from the error it raised (None: it finished) and what was true then."""
    if lost:
        return Outcome.LOST
    if error is None:  # it finished before a cancel could stop it: the video is made
        return Outcome.COMPLETED
    if cancelled:
        return Outcome.CANCELLED
    if stopped or isinstance(error, Cancelled):
        return Outcome.REQUEUED
    if isinstance(error, NoSpaceError) or low_space or (
            isinstance(error, OSError) and error.errno in _DISK_FULL):
        return Outcome.WAITING_FOR_SPACE
    return Outcome.FAILED


@dataclass
class Context:
    """What an attempt needs from its daemon."""

    spool: Spool
    settings: Settings
    runner: Callable[[pipeline.Job], Path] = pipeline.run
    on_step: Callable[[str, int, str], None] = lambda job_id, progress, message: None


def run_attempt(claim: Claim, context: Context, cancel: threading.Event) -> Outcome:
    """Run the claimed job once, recording every step in its state; the outcome says what to do next.

    Setting ``cancel`` stops the job at its next step (the encoder is killed) and requeues it.
    """
    request, spool = claim.request, context.spool
    paths = spool.home.job(request.job_id)
    try:
        state = spool.read_state(request.job_id) or JobState.queued(
            request.job_id, request.source, request.options, request.origin, request.created_at)
    except BadState as exc:  # set it aside and fail the job in a fresh state, saying why
        spool.set_aside(paths.state, str(exc), what="state file")
        reporter = StateReporter(spool, Spool.unreadable_state(request, str(exc)), context.on_step, claim)
        return _cleared(spool, _recorded(reporter, Outcome.FAILED), request.job_id)
    reporter = StateReporter(spool, state, context.on_step, claim)
    if state.status is JobStatus.COMPLETED and paths.video.exists():
        # Its owner recorded the video but died before filing the request: file it, run nothing.
        log.warning("job %s: already completed; filing its request", request.job_id)
        return Outcome.COMPLETED
    if state.attempts >= context.settings.max_attempts:
        state.fail(f"gave up after {state.attempts} attempts (the daemon stopped during each)")
        return _recorded(reporter, Outcome.FAILED)
    if control.cancel_requested(spool, request.job_id):
        state.cancel("cancelled before it started")
        return _cleared(spool, _recorded(reporter, Outcome.CANCELLED), request.job_id)
    state.begin_attempt()
    if not reporter.commit():
        return _recorded(reporter, Outcome.WAITING_FOR_SPACE)  # start nothing that cannot be recorded
    _clean_leftovers(paths.work, paths.partial_video, request.job_id)
    job = pipeline.Job(request.job_id, request.text, context.settings, paths.work, paths.audio, paths.video,
                       reporter, request.options, cancel)
    cancelled = threading.Event()
    error = _run(context, claim, job, cancelled)
    outcome = outcome_of(error, lost=claim.lost.is_set(), cancelled=cancelled.is_set(),
                         stopped=cancel.is_set() and not claim.lost.is_set(),
                         low_space=error is not None and _low_space(spool))
    if outcome is Outcome.LOST:
        return outcome
    _conclude(state, outcome, error, f"output/{paths.video.name}")
    outcome = _cleared(spool, _recorded(reporter, outcome), request.job_id)
    if outcome is Outcome.COMPLETED and not context.settings.keep_work:
        shutil.rmtree(paths.work, ignore_errors=True)  # a completed job is never resumed (TTVD_KEEP_WORK)
    return outcome


def _cleared(spool: Spool, outcome: Outcome, job_id: str) -> Outcome:
    """Once the job has ended for good, a cancel asked for it meanwhile has nothing left to stop."""
    if outcome in (Outcome.COMPLETED, Outcome.FAILED, Outcome.CANCELLED):
        control.clear_cancel(spool, job_id)
    return outcome


def _run(context: Context, claim: Claim, job: pipeline.Job, cancelled: threading.Event) -> BaseException | None:
    """Run the pipeline with the lease renewed (its loss cancels the job) while watching for a cancel
    file (which sets ``cancelled`` and stops the job); the error, if any."""
    lease = claim.keep_renewed(min(RENEW_SECONDS, context.settings.lease_seconds / 4), job.cancel.set)
    threading.Thread(target=_watch_for_cancel, args=(context.spool, job, cancelled, lease),
                     name=f"cancel-{job.job_id[:8]}", daemon=True).start()
    try:
        context.runner(job)
    except Exception as exc:  # the top of one job: one bad job must not stop the daemon
        if not isinstance(exc, TtvdError) and not (isinstance(exc, OSError) and exc.errno in _DISK_FULL):
            log.error("job %s: unexpected error", job.job_id, exc_info=exc)
        return exc
    finally:
        lease.set()
    return None


def _watch_for_cancel(spool: Spool, job: pipeline.Job, cancelled: threading.Event, done: threading.Event) -> None:
    while not done.wait(control.CANCEL_POLL_SECONDS):
        if control.cancel_requested(spool, job.job_id):
            log.info("job %s: cancel requested; stopping it", job.job_id)
            cancelled.set()
            job.cancel.set()
            return


def _conclude(state: JobState, outcome: Outcome, error: BaseException | None, output_file: str) -> None:
    """The transition of ``state`` for ``outcome``."""
    if outcome is Outcome.COMPLETED:
        state.complete(output_file)
    elif outcome is Outcome.CANCELLED:
        state.cancel()
    elif outcome is Outcome.REQUEUED:
        state.requeue(str(error) if error is not None else "the daemon is stopping")
    elif outcome is Outcome.WAITING_FOR_SPACE:
        state.wait_for_space()
    elif isinstance(error, TtvdError):
        state.fail(str(error), error.stage if isinstance(error, StageError) else None)
    else:
        state.fail(f"internal error: {error}")


def _recorded(reporter: StateReporter, outcome: Outcome) -> Outcome:
    """Save the state of a finished attempt; a job whose end could not be recorded waits for space."""
    if reporter.commit() or outcome in (Outcome.WAITING_FOR_SPACE, Outcome.REQUEUED):
        return outcome
    reporter.state.wait_for_space()  # the next attempt records it (finished stages are cached)
    reporter.commit()
    return Outcome.WAITING_FOR_SPACE


def _low_space(spool: Spool) -> bool:
    try:
        info = os.statvfs(spool.home.root)
    except OSError:
        return False
    return info.f_bavail * info.f_frsize < LOW_SPACE_BYTES


def _clean_leftovers(work: Path, partial_video: Path, job_id: str) -> None:
    """Remove the half-written files an earlier attempt of this job left when it was killed."""
    for path in [*work.glob(".*.tmp"), partial_video]:
        try:
            path.unlink()
            log.info("job %s: removed %s left by an earlier attempt", job_id, path.name)
        except (FileNotFoundError, IsADirectoryError):
            continue


class StateReporter:
    """Turns pipeline events into state-file rewrites and log lines, one per step."""

    def __init__(self, spool: Spool, state: JobState, on_step: Callable[[str, int, str], None],
                 claim: Claim | None = None) -> None:
        self.spool = spool
        self.state = state
        self.on_step = on_step  # tells the health monitor the job is moving
        self.claim = claim

    def stage_started(self, stage: str) -> None:
        self.state.enter_stage(stage)
        self.commit()

    def stage_finished(self, stage: str) -> None:
        self.log(STAGE_BY_NAME[stage].finished)

    def progress(self, percent: int) -> None:
        self.state.progress = percent
        self.save()
        self.on_step(self.state.job_id, percent, self.state.message)

    def credits(self, entries: list[dict[str, Any]]) -> None:
        self.state.credits = entries
        self.save()

    def log(self, line: str) -> None:
        self.state.log(line)
        self.commit()

    def commit(self) -> bool:
        """After a transition or a log line: log its line, save, tell the monitor; True if saved."""
        line = self.state.logs[-1] if self.state.logs else self.state.message
        log.info("job %s: %s", self.state.job_id, line)
        saved = self.save()
        self.on_step(self.state.job_id, self.state.progress, line)
        return saved

    def save(self) -> bool:
        """Write the state if this daemon still owns the job and the disk has room; True if written.

        On a full disk the state file keeps its last good version and the next save tries again.
        """
        if self.claim is not None and not self.claim.owned():
            return False
        try:
            self.spool.write_state(self.state)
        except NoSpaceError as exc:
            log.warning("job %s: state not saved (%s); the state file keeps its last version",
                        self.state.job_id, exc)
            return False
        return True
