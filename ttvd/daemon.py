"""The daemon: claims jobs from the spool, runs the pipeline, and writes each step to the state file.

``Daemon.step()`` does one round of work and returns; ``run()`` loops over it, waking on filesystem
events or the poll interval. Signal handlers only set flags.
"""
from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path
from typing import Callable

from ttvd import pipeline
from ttvd.config import Settings
from ttvd.errors import Cancelled, StageError, TtvdError
from ttvd.job import COMPLETED_MESSAGE, STAGE_BY_NAME, JobState, JobStatus
from ttvd.spool import Claim, Spool
from ttvd.text import decode_text
from ttvd.watch import WatchFolder, start_observer

log = logging.getLogger(__name__)


class StateReporter:
    """Turns pipeline events into state-file rewrites and log lines, one per step."""

    def __init__(self, spool: Spool, state: JobState) -> None:
        self.spool = spool
        self.state = state

    def stage_started(self, stage: str) -> None:
        info = STAGE_BY_NAME[stage]
        self.state.stage, self.state.progress, self.state.message = stage, info.progress, info.message
        self.log(info.started)

    def stage_finished(self, stage: str) -> None:
        self.log(STAGE_BY_NAME[stage].finished)

    def progress(self, percent: int) -> None:
        self.state.progress = percent
        self.spool.write_state(self.state)

    def log(self, line: str) -> None:
        log.info("job %s: %s", self.state.job_id, line)
        self.state.log(line)
        self.spool.write_state(self.state)


class Daemon:
    def __init__(self, settings: Settings, spool: Spool, clock: Callable[[], float] = time.monotonic,
                 runner: Callable[[pipeline.Job], Path] = pipeline.run) -> None:
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
        self.jobs_run = 0

    # -- one round --------------------------------------------------------------------------------

    def step(self) -> bool:
        """Scan the watch folder when due, then run at most one queued job. True if a job ran."""
        now = self.clock()
        if now >= self._next_rescan:
            self.spool.recover()
            self._next_rescan = now + self.settings.rescan_seconds
            self.wake.set()
        if self.wake.is_set() or self.watch.pending():
            self.wake.clear()
            self.watch.scan()
        if self.stopping.is_set():
            return False
        claim = self.spool.claim_next()
        if claim is None:
            return False
        self.run_job(claim)
        return True

    def run_job(self, claim: Claim) -> None:
        request = claim.request
        state = self.spool.read_state(request.job_id) or JobState(
            request.job_id, created_at=request.created_at, source=request.source,
            options=request.options, origin=request.origin)
        reporter = StateReporter(self.spool, state)
        if state.attempts >= self.settings.max_attempts:
            self._fail(claim, state, reporter, state.stage,
                       f"gave up after {state.attempts} attempts (the daemon stopped during each)")
            return
        state.status, state.attempts, state.error = JobStatus.PROCESSING, state.attempts + 1, None
        reporter.log(f"Processing started (attempt {state.attempts})")
        job = pipeline.Job(request.job_id, request.text, self.settings, self.spool.work_dir(request.job_id),
                           self.spool.audio_path(request.job_id), self.spool.output_path(request.job_id),
                           reporter, request.options, self.cancel)
        heartbeat = claim.keep_alive()
        try:
            self.runner(job)
        except Cancelled as exc:
            self._release(claim, state, reporter, str(exc))
            return
        except TtvdError as exc:
            self._fail(claim, state, reporter, getattr(exc, "stage", state.stage), str(exc))
            return
        except Exception as exc:  # the top of the job loop: one bad job must not stop the daemon
            log.exception("job %s: unexpected error", request.job_id)
            self._fail(claim, state, reporter, state.stage, f"internal error: {exc}")
            return
        finally:
            heartbeat.set()
        state.status, state.progress, state.message = JobStatus.COMPLETED, 100, COMPLETED_MESSAGE
        state.stage = "done"
        state.output_file = f"output/{job.output.name}"
        reporter.log(COMPLETED_MESSAGE)
        claim.finish(ok=True)
        self.jobs_run += 1

    def _fail(self, claim: Claim, state: JobState, reporter: StateReporter, stage: str | None,
              reason: str) -> None:
        state.status = JobStatus.FAILED
        state.stage = stage
        state.error = reason
        state.message = f"Failed at {stage}: {reason}" if stage else f"Failed: {reason}"
        reporter.log(state.message)
        claim.finish(ok=False)
        self.jobs_run += 1

    def _release(self, claim: Claim, state: JobState, reporter: StateReporter, reason: str) -> None:
        state.status, state.progress, state.message = JobStatus.QUEUED, 0, "Interrupted; queued to resume"
        reporter.log(f"{reason}; the job goes back to the queue and resumes where it stopped")
        claim.release()

    # -- the loop ---------------------------------------------------------------------------------

    def run(self, burst: bool = False) -> int:
        """Work until stopped (or, with ``burst``, until nothing is queued). Returns an exit code."""
        self._install_signals()
        observer = None if burst else start_observer(self.watch, self.spool, self.wake)
        log.info("daemon ready: home %s", self.spool.home)
        try:
            while not self.stopping.is_set():
                if self.step():
                    continue
                if burst and not self.watch.pending() and not self.spool.queued_ids():
                    break
                self.wake.wait(min(self.settings.poll_seconds, 0.25 if burst else self.settings.poll_seconds))
                if observer is not None and not observer.is_alive():
                    log.error("the file watcher died; exiting so the supervisor restarts the daemon")
                    return 1
        finally:
            if observer is not None:
                observer.stop()
        log.info("daemon stopped after %d job(s)", self.jobs_run)
        return 0

    def request_stop(self, grace: float | None = None) -> None:
        """Stop claiming; cancel the running job if it has not finished within ``grace`` seconds."""
        self.stopping.set()
        self.wake.set()
        grace = self.settings.stop_grace_seconds if grace is None else grace
        timer = threading.Timer(grace, self.cancel.set)
        timer.daemon = True
        timer.start()

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def on_signal(signum, frame) -> None:
            if self.stopping.is_set():
                self.cancel.set()  # a second signal: stop now
            else:
                log.info("received %s: finishing the current job, then stopping",
                         signal.Signals(signum).name)
                self.request_stop()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
