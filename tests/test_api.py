"""The HTTP API over real HTTP against `ttvd serve`, endpoint by endpoint as the API document says."""
import json

import pytest

from ttvd.job import JobState, JobStatus, new_id
from ttvd.spool import Spool


@pytest.fixture
def disk(home):
    return Spool(home).ensure()


def test_generate_queues_a_job(server, disk):
    status, body = server.json("POST", "/api/v1/generate", {"text": "Once upon a time, in a faraway land..."})
    assert status == 202
    assert body == {"job_id": body["job_id"], "status": "queued", "message": "Video generation started"}
    assert disk.queued_ids() == [body["job_id"]]
    status, view = server.json("GET", f"/api/v1/status/{body['job_id']}")
    assert status == 200 and view["status"] == "queued" and view["progress"] == 0
    assert set(view) == {"status", "progress", "message", "created_at", "logs"}
    assert isinstance(view["created_at"], int)


@pytest.mark.parametrize("payload", [{}, {"text": ""}, {"text": "   \n"}, {"text": None}, {"story": "x"}])
def test_generate_without_text_is_the_documented_400(server, payload):
    assert server.json("POST", "/api/v1/generate", payload) == (400, {"error": "No text provided in request body"})


@pytest.mark.parametrize("raw,fragment", [
    (b"{not json", "not valid JSON"), (b"[1, 2]", "JSON object"), (b'"text"', "JSON object"),
    (b'{"text": 42}', "must be a string"), (b'{"text": "a", "text": "b"}', "duplicate"),
    (b"\xff\xfe{}", "UTF-8"), (b'{"text": "hi", "options": []}', "options"),
])
def test_generate_bad_bodies_get_json_400(server, raw, fragment):
    status, body = server.json("POST", "/api/v1/generate", raw=raw)
    assert status == 400 and fragment in body["error"]


def test_empty_body_is_no_text(server):
    assert server.json("POST", "/api/v1/generate", raw=b"") == (400, {"error": "No text provided in request body"})


def test_text_over_the_limit_is_413(server):
    status, body = server.json("POST", "/api/v1/generate", {"text": "word " * 5000})
    assert status == 413 and "limit" in body["error"]


def test_status_and_download_of_unknown_jobs_are_404(server):
    for path in (f"/api/v1/status/{new_id()}", f"/api/v1/download/{new_id()}", "/api/v1/status/..%2f..%2fetc",
                 "/api/v1/status/not-an-id", "/api/v1/download/%2e%2e"):
        assert server.json("GET", path) == (404, {"error": "Job not found"}), path


def test_download_before_completion_is_400(server, disk):
    state = disk.submit("A story.", "api")
    assert server.json("GET", f"/api/v1/download/{state.job_id}") == (400, {"error": "Video not ready for download"})


def test_completed_job_without_its_file_is_500(server, disk):
    state = JobState(new_id(), status=JobStatus.COMPLETED, progress=100)
    disk.write_state(state)
    assert server.json("GET", f"/api/v1/download/{state.job_id}") == (500, {"error": "Video file not found"})


def test_download_serves_the_mp4_as_an_attachment(server, disk):
    state = JobState(new_id(), status=JobStatus.COMPLETED, progress=100,
                     output_file="output/video_x.mp4")
    disk.write_state(state)
    payload = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 100
    disk.output_path(state.job_id).write_bytes(payload)
    status, headers, body = server.request("GET", f"/api/v1/download/{state.job_id}")
    assert status == 200 and body == payload
    assert headers["Content-Type"] == "video/mp4"
    assert headers["Content-Disposition"] == f'attachment; filename="generated_video_{state.job_id}.mp4"'


def test_download_does_not_follow_symlinks(server, disk, tmp_path):
    state = JobState(new_id(), status=JobStatus.COMPLETED, progress=100)
    disk.write_state(state)
    secret = tmp_path / "secret.mp4"
    secret.write_bytes(b"secret")
    disk.output_path(state.job_id).symlink_to(secret)
    assert server.json("GET", f"/api/v1/download/{state.job_id}") == (500, {"error": "Video file not found"})


def test_jobs_lists_every_job_in_the_documented_shape(server, disk):
    queued = disk.submit("First.", "api")
    done = JobState(new_id(), status=JobStatus.COMPLETED, progress=100, message="Video generation completed",
                    output_file="output/video_done.mp4", logs=["Starting audio generation..."])
    disk.write_state(done)
    status, body = server.json("GET", "/api/v1/jobs")
    assert status == 200 and set(body) == {"jobs"}
    assert set(body["jobs"]) == {queued.job_id, done.job_id}
    assert body["jobs"][done.job_id] == {"status": "completed", "progress": 100,
                                         "message": "Video generation completed",
                                         "created_at": done.created_at, "output_file": "output/video_done.mp4",
                                         "logs": ["Starting audio generation..."]}
    assert set(body["jobs"][queued.job_id]) == {"status", "progress", "message", "created_at", "logs"}


@pytest.mark.parametrize("method,path,code", [("GET", "/", 404), ("GET", "/api/v1/nothing", 404),
                                              ("DELETE", "/api/v1/jobs", 405), ("GET", "/api/v1/generate", 405),
                                              ("PUT", "/api/v1/status/x", 405)])
def test_every_other_request_gets_a_json_error(server, method, path, code):
    status, headers, body = server.request(method, path)
    assert status == code and headers["Content-Type"].startswith("application/json")
    assert set(json.loads(body)) == {"error"}
