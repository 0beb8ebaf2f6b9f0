"""Recovery: abandoned claims come back, live ones are never taken, unreadable requests are set
aside, and what a crash leaves half-done is finished or cleaned up."""
import json
import os
import threading
import time

import pytest

from faults.faultkit import SLOW, SLOW_TEXT, queue, state
from ttvd.claim import claim
from ttvd.job import JobState, JobStatus, new_id
from ttvd.recovery import recover
from ttvd.spool import Spool

from helpers import wait_for

HOUR = 3600


def crashed_claim(spool: Spool, text: str, attempts: int, age: float = 0.0) -> str:
    """A job as a daemon that died mid-run leaves it: in active/, unlocked, state processing."""
    state = spool.submit(text, "cli")
    state.status, state.attempts, state.stage, state.progress = JobStatus.PROCESSING, attempts, "queries", 60
    spool.write_state(state)
    taken = claim(spool, state.job_id)  # claimed here (its owner record says so), then its process died:
    taken.abandon()                     # the lock goes with the process, the claim stays
    active = taken.path
    if age:
        os.utime(active, (time.time() - age, time.time() - age))
    return state.job_id


def test_abandoned_claims_are_requeued_with_attempts_counted_and_given_up_after_the_limit(start, home):
    spool = Spool(home).ensure()
    stale = crashed_claim(spool, "A tale whose daemon died long ago.", attempts=1, age=HOUR)
    fresh = crashed_claim(spool, "A tale whose daemon died a moment ago.", attempts=1)
    worn = crashed_claim(spool, "A tale that crashed its daemon every time.", attempts=3, age=HOUR)

    daemon = start(["daemon", "--burst"], home)
    assert daemon.popen.wait(90) == 0, daemon.output()
    for job_id in (stale, fresh):  # the lock was free: the owner is gone, however recent its heartbeat
        done = state(home, job_id)
        assert done.status is JobStatus.COMPLETED and done.attempts == 2
    given_up = state(home, worn)
    assert given_up.status is JobStatus.FAILED and given_up.attempts == 3
    assert "gave up after 3 attempts" in given_up.error
    assert queue(home, "failed") == [f"{worn}.json"]
    assert daemon.output().count("its daemon is gone; back in the queue") == 3


def test_live_claims_are_never_taken_however_short_the_lease(start, home):
    """The lease is short next to the job, but not so short that it races the machine: renewed every
    2 s (a quarter of it), an 8 s lease survives a renewal late by several seconds on a busy machine."""
    job_id = Spool(home).ensure().submit(SLOW_TEXT, "cli").job_id
    fast = {"TTVD_LEASE_SECONDS": "8", "TTVD_RESCAN_SECONDS": "0.2", **SLOW}
    owner = start(["daemon"], home, **fast)
    wait_for(lambda: state(home, job_id).status is JobStatus.PROCESSING, 60, owner)
    rivals = [start(["daemon"], home, **fast) for _ in range(2)]  # each recovers five times a second
    active = home / "spool" / "active" / f"{job_id}.json"
    leases = set()

    def renewed_or_done() -> bool:
        try:
            leases.add(os.stat(active).st_mtime_ns)
        except FileNotFoundError:
            pass
        return state(home, job_id).status is JobStatus.COMPLETED

    wait_for(renewed_or_done, 180, owner, interval=0.2)
    assert len(leases) >= 3, "the lease was not renewed while the job ran"  # so the rivals saw a live claim
    assert [proc.stop() for proc in (owner, *rivals)] == [0, 0, 0]
    assert state(home, job_id).attempts == 1
    for rival in rivals:
        assert "back in the queue" not in rival.output() and "Processing started" not in rival.output()


def test_a_stale_heartbeat_is_recovered_even_when_locked_and_the_owner_learns_it_lost(spool):
    """Across hosts a lock may not be visible, so the heartbeat decides: a claim whose heartbeat is
    older than the lease is taken back, and its owner (here, this process) sees the loss."""
    job_id = spool.submit("A tale on another host.", "cli").job_id
    held = claim(spool, job_id)
    beating = held.keep_renewed(0.05)
    beats = set()
    # the heartbeat is seen to change between reads, three times: no clock decides it is beating
    wait_for(lambda: beats.add(os.stat(held.path).st_mtime_ns) or len(beats) >= 3, 30)
    assert recover(spool, lease=HOUR) == []  # locked and beating: live
    [renewer] = [t for t in threading.enumerate() if t.name == f"lease-{job_id[:8]}"]
    beating.set()
    renewer.join(30)  # no renewal under way that could land after the stamp below
    assert not renewer.is_alive()
    os.utime(held.path, (time.time() - HOUR, time.time() - HOUR))  # the heartbeat stopped long ago
    assert recover(spool, lease=120) == [job_id]
    assert not held.owned() and held.lost.is_set()
    held.finish("done")  # the old owner files nothing
    assert queue(spool.home.root, "incoming") == [f"{job_id}.json"] and queue(spool.home.root, "done") == []


@pytest.mark.parametrize("name,content", [
    ("garbage", b"{not json"),
    ("nested", b"[" * 100000 + b"]" * 100000),
    ("binary", b'{"job_id": "\xff\xfe", "text": "x"}'),
    ("wrong_id", None),
    ("wrong_type", None),
])
def test_an_unreadable_request_is_set_aside_and_the_daemon_carries_on(start, home, name, content):
    spool = Spool(home).ensure()
    bad = spool.submit("A tale whose request will be damaged.", "api").job_id
    path = spool.home.queue("incoming") / f"{bad}.json"
    if name == "wrong_id":
        content = json.dumps({"job_id": new_id(), "text": "x"}).encode()
    elif name == "wrong_type":
        content = json.dumps({"job_id": bad, "text": "x", "options": ["not", "a", "dict"]}).encode()
    path.write_bytes(content)
    os.utime(path, (1, 1))  # first in line
    (spool.home.queue("incoming") / "notes.json").write_text("{}")  # not a job id at all
    good = spool.submit("A tale that is fine.", "api").job_id

    daemon = start(["daemon", "--burst"], home)
    assert daemon.popen.wait(90) == 0, daemon.output()
    assert state(home, good).status is JobStatus.COMPLETED
    failed = state(home, bad)
    assert failed.status is JobStatus.FAILED and "spool/corrupt/" in failed.error
    kept = queue(home, "corrupt")
    assert len(kept) == 2 and any(n.startswith(f"{bad}.json.") for n in kept)
    assert (spool.home.queue("corrupt") / next(n for n in kept if n.startswith(bad))).read_bytes() == content
    assert daemon.output().count("cannot be read") == 2


def test_what_a_crash_left_half_done_is_finished_or_cleaned(start, home):
    spool = Spool(home).ensure()
    old = time.time() - 2 * HOUR
    stale_tmp = spool.home.queue("tmp") / ".x.json.0123abcd.tmp"
    stale_part = spool.home.output / f".video_{new_id()}.mp4.part"
    fresh_tmp = spool.home.queue("tmp") / ".y.json.4567cdef.tmp"
    for path in (stale_tmp, stale_part, fresh_tmp):
        path.write_bytes(b"half")
    for path in (stale_tmp, stale_part):
        os.utime(path, (old, old))
    # A submitter that died between writing the state and queueing the request:
    pending = JobState(new_id(), source="cli")
    spool.write_state(pending)
    request = {"job_id": pending.job_id, "text": "A tale its submitter never queued.", "source": "cli",
               "options": {}, "created_at": pending.created_at, "attempts": 0, "origin": None}
    (spool.home.queue("tmp") / f"{pending.job_id}.json").write_text(json.dumps(request))
    os.utime(spool.home.queue("tmp") / f"{pending.job_id}.json", (time.time() - 120, time.time() - 120))
    # A job whose request vanished from every queue:
    orphan = JobState(new_id(), status=JobStatus.PROCESSING, progress=40, source="api")
    spool.write_state(orphan)

    daemon = start(["daemon"], home, TTVD_LEASE_SECONDS="1")
    wait_for(lambda: state(home, pending.job_id).status is JobStatus.COMPLETED, 90, daemon)
    wait_for(lambda: state(home, orphan.job_id).status is JobStatus.FAILED, 30, daemon)
    assert daemon.stop() == 0
    assert not stale_tmp.exists() and not stale_part.exists() and fresh_tmp.exists()
    assert "request file is missing" in state(home, orphan.job_id).error
    assert "its submitter stopped before queueing it" in daemon.output()
