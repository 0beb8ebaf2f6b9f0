import json

import pytest

from ttvd.job import STAGES, JobState, JobStatus, is_valid_id, new_id


def test_new_ids_are_valid_and_unique():
    ids = {new_id() for _ in range(100)}
    assert len(ids) == 100 and all(is_valid_id(i) for i in ids)


@pytest.mark.parametrize("bad", ["", "..", "../x", "a" * 31, "A" * 32, "550e8400-e29b-41d4-a716-44665544000g",
                                 "550e8400/e29b", "x\x00", None, 5, "%2e%2e"])
def test_hostile_ids_are_invalid(bad):
    assert not is_valid_id(bad)


def test_stage_table_follows_the_api_document():
    assert [(s.name, s.progress) for s in STAGES] == [
        ("speech", 20), ("captions", 40), ("queries", 60), ("footage", 80), ("render", 90)]
    assert STAGES[2].message == "Generating video search queries..."


def test_state_round_trips_through_json_and_views_match_the_api():
    state = JobState(new_id(), status=JobStatus.PROCESSING, progress=60, logs=["a"], options={"x": 1})
    again = JobState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert again == state
    assert set(state.status_view()) == {"status", "progress", "message", "created_at", "logs"}
    assert state.status_view()["status"] == "processing"
    assert "output_file" not in state.jobs_view()
    state.output_file = "output/video_x.mp4"
    assert state.jobs_view()["output_file"] == "output/video_x.mp4"


def test_logs_are_bounded():
    state = JobState(new_id())
    for i in range(500):
        state.log(str(i))
    assert len(state.logs) == 200 and state.logs[-1] == "499"


# -- the lifecycle: each transition sets every field that goes with it -----------------------------

def _running() -> JobState:
    state = JobState.queued(new_id(), "api", {"height": 320}, created_at=1700000000)
    state.begin_attempt()
    state.enter_stage("queries")
    return state


def test_a_queued_job_starts_an_attempt_and_enters_stages():
    state = JobState.queued(new_id(), "watch", {}, origin="tale.txt", created_at=1700000000)
    assert (state.status, state.progress, state.message, state.attempts) == (JobStatus.QUEUED, 0, "Job queued", 0)
    assert (state.source, state.origin, state.created_at) == ("watch", "tale.txt", 1700000000)
    state.error = "left over from an earlier attempt"
    state.begin_attempt()
    assert (state.status, state.attempts, state.error) == (JobStatus.PROCESSING, 1, None)
    state.enter_stage("queries")
    assert (state.stage, state.progress, state.message) == ("queries", 60, "Generating video search queries...")
    assert state.logs == ["Processing started (attempt 1)", "Starting search query generation..."]


def test_complete_sets_everything_a_finished_job_shows():
    state = _running()
    state.complete("output/video_x.mp4")
    assert (state.status, state.progress, state.stage) == (JobStatus.COMPLETED, 100, "done")
    assert (state.message, state.output_file, state.error) == ("Video generation completed", "output/video_x.mp4", None)
    assert state.logs[-1] == "Video generation completed" and state.status.finished


@pytest.mark.parametrize("stage, message", [(None, "Failed at queries: no voice"),
                                            ("speech", "Failed at speech: no voice")])
def test_fail_names_the_stage_once(stage, message):
    state = _running()
    state.fail("no voice", stage)
    assert (state.status, state.error, state.message) == (JobStatus.FAILED, "no voice", message)
    assert state.logs[-1] == message and state.status.finished


def test_a_job_failed_before_any_stage_says_so_without_a_stage():
    state = JobState.queued(new_id(), "api", {})
    state.fail("the request file is missing")
    assert state.message == "Failed: the request file is missing" and state.stage is None


def test_requeue_and_wait_for_space_go_back_to_the_queue():
    state = _running()
    state.requeue("rendering was stopped")
    assert (state.status, state.progress, state.message) == (JobStatus.QUEUED, 0, "Interrupted; queued to resume")
    assert state.attempts == 1 and "rendering was stopped" in state.logs[-1] and not state.status.finished
    state.begin_attempt()
    state.wait_for_space()
    assert (state.status, state.progress, state.attempts) == (JobStatus.QUEUED, 0, 1)  # that attempt is not counted
    assert state.message == "Waiting for disk space; queued to resume" and state.error is None


def test_cancel_ends_the_job_for_good():
    state = _running()
    state.cancel("asked by the user")
    assert (state.status, state.message, state.error) == (JobStatus.CANCELLED, "Job cancelled", None)
    assert state.logs[-1] == "Job cancelled: asked by the user" and state.status.finished
    assert JobState.from_dict(json.loads(json.dumps(state.to_dict()))).status is JobStatus.CANCELLED


def test_a_rejected_job_is_failed_from_the_start_with_its_reason():
    state = JobState.rejected(new_id(), "tale.txt: the file is empty", "watch", origin="tale.txt")
    assert (state.status, state.error, state.message) == (JobStatus.FAILED, "tale.txt: the file is empty",
                                                         "tale.txt: the file is empty")
    assert state.logs == ["tale.txt: the file is empty"] and state.origin == "tale.txt"
