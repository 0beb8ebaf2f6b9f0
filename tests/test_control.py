"""Cancel, retry and delete: through the spool in-process, over HTTP, by the CLI, and against a real
daemon rendering a real video."""
import os
import threading
import time
from pathlib import Path

import pytest

from ttvd import control
from ttvd.attempt import Context, Outcome, run_attempt
from ttvd.claim import claim_next
from ttvd.daemon import Daemon
from ttvd.errors import Cancelled, Conflict
from ttvd.home import UnknownJob
from ttvd.job import JobStatus

from helpers import wait_for

STORY = " ".join(["The night train left the mountain station and ran along the river toward the sea."] * 12)


def _finished(spool, job_id: str, status: JobStatus, files: bool = True) -> None:
    """Turn a queued job into a finished one as a daemon would (request filed, files written)."""
    held = claim_next(spool)
    assert held is not None and held.request.job_id == job_id
    state = spool.read_state(job_id)
    paths = spool.home.job(job_id)
    if files:
        paths.work.mkdir(parents=True)
        (paths.work / "speech.json").write_text("{}")
        for path in (paths.video, *paths.side_files, paths.audio):
            path.write_bytes(b"x")
    if status is JobStatus.COMPLETED:
        state.complete(f"output/{paths.video.name}")
    elif status is JobStatus.CANCELLED:
        state.cancel()
    else:
        state.fail("the voice broke")
    spool.write_state(state)
    held.finish("done" if status is JobStatus.COMPLETED else "failed")


def files_of(home: Path, job_id: str) -> list[Path]:
    return [path for path in home.rglob("*") if job_id in str(path.relative_to(home))]


def test_cancelling_a_queued_job_takes_it_out_of_the_queue(spool):
    job_id = spool.submit("A short tale.", "api").job_id
    state = control.cancel(spool, job_id)
    assert state.status is JobStatus.CANCELLED and state.message == "Job cancelled"
    assert spool.read_state(job_id).status is JobStatus.CANCELLED
    assert spool.queued_ids() == [] and spool.home.request("failed", job_id).exists()
    assert not control.cancel_requested(spool, job_id)


def test_finished_and_unknown_jobs_cannot_be_cancelled(spool):
    job_id = spool.submit("A short tale.", "api").job_id
    _finished(spool, job_id, JobStatus.COMPLETED)
    with pytest.raises(Conflict, match="already completed"):
        control.cancel(spool, job_id)
    assert not control.cancel_requested(spool, job_id)
    with pytest.raises(UnknownJob):
        control.cancel(spool, "0" * 32)
    with pytest.raises(UnknownJob):
        control.cancel(spool, "../state/x")


def test_retry_queues_a_failed_job_again_with_its_work(spool):
    job_id = spool.submit("A short tale.", "api").job_id
    _finished(spool, job_id, JobStatus.FAILED)
    state = control.retry(spool, job_id)
    assert (state.status, state.attempts, state.error, state.progress) == (JobStatus.QUEUED, 0, None, 0)
    assert spool.read_state(job_id).status is JobStatus.QUEUED
    assert spool.queued_ids() == [job_id]
    assert (spool.home.job(job_id).work / "speech.json").exists()
    with pytest.raises(Conflict, match="only a failed or cancelled job"):
        control.retry(spool, job_id)


def test_completed_and_refused_jobs_cannot_be_retried(spool):
    job_id = spool.submit("A short tale.", "api").job_id
    _finished(spool, job_id, JobStatus.COMPLETED)
    with pytest.raises(Conflict):
        control.retry(spool, job_id)
    refused = spool.reject("not text", "watch").job_id
    with pytest.raises(Conflict, match="never queued"):
        control.retry(spool, refused)


def test_delete_removes_every_file_of_a_finished_job(spool):
    keep = spool.submit("Another tale.", "api").job_id
    job_id = spool.submit("A short tale.", "api").job_id
    spool.home.queue("incoming").joinpath(f"{keep}.json").rename(spool.home.queue("tmp") / "parked")
    _finished(spool, job_id, JobStatus.COMPLETED)
    assert len(files_of(spool.home.root, job_id)) >= 8
    control.delete(spool, job_id)
    assert files_of(spool.home.root, job_id) == []
    assert spool.read_state(job_id) is None and spool.read_state(keep) is not None
    with pytest.raises(UnknownJob):
        control.delete(spool, job_id)


def test_a_running_job_is_stopped_by_its_cancel_file(settings, spool):
    started, stopped = threading.Event(), threading.Event()

    def runner(job):
        started.set()
        if job.cancel.wait(60):
            stopped.set()
            raise Cancelled("stopped")
        return job.output

    job_id = spool.submit("A short tale.", "api").job_id
    daemon = Daemon(settings, spool, runner=runner)
    worker = threading.Thread(target=daemon.step)
    worker.start()
    assert started.wait(10)
    assert control.cancel(spool, job_id).status is JobStatus.PROCESSING
    worker.join(60)
    # ``stopped`` is set only if the job's cancel event fired; the runner's own 60 s wait is a fail-later bound
    assert stopped.is_set() and not worker.is_alive()
    state = spool.read_state(job_id)
    assert state.status is JobStatus.CANCELLED and state.logs[-1] == "Job cancelled: cancelled on request"
    assert spool.home.request("failed", job_id).exists() and spool.active_ids() == []
    assert not control.cancel_requested(spool, job_id)


def test_a_cancel_that_arrives_while_the_job_is_requeued_stops_it_before_it_starts(settings, spool):
    job_id = spool.submit("A short tale.", "api").job_id
    spool.home.cancels.joinpath(job_id).write_bytes(b"")  # as a cancel racing a daemon's claim leaves it
    ran = []
    held = claim_next(spool)
    outcome = run_attempt(held, Context(spool, settings, lambda job: ran.append(job)), threading.Event())
    held.finish("failed")
    assert outcome is Outcome.CANCELLED and ran == []
    assert spool.read_state(job_id).status is JobStatus.CANCELLED
    assert not control.cancel_requested(spool, job_id)


def test_http_cancel_retry_delete_answers(client, spool):
    job_id = spool.submit("A short tale.", "api").job_id
    assert client.json("POST", f"/api/v1/jobs/{job_id}/retry") == (
        409, {"error": "Job is queued; only a failed or cancelled job can be retried"})
    status, body = client.json("POST", f"/api/v1/jobs/{job_id}/cancel")
    assert (status, body["status"]) == (200, "cancelled")
    assert client.json("POST", f"/api/v1/jobs/{job_id}/cancel")[0] == 409
    status, body = client.json("POST", f"/api/v1/jobs/{job_id}/retry")
    assert (status, body["status"]) == (202, "queued")
    assert client.json("DELETE", f"/api/v1/jobs/{job_id}")[0] == 200
    assert client.json("GET", f"/api/v1/status/{job_id}") == (404, {"error": "Job not found"})
    for method, path in (("POST", "/api/v1/jobs/nope/cancel"), ("POST", f"/api/v1/jobs/{'0' * 32}/retry"),
                         ("DELETE", f"/api/v1/jobs/{'0' * 32}")):
        assert client.json(method, path) == (404, {"error": "Job not found"})
    assert client.json("GET", f"/api/v1/jobs/{job_id}/cancel")[0] == 405


def _encoders_of(job_id: str) -> list[int]:
    """Processes whose command line names the job (its ffmpeg writes into work/<id>/ or output/)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            command = Path(entry.path, "cmdline").read_bytes()
        except OSError:
            continue
        if b"ffmpeg" in command and job_id.encode() in command:
            found.append(int(entry.name))
    return found


def _status(server, job_id):
    return server.json("GET", f"/api/v1/status/{job_id}")[1]


@pytest.mark.slow
def test_cancel_retry_delete_a_real_render_over_http(server, start, home, tmp_path):
    """A daemon renders a 720p job; cancelling it during the render leaves no encoder and no output,
    retrying it reuses the finished stages, and deleting it leaves no file of it."""
    daemon = start(["daemon"], home)
    status, body = server.json("POST", "/api/v1/generate",
                               {"text": STORY, "options": {"height": 720, "fps": 24, "preset": "medium"}})
    job_id = body["job_id"]
    wait_for(lambda: _status(server, job_id)["progress"] >= 90 and _encoders_of(job_id), 120, daemon,
             interval=0.05)
    status, body = server.json("POST", f"/api/v1/jobs/{job_id}/cancel")
    assert (status, body["status"]) == (202, "processing")
    final = wait_for(lambda: (s := _status(server, job_id))["status"] in ("cancelled", "completed", "failed")
                     and s, 120, daemon)
    # Not a timing: a render that ran to its end is recorded completed, whatever was asked meanwhile
    # (ttvd.attempt.outcome_of), so "cancelled" means the encoder was stopped mid-render.
    assert final["status"] == "cancelled", final
    wait_for(lambda: not _encoders_of(job_id), 30)
    assert not list((home / "output").glob(f"*video_{job_id}*")), "no partial or whole video"

    status, body = server.json("POST", f"/api/v1/jobs/{job_id}/retry")
    assert (status, body["status"]) == (202, "queued")
    final = wait_for(lambda: (s := _status(server, job_id))["status"] in ("completed", "failed") and s, 180, daemon)
    assert final["status"] == "completed", final
    for stage in ("speech", "captions", "queries", "footage"):
        assert f"Reusing the {stage} result of an earlier attempt" in final["logs"]
    assert server.request("GET", f"/api/v1/download/{job_id}")[0] == 200

    assert server.json("DELETE", f"/api/v1/jobs/{job_id}")[0] == 200
    assert files_of(home, job_id) == []
    assert server.json("GET", f"/api/v1/status/{job_id}")[0] == 404


def test_cli_cancel_wait_and_delete(start, home):
    from ttvd.spool import Spool

    spool = Spool(home).ensure()
    job_id = spool.submit("A short tale.", "cli").job_id
    proc = start(["cancel", job_id], home)
    assert proc.popen.wait(30) == 0 and f"{job_id} cancelled" in proc.output()
    proc = start(["wait", job_id, "--timeout", "5"], home)
    assert proc.popen.wait(30) == 1  # it ended, and not completed
    proc = start(["cancel", job_id], home)
    assert proc.popen.wait(30) == 1 and "only a queued or running job" in proc.output()
    proc = start(["delete", job_id], home)
    assert proc.popen.wait(30) == 0 and files_of(home, job_id) == []
    proc = start(["wait", job_id], home)
    assert proc.popen.wait(30) == 2 and "not found" in proc.output()


def test_the_retention_sweep_deletes_only_finished_jobs_past_the_cutoff(spool):
    from ttvd import retention

    old, recent, running = (spool.submit(f"Tale {n}.", "api").job_id for n in range(3))
    _finished(spool, old, JobStatus.COMPLETED)
    _finished(spool, recent, JobStatus.FAILED, files=False)
    day = retention.DAY_SECONDS
    for job_id, age in ((old, 3 * day), (recent, 0.5 * day), (running, 3 * day)):
        state = spool.read_state(job_id)
        spool.write_state(state)
        state.updated_at = time.time() - age  # as written that long ago
        path = spool.home.job(job_id).state
        path.write_text(__import__("json").dumps(state.to_dict()))
        os.utime(path, (state.updated_at, state.updated_at))
    assert retention.sweep(spool, 0) == []  # 0 keeps everything
    assert retention.sweep(spool, 1) == [old]
    assert files_of(spool.home.root, old) == []
    assert spool.read_state(recent) is not None and spool.read_state(running) is not None
    assert retention.disk_used(spool.home.root) > 0


@pytest.mark.slow
def test_a_completed_job_leaves_no_work_folder_unless_asked(settings, spool):
    kept = spool.submit("A short tale.", "api").job_id
    Daemon(settings.replace(keep_work=True), spool).step()
    removed = spool.submit("Another short tale.", "api").job_id
    Daemon(settings, spool).step()
    assert spool.read_state(kept).status is JobStatus.COMPLETED
    assert spool.read_state(removed).status is JobStatus.COMPLETED
    assert (spool.home.job(kept).work / "render.json").exists()
    assert not spool.home.job(removed).work.exists()
    assert spool.home.job(removed).video.exists()


def test_status_reports_the_disk_the_home_uses(start, home):
    import json

    from ttvd.spool import Spool

    Spool(home).ensure().submit("A short tale.", "cli")
    proc = start(["status"], home)
    assert proc.popen.wait(30) == 0
    out = proc.output()
    disk = json.JSONDecoder().raw_decode(out[out.index("{"):])[0]["disk"]  # stderr's hints may follow
    assert disk["used_bytes"] > 0 and disk["free_bytes"] > 0
