import json
import os

from ttvd.claim import claim, claim_next
from ttvd.job import JobState, JobStatus
from ttvd.recovery import recover
from ttvd.spool import Spool


def test_submit_writes_state_then_request_and_nothing_in_tmp(spool):
    state = spool.submit("Hello.", "cli", {"engine": "ffmpeg"})
    assert spool.read_state(state.job_id).status is JobStatus.QUEUED
    assert spool.queued_ids() == [state.job_id]
    request = json.loads((spool.home.queue("incoming") / f"{state.job_id}.json").read_text())
    assert request["text"] == "Hello." and request["source"] == "cli" and request["options"] == {"engine": "ffmpeg"}
    assert list(spool.home.queue("tmp").iterdir()) == []


def test_claims_are_oldest_first_and_exclusive(spool, home):
    first = spool.submit("one", "api").job_id
    second = spool.submit("two", "api").job_id
    os.utime(spool.home.queue("incoming") / f"{first}.json", (1, 1))
    other = Spool(home)
    held = claim_next(spool)
    assert held.request.job_id == first
    assert claim(other, first) is None  # already taken
    claim2 = claim_next(other)
    assert claim2.request.job_id == second
    assert claim_next(spool) is None
    held.finish("done")
    claim2.finish("failed")
    assert (spool.home.queue("done") / f"{first}.json").exists()
    assert (spool.home.queue("failed") / f"{second}.json").exists()
    assert spool.active_ids() == []


def test_unreadable_request_goes_to_corrupt_and_queue_goes_on(spool):
    bad = spool.submit("x", "api").job_id
    (spool.home.queue("incoming") / f"{bad}.json").write_text("{not json")
    os.utime(spool.home.queue("incoming") / f"{bad}.json", (1, 1))
    good = spool.submit("y", "api").job_id
    assert claim_next(spool).request.job_id == good
    assert [p.name.split(".")[0] for p in spool.home.queue("corrupt").iterdir()] == [bad]


def test_recover_requeues_only_claims_whose_owner_is_gone(spool):
    live = spool.submit("live", "api").job_id
    dead = spool.submit("dead", "api").job_id
    held = claim(spool, live)
    claim(spool, dead).abandon()  # a crashed owner: its lock is gone, its claim and owner record stay
    assert recover(spool) == [dead]
    assert spool.queued_ids() == [dead] and spool.active_ids() == [live]
    assert sorted(p.name for p in spool.home.queue("active").iterdir()) == [f"{live}.json", f"{live}.owner"]
    held.release()
    assert sorted(spool.queued_ids()) == sorted([live, dead])
    assert list(spool.home.queue("active").iterdir()) == []


def test_a_claim_made_where_its_lock_is_not_seen_is_judged_by_its_lease(spool):
    """Another host, or another mount of a network filesystem: its lock is free from here, alive or not."""
    job_id = spool.submit("elsewhere", "api").job_id
    taken = claim(spool, job_id)
    taken.abandon()
    mark = spool.home.queue("active") / f"{job_id}.owner"
    mark.write_text("otherhost/0000 64768")
    assert recover(spool, lease=3600) == [] and spool.active_ids() == [job_id]
    mark.unlink()  # a claim whose owner record was never written: the same
    assert recover(spool, lease=3600) == [] and spool.active_ids() == [job_id]
    past = os.stat(taken.path).st_mtime - 7200  # the lease ran out: its host is gone
    os.utime(taken.path, (past, past))
    assert recover(spool, lease=3600) == [job_id] and spool.queued_ids() == [job_id]


def test_state_files_are_replaced_whole(spool):
    state = JobState("a" * 32)
    for progress in range(0, 100, 10):
        state.progress = progress
        spool.write_state(state)
    assert spool.read_state("a" * 32).progress == 90
    assert [p.name for p in spool.home.states.iterdir()] == ["a" * 32 + ".json"]
    assert list(spool.home.queue("tmp").iterdir()) == []


def test_invalid_ids_never_reach_the_filesystem(spool):
    assert spool.read_state("../../etc/passwd") is None
    assert claim(spool, "../x") is None
    assert spool.read_state("a" * 32) is None


def test_rejected_job_is_failed_with_reason(spool):
    state = spool.reject("story.txt: the file is empty", "watch", origin="story.txt")
    again = spool.read_state(state.job_id)
    assert again.status is JobStatus.FAILED and "empty" in again.message and again.origin == "story.txt"
    assert spool.queued_ids() == []


def test_a_crashed_claim_on_a_host_with_a_non_ascii_name_is_recovered_at_once(spool, monkeypatch):
    from ttvd import claim as claims

    monkeypatch.setattr(claims, "_host", lambda: "hôte-夜/boot")
    job_id = spool.submit("tale", "api").job_id
    claim(spool, job_id).abandon()
    assert recover(spool, lease=3600) == [job_id]  # its record matches this host: the free lock decides
