"""Daemons that die or are stopped mid-job: the job survives, runs to completion once, and no
encoder outlives its daemon. Real `ttvd daemon` processes on one home."""
import signal

from faults.faultkit import SLOW, SLOW_TEXT, encoders, queue, rendering, state, wait_gone
from ttvd.job import COMPLETED_MESSAGE, JobStatus
from ttvd.media import probe
from ttvd.spool import Spool

from helpers import wait_for


def completed(home, job_id):
    current = state(home, job_id)
    return current if current and current.status is JobStatus.COMPLETED else None


def test_kill_9_mid_render_then_restart_completes_once_on_attempt_2(start, home):
    job_id = Spool(home).ensure().submit(SLOW_TEXT, "cli").job_id
    first = start(["daemon"], home, **SLOW)
    wait_for(lambda: rendering(home, job_id), 90, first)

    first.stop(signal.SIGKILL)
    assert wait_gone(home, 5) == [], "the encoder outlived its daemon"
    assert queue(home, "active") == [f"{job_id}.json"]  # the claim is still where the crash left it

    second = start(["daemon"], home, **SLOW)
    done = wait_for(lambda: completed(home, job_id), 120, second)
    assert second.stop() == 0
    assert done.attempts == 2
    assert done.logs.count("Processing started (attempt 1)") == 1
    assert done.logs.count("Processing started (attempt 2)") == 1
    assert done.logs.count(COMPLETED_MESSAGE) == 1
    assert "Reusing the footage result of an earlier attempt" in done.logs
    assert "its daemon is gone" in second.output()
    assert queue(home, "done") == [f"{job_id}.json"]
    assert queue(home, "active") == queue(home, "incoming") == []
    assert probe(Spool(home).home.job(job_id).video).duration > 30
    assert list((home / "output").glob(".*.part")) == []
    assert encoders(home) == []


def test_sigterm_mid_job_releases_it_cleanly_and_the_next_daemon_completes_it(start, home):
    job_id = Spool(home).ensure().submit(SLOW_TEXT, "cli").job_id
    first = start(["daemon"], home, TTVD_STOP_GRACE_SECONDS="0.5", **SLOW)
    wait_for(lambda: rendering(home, job_id), 90, first)

    first.popen.send_signal(signal.SIGTERM)
    assert first.popen.wait(30) == 0
    assert encoders(home) == []
    released = state(home, job_id)
    assert released.status is JobStatus.QUEUED and released.message == "Interrupted; queued to resume"
    assert queue(home, "incoming") == [f"{job_id}.json"] and queue(home, "active") == []
    assert list((home / "output").glob(".*.part")) == []

    second = start(["daemon"], home, **SLOW)
    done = wait_for(lambda: completed(home, job_id), 120, second)
    assert second.stop() == 0
    assert done.attempts == 2 and done.logs.count(COMPLETED_MESSAGE) == 1
    assert "Reusing the speech result of an earlier attempt" in done.logs
    assert queue(home, "done") == [f"{job_id}.json"]


def test_sigterm_lets_a_job_finish_within_the_grace_period(start, home):
    job_id = Spool(home).ensure().submit("A short tale for a graceful stop.", "cli").job_id
    daemon = start(["daemon"], home, TTVD_STOP_GRACE_SECONDS="60")
    wait_for(lambda: state(home, job_id).status is not JobStatus.QUEUED, 60, daemon)

    daemon.popen.send_signal(signal.SIGTERM)
    assert daemon.popen.wait(60) == 0
    done = state(home, job_id)
    assert done.status is JobStatus.COMPLETED and done.attempts == 1
    assert queue(home, "done") == [f"{job_id}.json"] and encoders(home) == []


def test_a_frozen_owner_loses_its_claim_after_the_lease_and_stands_down(start, home):
    """A live claim whose heartbeat stops (the owner is frozen, as a host cut off by a partition
    would look) is taken back after the lease; when the owner wakes it notices, kills its encoder,
    writes nothing more, and the job completes exactly once through the other daemon."""
    # Long enough that a busy machine delaying a renewal (every 2 s) by seconds takes nothing from a
    # running daemon, so only the frozen one loses its claim; short enough to wait for.
    lease = {"TTVD_LEASE_SECONDS": "8", **SLOW}
    job_id = Spool(home).ensure().submit(SLOW_TEXT, "cli").job_id
    owner = start(["daemon"], home, **lease)
    wait_for(lambda: rendering(home, job_id), 90, owner)
    other = start(["daemon"], home, **lease)

    owner.popen.send_signal(signal.SIGSTOP)
    try:
        wait_for(lambda: "its daemon is gone; back in the queue" in other.output(), 60, other)
    finally:
        owner.popen.send_signal(signal.SIGCONT)
    done = wait_for(lambda: completed(home, job_id), 120, other)
    assert "the claim was taken over by another daemon" in owner.output()
    assert owner.popen.poll() is None  # it stood down from the job, not from work
    assert owner.stop() == 0 and other.stop() == 0
    assert done.attempts == 2 and done.logs.count(COMPLETED_MESSAGE) == 1
    assert state(home, job_id).status is JobStatus.COMPLETED  # the old owner wrote nothing after
    assert queue(home, "done") == [f"{job_id}.json"] and encoders(home) == []
