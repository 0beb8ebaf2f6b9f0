"""The daemon loop: recover, scan the watch folder, claim a job, run one attempt, file its outcome.

``Daemon.step()`` does one round of work and returns; ``run()`` loops over it, waking on filesystem
events or the poll interval. With ``TTVD_WORKERS`` above 1, the loop only keeps house (recovery,
the watch folder) and that many worker threads each claim and run jobs. Signal handlers only count
signals; the loop and a small stop thread act on them, so a signal never runs code that takes a lock.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from ttvd import courier, pipeline, recovery, retention, voices, webhooks
from ttvd.attempt import Context, Outcome, run_attempt
from ttvd.claim import Claim, claim_next
from ttvd.config import Settings
from ttvd.errors import NoSpaceError
from ttvd.notify import Monitor
from ttvd.spool import Spool
from ttvd.text import decode_text
from ttvd.watch import Watcher, WatchFolder

log = logging.getLogger(__name__)

HARD_STOP_SECONDS = 15.0  # after the grace period and this much more, a job that ignores its cancel is cut off
SIGNAL_POLL_SECONDS = 0.1  # how soon the stop thread acts on a signal


class Daemon:
    def __init__(self, settings: Settings, spool: Spool, clock: Callable[[], float] = time.monotonic,
                 runner: Callable[[pipeline.Job], Path] = pipeline.run, monitor: Monitor | None = None) -> None:
        self.settings = settings
        self.spool = spool.ensure()
        self.clock = clock
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.cancel = threading.Event()
        self.watch = WatchFolder(spool, settings.watch_settle_seconds,
                                 lambda data: decode_text(data, settings.max_text_chars), clock)
        self._next_rescan = 0.0
        self._pause_until = 0.0  # no claims before this clock time (after the disk was full)
        self._running: dict[str, threading.Event] = {}  # job id -> its cancel, for each job running now
        self._lock = threading.Lock()
        self._signals = 0  # stop signals received; written only by the signal handler
        self.jobs_run = 0
        self.monitor = monitor or Monitor.inert()  # sd_notify and the daemon file; inert when stepped by hand
        self.context = Context(spool, settings, runner, self.monitor.job_step)

    # -- one round --------------------------------------------------------------------------------

    def step(self) -> bool:
        """Scan the watch folder when due, then run at most one queued job. True if a job ran."""
        self._keep_house()
        return self._run_next()

    def _keep_house(self) -> None:
        """Recovery and retention when due, and the watch folder when it has news."""
        now = self.clock()
        if now >= self._next_rescan:
            self._recover()
            self._next_rescan = now + self.settings.rescan_seconds
            self.wake.set()
        if self.wake.is_set() or self.watch.pending():
            self.wake.clear()
            self.watch.scan()
        self.monitor.scanned()

    def _run_next(self) -> bool:
        """Claim the oldest queued job and run it; False when none could be claimed."""
        if self.stopping.is_set() or self.clock() < self._pause_until:
            return False
        claim = claim_next(self.spool)
        if claim is None:
            return False
        self.run_job(claim)
        return True

    def _recover(self) -> None:
        try:
            recovery.recover(self.spool, self.settings.lease_seconds)
        except NoSpaceError as exc:
            log.warning("recovery postponed: %s", exc)
        retention.sweep(self.spool, self.settings.retain_days)

    def run_job(self, claim: Claim) -> Outcome:
        """Run one attempt of the claimed job and file its outcome."""
        job_id = claim.request.job_id
        cancel = threading.Event()
        with self._lock:
            self._running[job_id] = cancel
        if self.cancel.is_set():
            cancel.set()
        try:
            outcome = run_attempt(claim, self.context, cancel)
        finally:
            with self._lock:
                del self._running[job_id]
        self._file(claim, outcome)
        return outcome

    def _file(self, claim: Claim, outcome: Outcome) -> None:
        """Move the request where the outcome sends it."""
        if outcome is Outcome.LOST:
            claim.abandon()
        elif outcome in (Outcome.REQUEUED, Outcome.WAITING_FOR_SPACE):
            claim.release()
        else:
            # The event is written before the request is filed: a daemon killed in between leaves the
            # job in active/, recovery files it again, and enqueueing again writes nothing new.
            webhooks.enqueue_finished(self.spool, self.settings, claim.request.job_id)
            claim.finish("done" if outcome is Outcome.COMPLETED else "failed")
            with self._lock:
                self.jobs_run += 1
        if outcome is Outcome.WAITING_FOR_SPACE:
            self._pause_until = self.clock() + self.settings.rescan_seconds
            log.warning("job %s: the disk is full; claiming paused for %.1f s", claim.request.job_id,
                        self.settings.rescan_seconds)

    # -- the loop ---------------------------------------------------------------------------------

    def run(self, burst: bool = False) -> int:
        """Work until stopped (or, with ``burst``, until nothing is queued). Returns an exit code."""
        self._install_signals()
        voices.publish(self.settings, self.spool.home.voices)  # before ready: GET /api/v1/voices serves it
        watcher = None if burst else Watcher(self.watch, self.spool, self.wake)
        self.monitor.start(lambda: watcher is None or watcher.alive())
        delivery = courier.Courier(self.spool, self.settings).start()  # delivers webhook events meanwhile
        done = threading.Event()
        threading.Thread(target=self._act_on_signals, args=(done,), name="ttvd-signals", daemon=True).start()
        workers = [threading.Thread(target=self._work, name=f"ttvd-worker-{n + 1}", daemon=True)
                   for n in range(self.settings.workers)] if self.settings.workers > 1 else []
        for worker in workers:
            worker.start()
        log.info("daemon ready: home %s, %d worker(s)", self.spool.home.root, self.settings.workers)
        try:
            while not self.stopping.is_set():
                self.monitor.tick(self.jobs_run)
                if workers:
                    self._keep_house()
                elif self.step():
                    continue
                if burst and not self.watch.pending() and not self.spool.queued_ids() and not self._running:
                    break
                self.wake.wait(min(self.settings.poll_seconds, 0.25 if burst else self.settings.poll_seconds))
                if watcher is not None and not watcher.keep_alive():
                    return 1
        finally:
            self.stopping.set()  # workers finish their job (or are cancelled by a second signal) and end
            for worker in workers:
                worker.join()
            done.set()
            delivery.stop()
            if watcher is not None:
                watcher.stop()
            self.monitor.jobs_run = self.jobs_run
            self.monitor.stop()
        log.info("daemon stopped after %d job(s)", self.jobs_run)
        return 0

    def _work(self) -> None:
        """One worker: claim and run jobs until the daemon stops."""
        while not self.stopping.is_set():
            if not self._run_next():
                self.stopping.wait(min(self.settings.poll_seconds, 0.25))

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
        with self._lock:
            running = list(self._running.values())
        for job_cancel in running:
            job_cancel.set()

    def _cut_off(self) -> None:
        """A job that ignored its cancel: exit at once. The kernel drops the claim's lock and kills
        the encoder (it dies with its parent), so the next daemon recovers the job."""
        if self._running:
            log.error("the running job did not stop within %.0f s of its cancel; exiting", HARD_STOP_SECONDS)
            logging.shutdown()
            os._exit(1)

    # -- signals ----------------------------------------------------------------------------------

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def on_signal(signum: int, frame: FrameType | None) -> None:
            self._signals += 1  # only a flag: the main thread may hold any lock right now

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

    def _act_on_signals(self, done: threading.Event) -> None:
        """The first stop signal finishes the current job and stops; a second one stops it now."""
        handled = 0
        while not done.wait(SIGNAL_POLL_SECONDS):
            while handled < self._signals:
                handled += 1
                self._on_stop_signal()

    def _on_stop_signal(self) -> None:
        if self.stopping.is_set():
            self.stop_now()
        else:
            log.info("stop signal received: finishing the current job, then stopping")
            self.request_stop()
