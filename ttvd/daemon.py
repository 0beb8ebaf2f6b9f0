"""The daemon: claims jobs from the spool, runs the pipeline, and writes each step to the state file.

``Daemon.step()`` does one round of work and returns; ``run()`` loops over it, waking on filesystem
events or the poll interval. Signal handlers only set flags.
"""
from __future__ import annotations

import errno
import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any, Callable

from ttvd import pipeline
from ttvd.config import Settings
from ttvd.errors import Cancelled, NoSpaceError, TtvdError
from ttvd.job import COMPLETED_MESSAGE, STAGE_BY_NAME, JobState, JobStatus
from ttvd.notify import Monitor
from ttvd.claim import HEARTBEAT_SECONDS, Claim
from ttvd.spool import Spool
from ttvd.text import decode_text
from ttvd.watch import WatchFolder, start_observer

log = logging.getLogger(__name__)

HARD_STOP_SECONDS = 15.0  # after the grace period and this much more, a job that ignores its cancel is cut off
MAX_WATCHER_RESTARTS = 3  # a file watcher that dies more often than this ends the daemon (exit status 1)
LOW_SPACE_BYTES = 1024 * 1024  # a job that fails with less free space than this waits for space instead


class StateReporter:
    """Turns pipeline events into state-file rewrites and log lines, one per step."""

    def __init__(self, spool: Spool, state: JobState,
                 on_step: Callable[[str, int, str], None] = lambda job_id, progress, message: None,
                 claim: Claim | None = None) -> None:
        self.spool = spool
        self.state = state
        self.on_step = on_step  # tells the health monitor the job is moving
        self.claim = claim

    def stage_started(self, stage: str) -> None:
        info = STAGE_BY_NAME[stage]
        self.state.stage, self.state.progress, self.state.message = stage, info.progress, info.message
        self.log(info.started)

    def stage_finished(self, stage: str) -> None:
        self.log(STAGE_BY_NAME[stage].finished)

    def progress(self, percent: int) -> None:
        self.state.progress = percent
        self.save()
        self.on_step(self.state.job_id, percent, self.state.message)

    def credits(self, entries: list[dict[str, Any]]) -> None:
        self.state.credits = entries
        self.save()

    def log(self, line: str) -> bool:
        """Log ``line`` and save the state; False when it could not be saved."""
        log.info("job %s: %s", self.state.job_id, line)
        self.state.log(line)
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


class Daemon:
    def __init__(self, settings: Settings, spool: Spool, clock: Callable[[], float] = time.monotonic,
                 runner: Callable[[pipeline.Job], Path] = pipeline.run, monitor: Monitor | None = None) -> None:
        self.settings = settings
        self.spool = spool.ensure()
        self.clock = clock
        self.runner = runner
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.cancel = threading.Event()
        self.watch = WatchFolder(spool, settings.watch_settle_seconds,
                                 lambda data: decode_text(data, settings.max_text_chars), clock)
        self._next_rescan = 0.0
        self._pause_until = 0.0  # no claims before this clock time (after the disk was full)
        self._job_cancel: threading.Event | None = None
        self.jobs_run = 0
        self.monitor = monitor or Monitor.inert()  # sd_notify and heartbeat files; inert when stepped by hand

    # -- one round --------------------------------------------------------------------------------

    def step(self) -> bool:
        """Scan the watch folder when due, then run at most one queued job. True if a job ran."""
        now = self.clock()
        if now >= self._next_rescan:
            self._recover()
            self._next_rescan = now + self.settings.rescan_seconds
            self.wake.set()
        if self.wake.is_set() or self.watch.pending():
            self.wake.clear()
            self.watch.scan()
        self.monitor.scanned()
        if self.stopping.is_set() or now < self._pause_until:
            return False
        claim = self.spool.claim_next()
        if claim is None:
            return False
        self.run_job(claim)
        return True

    def _recover(self) -> None:
        try:
            self.spool.recover(self.settings.lease_seconds)
        except NoSpaceError as exc:
            log.warning("recovery postponed: %s", exc)

    def run_job(self, claim: Claim) -> None:
        request = claim.request
        state = self.spool.read_state(request.job_id) or JobState(
            request.job_id, created_at=request.created_at, source=request.source,
            options=request.options, origin=request.origin)
        reporter = StateReporter(self.spool, state, self.monitor.job_step, claim)
        if state.status is JobStatus.COMPLETED and self.spool.output_path(request.job_id).exists():
            # Its owner recorded the video but died before filing the request: file it, run nothing.
            log.warning("job %s: already completed; filing its request", request.job_id)
            claim.finish(ok=True)
            return
        if state.attempts >= self.settings.max_attempts:
            self._fail(claim, state, reporter, state.stage,
                       f"gave up after {state.attempts} attempts (the daemon stopped during each)")
            return
        state.status, state.attempts, state.error = JobStatus.PROCESSING, state.attempts + 1, None
        if not reporter.log(f"Processing started (attempt {state.attempts})"):
            self._wait_for_space(claim, state, reporter)  # start nothing that cannot be recorded
            return
        self._clean_leftovers(request.job_id)
        cancel = self._job_cancel = threading.Event()
        if self.cancel.is_set():
            cancel.set()
        job = pipeline.Job(request.job_id, request.text, self.settings, self.spool.work_dir(request.job_id),
                           self.spool.audio_path(request.job_id), self.spool.output_path(request.job_id),
                           reporter, request.options, cancel)
        heartbeat = claim.keep_alive(min(HEARTBEAT_SECONDS, self.settings.lease_seconds / 4), cancel.set)
        try:
            self.runner(job)
        except Exception as exc:  # the top of the job loop: one bad job must not stop the daemon
            self._after_error(claim, state, reporter, exc, cancel.is_set())
            return
        finally:
            heartbeat.set()
            self._job_cancel = None
        state.status, state.progress, state.message = JobStatus.COMPLETED, 100, COMPLETED_MESSAGE
        state.stage = "done"
        state.output_file = f"output/{job.output.name}"
        if claim.lost.is_set():
            claim.abandon()
        elif not reporter.log(COMPLETED_MESSAGE):
            self._wait_for_space(claim, state, reporter)  # the next attempt records it from the cache
        else:
            claim.finish(ok=True)
            self.jobs_run += 1

    def _after_error(self, claim: Claim, state: JobState, reporter: StateReporter, exc: Exception,
                     cancelled: bool) -> None:
        """File a job that raised: dropped if its claim was lost, requeued if stopped or out of space."""
        if claim.lost.is_set():
            claim.abandon()
        elif cancelled or isinstance(exc, Cancelled):  # the pipeline raises Cancelled unwrapped
            self._release(claim, state, reporter, str(exc))
        elif self._out_of_space(exc):
            self._wait_for_space(claim, state, reporter)
        elif isinstance(exc, TtvdError):
            self._fail(claim, state, reporter, getattr(exc, "stage", state.stage), str(exc))
        else:
            log.error("job %s: unexpected error", claim.request.job_id, exc_info=exc)
            self._fail(claim, state, reporter, state.stage, f"internal error: {exc}")

    def _fail(self, claim: Claim, state: JobState, reporter: StateReporter, stage: str | None,
              reason: str) -> None:
        state.status = JobStatus.FAILED
        state.stage = stage
        state.error = reason
        state.message = f"Failed at {stage}: {reason}" if stage else f"Failed: {reason}"
        if not reporter.log(state.message):
            self._wait_for_space(claim, state, reporter)  # never file a job whose failure is unrecorded
            return
        claim.finish(ok=False)
        self.jobs_run += 1

    def _release(self, claim: Claim, state: JobState, reporter: StateReporter, reason: str) -> None:
        state.status, state.progress, state.message = JobStatus.QUEUED, 0, "Interrupted; queued to resume"
        reporter.log(f"{reason}; the job goes back to the queue and resumes where it stopped")
        claim.release()

    def _wait_for_space(self, claim: Claim, state: JobState, reporter: StateReporter) -> None:
        """Requeue a job the full disk stopped, uncounted, and pause claiming until the next rescan."""
        state.status, state.progress, state.error = JobStatus.QUEUED, 0, None
        state.message = "Waiting for disk space; queued to resume"
        state.attempts = max(0, state.attempts - 1)
        reporter.log("The disk is full; the job goes back to the queue and resumes when there is space")
        claim.release()
        self._pause_until = self.clock() + self.settings.rescan_seconds
        log.warning("job %s: the disk is full; claiming paused for %.1f s", state.job_id,
                    self.settings.rescan_seconds)

    def _out_of_space(self, exc: BaseException | None) -> bool:
        """True when a failure was the disk's doing (ENOSPC anywhere in its chain, or no space left)."""
        seen = 0
        while exc is not None and seen < 10:
            text = f"{exc} {getattr(exc, 'stderr', '')}"
            if isinstance(exc, NoSpaceError) or getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT) \
                    or "No space left on device" in text:
                return True
            exc, seen = exc.__cause__ or exc.__context__, seen + 1
        try:
            info = os.statvfs(self.spool.home)
        except OSError:
            return False
        return info.f_bavail * info.f_frsize < LOW_SPACE_BYTES

    def _clean_leftovers(self, job_id: str) -> None:
        """Remove the half-written files an earlier attempt of this job left when it was killed."""
        leftovers = list(self.spool.work_dir(job_id).glob(".*.tmp"))
        leftovers.append(self.spool.output / f".{self.spool.output_path(job_id).name}.part")
        for path in leftovers:
            try:
                path.unlink()
                log.info("job %s: removed %s left by an earlier attempt", job_id, path.name)
            except (FileNotFoundError, IsADirectoryError):
                continue

    # -- the loop ---------------------------------------------------------------------------------

    def run(self, burst: bool = False) -> int:
        """Work until stopped (or, with ``burst``, until nothing is queued). Returns an exit code."""
        self._install_signals()
        observer = None if burst else start_observer(self.watch, self.spool, self.wake)
        self.monitor.start(lambda: observer is None or observer.is_alive())
        log.info("daemon ready: home %s", self.spool.home)
        restarts = 0
        try:
            while not self.stopping.is_set():
                self.monitor.tick(self.jobs_run)
                if self.step():
                    continue
                if burst and not self.watch.pending() and not self.spool.queued_ids():
                    break
                self.wake.wait(min(self.settings.poll_seconds, 0.25 if burst else self.settings.poll_seconds))
                if observer is not None and not observer.is_alive():
                    restarts += 1
                    if restarts > MAX_WATCHER_RESTARTS:
                        log.error("the file watcher died %d times; exiting so the supervisor restarts "
                                  "the daemon", restarts)
                        return 1
                    log.error("the file watcher died; restarting it (rescans cover what it missed)")
                    observer = start_observer(self.watch, self.spool, self.wake)
                    self.wake.set()
        finally:
            if observer is not None:
                observer.stop()
            self.monitor.jobs_run = self.jobs_run
            self.monitor.stop()
        log.info("daemon stopped after %d job(s)", self.jobs_run)
        return 0

    def request_stop(self, grace: float | None = None) -> None:
        """Stop claiming; cancel the running job if it has not finished within ``grace`` seconds."""
        self.stopping.set()
        self.wake.set()
        self.monitor.stopping()
        grace = self.settings.stop_grace_seconds if grace is None else grace
        for delay, action in ((grace, self.stop_now), (grace + HARD_STOP_SECONDS, self._cut_off)):
            timer = threading.Timer(delay, action)
            timer.daemon = True
            timer.start()

    def stop_now(self) -> None:
        """Cancel the running job: its encoder is killed and the job goes back to the queue."""
        self.cancel.set()
        job_cancel = self._job_cancel
        if job_cancel is not None:
            job_cancel.set()

    def _cut_off(self) -> None:
        """A job that ignored its cancel: exit at once. The kernel drops the claim's lock and kills
        the encoder (it dies with its parent), so the next daemon recovers the job."""
        if self._job_cancel is not None:
            log.error("the running job did not stop within %.0f s of its cancel; exiting", HARD_STOP_SECONDS)
            logging.shutdown()
            os._exit(1)

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def on_signal(signum, frame) -> None:
            if self.stopping.is_set():
                self.stop_now()  # a second signal: stop now
            else:
                log.info("received %s: finishing the current job, then stopping",
                         signal.Signals(signum).name)
                self.request_stop()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
