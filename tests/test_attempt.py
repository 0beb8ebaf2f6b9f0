"""One attempt of one claimed job: how it ends (a pure function), and what each ending does to the job."""
from __future__ import annotations

import errno
import threading
from pathlib import Path

import pytest

from ttvd import pipeline
from ttvd.attempt import Context, Outcome, outcome_of, run_attempt
from ttvd.claim import claim_next
from ttvd.daemon import Daemon
from ttvd.errors import Cancelled, ConfigError, NoSpaceError, RenderError, StageError
from ttvd.job import JobStatus


@pytest.mark.parametrize("error, flags, expected", [
    (None, {}, Outcome.COMPLETED),
    (StageError("speech", "no voice"), {}, Outcome.FAILED),
    (ConfigError("bad font"), {}, Outcome.FAILED),
    (ValueError("a bug"), {}, Outcome.FAILED),
    (RenderError("ffmpeg exited with status 1"), {}, Outcome.FAILED),
    (Cancelled("rendering was stopped"), {}, Outcome.REQUEUED),
    (StageError("render", "killed"), {"stopped": True}, Outcome.REQUEUED),
    (NoSpaceError("full"), {}, Outcome.WAITING_FOR_SPACE),
    (OSError(errno.ENOSPC, "No space left on device"), {}, Outcome.WAITING_FOR_SPACE),
    (StageError("render", "short write"), {"low_space": True}, Outcome.WAITING_FOR_SPACE),
    (OSError(errno.EACCES, "Permission denied"), {}, Outcome.FAILED),
    (None, {"lost": True}, Outcome.LOST),
    (Cancelled("stopped"), {"lost": True, "stopped": True}, Outcome.LOST),
    (Cancelled("stopped"), {"cancelled": True}, Outcome.CANCELLED),
    (None, {"cancelled": True}, Outcome.COMPLETED),  # finished before the cancel could stop it
])
def test_outcome_of(error, flags, expected):
    assert outcome_of(error, **flags) is expected


def _attempt(settings, spool, runner) -> tuple[Outcome, str]:
    job_id = spool.submit("A short tale.", "api").job_id
    held = claim_next(spool)
    outcome = run_attempt(held, Context(spool, settings, runner), threading.Event())
    held.abandon()
    return outcome, job_id


def _writes_video(job: pipeline.Job) -> Path:
    job.output.write_bytes(b"video")
    return job.output


def test_a_finished_attempt_records_the_completed_job(settings, spool):
    outcome, job_id = _attempt(settings, spool, _writes_video)
    state = spool.read_state(job_id)
    assert outcome is Outcome.COMPLETED and state.status is JobStatus.COMPLETED and state.attempts == 1
    assert state.output_file == f"output/video_{job_id}.mp4"


def test_a_stage_error_fails_the_job_at_its_stage(settings, spool):
    def fails(job: pipeline.Job) -> Path:
        raise StageError("footage", "no usable clip")
    outcome, job_id = _attempt(settings, spool, fails)
    state = spool.read_state(job_id)
    assert outcome is Outcome.FAILED and state.status is JobStatus.FAILED
    assert state.message == "Failed at footage: no usable clip"


def test_an_unexpected_error_is_an_internal_error_not_a_crash(settings, spool):
    def breaks(job: pipeline.Job) -> Path:
        raise KeyError("oops")
    outcome, job_id = _attempt(settings, spool, breaks)
    assert outcome is Outcome.FAILED and spool.read_state(job_id).error == "internal error: 'oops'"


def test_a_full_disk_requeues_without_counting_the_attempt(settings, spool):
    def fills(job: pipeline.Job) -> Path:
        raise NoSpaceError("No space left on device while encoding the video")
    outcome, job_id = _attempt(settings, spool, fills)
    state = spool.read_state(job_id)
    assert outcome is Outcome.WAITING_FOR_SPACE and state.status is JobStatus.QUEUED and state.attempts == 0


def test_a_job_past_its_attempts_fails_without_running(settings, spool):
    ran = []
    job_id = spool.submit("A short tale.", "api").job_id
    state = spool.read_state(job_id)
    state.attempts = settings.max_attempts
    spool.write_state(state)
    held = claim_next(spool)
    outcome = run_attempt(held, Context(spool, settings, lambda job: ran.append(job) or job.output),
                          threading.Event())
    held.abandon()
    assert outcome is Outcome.FAILED and ran == []
    assert "gave up after 3 attempts" in spool.read_state(job_id).error


def test_the_daemon_files_each_outcome(settings, spool):
    def runner(job: pipeline.Job) -> Path:
        if job.text == "Two.":
            raise StageError("speech", "no voice")
        return _writes_video(job)
    daemon = Daemon(settings, spool, runner=runner)
    first, second = spool.submit("One.", "api").job_id, spool.submit("Two.", "api").job_id
    assert daemon.step() and daemon.step() and not daemon.step()
    assert (spool.home.queue("done") / f"{first}.json").exists()
    assert (spool.home.queue("failed") / f"{second}.json").exists()
    assert daemon.jobs_run == 2 and spool.active_ids() == []
