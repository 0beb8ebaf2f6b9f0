"""A full disk: nothing is accepted that cannot be kept, no state is torn, nothing crashes, and
everything resumes when space returns.

Two ways to fill the disk. A real one: a small tmpfs mounted as the home (needs root and
permission to mount; skipped otherwise). And an injected one, to reach each step of a durable
write: ``TTVD_FAULTS=enospc:write|fsync|replace`` makes ``ttvd.atomic`` fail there with ENOSPC while
the file named by ``TTVD_FAULTS_WHILE`` exists (see ttvd/faults.py). Nothing is mocked inside the
processes under test; they run as shipped, told by their environment which fault to meet.
"""
import errno
import json
import os
import subprocess
import time
import uuid

import pytest

from faults.faultkit import SLOW, SLOW_TEXT, queue, state
from ttvd import atomic
from ttvd.errors import NoSpaceError
from ttvd.job import JobStatus
from ttvd.spool import Spool

from helpers import serve_on, wait_for

STEPS = ["write", "fsync", "replace"]
ALL_STEPS = ",".join(f"enospc:{step}" for step in STEPS)


@pytest.mark.parametrize("step", STEPS)
def test_a_failed_durable_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch, step):
    dest = tmp_path / "state.json"
    atomic.write_json(dest, {"progress": 40})
    monkeypatch.setenv("TTVD_FAULTS", f"enospc:{step}")
    with pytest.raises(NoSpaceError):
        atomic.write_json(dest, {"progress": 60})
    assert json.loads(dest.read_text()) == {"progress": 40}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


@pytest.mark.parametrize("step", STEPS)
def test_the_api_answers_507_on_a_full_disk_and_accepts_again_when_space_returns(start, home, tmp_path, step):
    flag = tmp_path / "disk-full"
    api = serve_on(start, home, TTVD_FAULTS=f"enospc:{step}", TTVD_FAULTS_WHILE=str(flag))
    flag.touch()
    status, body = api.json("POST", "/api/v1/generate", {"text": "A tale for a full disk."})
    assert status == 507 and "disk is full" in body["error"]
    spool = Spool(home)
    assert queue(home, "state") == queue(home, "incoming") == queue(home, "tmp") == []  # nothing half-kept
    assert api.json("GET", "/api/v1/jobs") == (200, {"jobs": {}})

    flag.unlink()
    status, body = api.json("POST", "/api/v1/generate", {"text": "A tale for a full disk."})
    assert status == 202 and spool.queued_ids() == [body["job_id"]]


def test_the_daemon_waits_out_a_full_disk_with_its_last_good_state(start, home, tmp_path):
    flag = tmp_path / "disk-full"
    flag.touch()
    spool = Spool(home).ensure()
    job_id = spool.submit("A tale that waits for space.", "cli").job_id
    daemon = start(["daemon"], home, TTVD_FAULTS=ALL_STEPS, TTVD_FAULTS_WHILE=str(flag))
    wait_for(lambda: daemon.output().count("the disk is full") >= 2, 30, daemon)  # tried twice, paused
    waiting = state(home, job_id)
    assert waiting.status is JobStatus.QUEUED and waiting.attempts == 0  # the last good state, whole
    assert queue(home, "incoming") == [f"{job_id}.json"]

    flag.unlink()
    done = wait_for(lambda: state(home, job_id).status is JobStatus.COMPLETED and state(home, job_id), 60, daemon)
    assert done.attempts == 1
    assert daemon.stop() == 0


def test_a_disk_that_fills_mid_job_requeues_the_job_instead_of_failing_it(start, home, tmp_path):
    flag = tmp_path / "disk-full"
    spool = Spool(home).ensure()
    job_id = spool.submit(SLOW_TEXT, "cli").job_id
    daemon = start(["daemon"], home, TTVD_FAULTS=ALL_STEPS, TTVD_FAULTS_WHILE=str(flag), **SLOW)
    wait_for(lambda: state(home, job_id).stage == "render", 60, daemon)
    flag.touch()
    wait_for(lambda: "the disk is full; claiming paused" in daemon.output(), 60, daemon)
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:  # while it is full, the state is the last good one, never failed
        current = state(home, job_id)
        assert current.status is not JobStatus.FAILED and current.stage == "render"
        time.sleep(0.1)
    assert queue(home, "failed") == []

    flag.unlink()
    done = wait_for(lambda: state(home, job_id).status is JobStatus.COMPLETED and state(home, job_id), 120, daemon)
    assert done.logs.count("Video generation completed") == 1 and done.attempts <= 2
    assert daemon.stop() == 0 and queue(home, "done") == [f"{job_id}.json"]


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MB tmpfs as the home; skipped where mounting is not permitted."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0755", "tmpfs", str(mount)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip() or result.returncode}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk) -> "os.PathLike":
    filler = disk / f"filler-{uuid.uuid4().hex}"
    chunk = b"\0" * 65536
    with open(filler, "wb") as handle:
        try:
            for _ in range(10000):
                handle.write(chunk)
                handle.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def test_a_real_full_disk_the_api_refuses_the_daemon_waits_both_recover(start, small_disk):
    home = small_disk / "home"
    home.mkdir()
    api = serve_on(start, home)
    status, body = api.json("POST", "/api/v1/generate", {"text": "Queued while there was space."})
    assert status == 202
    early = body["job_id"]

    filler = fill(small_disk)
    status, body = api.json("POST", "/api/v1/generate", {"text": "A tale for a full disk."})
    assert status == 507 and set(body) == {"error"}
    assert len(api.json("GET", "/api/v1/jobs")[1]["jobs"]) == 1

    daemon = start(["daemon"], home)
    wait_for(lambda: "the disk is full" in daemon.output(), 30, daemon)
    time.sleep(1.5)  # it keeps trying and stays up
    assert daemon.popen.poll() is None
    assert state(home, early).status in (JobStatus.QUEUED, JobStatus.PROCESSING)

    filler.unlink()
    status, body = api.json("POST", "/api/v1/generate", {"text": "Accepted once space returned."})
    assert status == 202
    later = body["job_id"]
    for job_id in (early, later):
        wait_for(lambda: state(home, job_id).status is JobStatus.COMPLETED, 90, daemon)
    assert daemon.stop() == 0
