"""One bad state file stops nothing: the daemon sets it aside and fails its job, the listing and the
CLI leave it out, and a state that is a FIFO or a symlink to /dev/zero neither hangs nor fills memory."""
import json
import os
from pathlib import Path

from faults.faultkit import queue, state
from ttvd.job import JobStatus, new_id
from ttvd.spool import Spool

from helpers import serve_on, wait_for

GOOD_TEXT = "A tale that is fine."
MAX_RSS_KB = 300 * 1024


def _spoil(path: Path, kind: str) -> None:
    """Replace the state file ``path`` with a bad one of ``kind``."""
    data = json.loads(path.read_bytes())
    path.unlink()
    if kind == "not_json":
        path.write_bytes(b'{"job_id": "trunc')
    elif kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev_zero":
        path.symlink_to("/dev/zero")
    else:
        field, value = {"updated_at": ("updated_at", "yesterday"), "attempts": ("attempts", "x"),
                        "logs": ("logs", 5), "status": ("status", "weird")}[kind]
        path.write_text(json.dumps({**data, field: value}))


def bad_jobs(spool: Spool, kinds: list[str]) -> dict[str, str]:
    """A queued job per kind whose state is spoiled that way; {kind: job id}."""
    jobs = {}
    for kind in kinds:
        job_id = spool.submit(f"A tale whose state is {kind}.", "cli").job_id
        _spoil(spool.home.job(job_id).state, kind)
        jobs[kind] = job_id
    return jobs


def set_aside(home: Path, job_id: str) -> bool:
    return any(name.startswith(f"{job_id}.state.json.") for name in queue(home, "corrupt"))


def assert_failed_for_its_state(home: Path, job_id: str) -> None:
    failed = state(home, job_id)
    assert failed is not None and failed.status is JobStatus.FAILED, failed
    assert "state file could not be read" in (failed.error or "") and "spool/corrupt/" in failed.error
    assert set_aside(home, job_id)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_bad_states_are_set_aside_their_jobs_failed_and_the_rest_carries_on(start, home):
    spool = Spool(home).ensure()
    kinds = ["not_json", "updated_at", "attempts", "logs", "status", "directory"]
    bad = bad_jobs(spool, kinds)
    orphan = new_id()  # a bad state with no request at all: set aside, nothing to fail
    spool.home.job(orphan).state.write_bytes(b"[1, 2")
    good = spool.submit(GOOD_TEXT, "cli").job_id

    server = serve_on(start, home)
    status, body = server.json("GET", "/api/v1/jobs")
    assert status == 200 and list(body["jobs"]) == [good]
    for command in (["status"], ["jobs"], ["jobs", "--json"]):
        assert start(command, home).popen.wait(60) == 0, command
    victim = bad["not_json"]  # managing a job whose state is bad: a clear error, never a crash
    for method, path in (("POST", f"/api/v1/jobs/{victim}/cancel"), ("DELETE", f"/api/v1/jobs/{victim}")):
        status, body = server.json(method, path)
        assert status == 500 and "cannot be read" in body["error"] and "Traceback" not in body["error"], body
    cancel = start(["cancel", victim], home)
    assert cancel.popen.wait(60) == 1
    assert "cannot be read" in cancel.output() and "Traceback" not in cancel.output(), cancel.output()

    daemon = start(["daemon", "--burst"], home)
    assert daemon.popen.wait(120) == 0, daemon.output()
    assert state(home, good).status is JobStatus.COMPLETED
    for job_id in bad.values():
        assert_failed_for_its_state(home, job_id)
        assert f"{job_id}.json" in queue(home, "failed") and f"{job_id}.json" not in queue(home, "active")
    assert set_aside(home, orphan) and state(home, orphan) is None
    status, body = server.json("GET", "/api/v1/jobs")
    assert status == 200 and set(body["jobs"]) == {good, *bad.values()}


def test_a_fifo_or_dev_zero_as_a_state_neither_hangs_nor_fills_memory(start, home):
    spool = Spool(home).ensure()
    bad = bad_jobs(spool, ["fifo", "dev_zero"])
    good = spool.submit(GOOD_TEXT, "cli").job_id

    server = serve_on(start, home)
    for job_id in bad.values():  # the answer matters less than that there is one, at once
        status, _, _ = server.request("GET", f"/api/v1/status/{job_id}", timeout=15)
        assert status == 500
    status, body = server.json("GET", "/api/v1/jobs")
    assert status == 200 and list(body["jobs"]) == [good]
    for command in (["status"], ["jobs"], ["status", bad["fifo"]]):
        assert start(command, home).popen.wait(60) in (0, 1), command
    assert rss_kb(server.proc.popen.pid) < MAX_RSS_KB

    daemon = start(["daemon"], home)
    wait_for(lambda: (current := state(home, good)) and current.status is JobStatus.COMPLETED, 120, daemon)
    wait_for(lambda: all(set_aside(home, job_id) for job_id in bad.values()), 30, daemon)
    assert rss_kb(daemon.popen.pid) < MAX_RSS_KB
    assert daemon.stop() == 0, daemon.output()
    for job_id in bad.values():
        assert_failed_for_its_state(home, job_id)

