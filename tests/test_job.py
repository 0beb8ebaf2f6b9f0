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
