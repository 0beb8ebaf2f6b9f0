"""An owner frozen for good (SIGSTOP, never resumed in time) does not keep its job: after the lease
another daemon runs it to completion, and the owner, woken afterwards, writes nothing more."""
import os
import signal
import time

from faults.faultkit import SLOW, SLOW_TEXT, encoders, queue, rendering, state
from ttvd.job import COMPLETED_MESSAGE, JobStatus
from ttvd.media import probe
from ttvd.spool import Spool

from helpers import wait_for

LEASE = 8  # TTVD_LEASE_SECONDS: renewed every quarter of it


def version(home, job_id):
    """The state file as it stands: a rewrite (write, fsync, rename) changes its inode and bytes."""
    path = Spool(home).home.job(job_id).state
    info = os.stat(path)
    return info.st_ino, info.st_mtime_ns, path.read_bytes()


def test_a_job_whose_owner_stays_frozen_is_completed_by_another_daemon(start, home):
    # Long enough that a busy machine delaying a renewal (every 2 s) by seconds takes nothing from a
    # running daemon, so only the frozen one loses its claim; short enough to wait for.
    lease = {"TTVD_LEASE_SECONDS": str(LEASE), **SLOW}
    job_id = Spool(home).ensure().submit(SLOW_TEXT, "cli").job_id
    owner = start(["daemon"], home, **lease)
    wait_for(lambda: rendering(home, job_id), 90, owner)
    other = start(["daemon"], home, **lease)

    owner.popen.send_signal(signal.SIGSTOP)
    try:
        # Today's recovery renamed the request back with the frozen owner's lock still on it: nobody
        # could claim it until the owner woke. Now the queue gets a new file that the other daemon takes.
        done = wait_for(lambda: (s := state(home, job_id)) and s.status is JobStatus.COMPLETED and s,
                        150, other)
        finished = version(home, job_id)
        assert os.waitpid(owner.popen.pid, os.WNOHANG) == (0, 0)  # still there, and still frozen
    finally:
        owner.popen.send_signal(signal.SIGCONT)

    wait_for(lambda: "the claim was taken over by another daemon" in owner.output(), 30, owner)
    time.sleep(LEASE / 4 + 1)  # a lease renewal and a cancel poll or two: anything it would write, it writes now
    assert version(home, job_id) == finished, "the old owner wrote the state after it lost the job"
    assert owner.popen.poll() is None  # it stood down from the job, not from work
    assert owner.stop() == 0 and other.stop() == 0
    assert version(home, job_id) == finished

    assert done.attempts == 2 and done.logs.count(COMPLETED_MESSAGE) == 1
    assert done.logs.count("Processing started (attempt 2)") == 1
    assert "its daemon is gone; back in the queue" in other.output()
    assert "Processing started" not in owner.output().split("taken over by another daemon", 1)[1]
    assert queue(home, "done") == [f"{job_id}.json"]
    assert queue(home, "active") == queue(home, "incoming") == []
    assert [n for n in queue(home, "tmp") if not n.startswith(".")] == []
    assert probe(Spool(home).home.job(job_id).video).duration > 30
    assert encoders(home) == []
