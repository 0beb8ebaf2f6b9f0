"""The HTTP API endpoint by endpoint as the API document says: in process against the WSGI app,
then over real HTTP against `ttvd serve` for what only the server does (waitress, file streaming)."""
import json

import pytest

from ttvd.job import JobState, JobStatus, new_id

from helpers import serve_on


def test_generate_queues_a_job(client, spool):
    status, body = client.json("POST", "/api/v1/generate", {"text": "Once upon a time, in a faraway land..."})
    assert status == 202
    assert body == {"job_id": body["job_id"], "status": "queued", "message": "Video generation started"}
    assert spool.queued_ids() == [body["job_id"]]
    status, view = client.json("GET", f"/api/v1/status/{body['job_id']}")
    assert status == 200 and view["status"] == "queued" and view["progress"] == 0
    assert set(view) >= {"status", "progress", "message", "created_at", "logs"}  # the seed's, and more
    assert isinstance(view["created_at"], int)


@pytest.mark.parametrize("payload", [{}, {"text": ""}, {"text": "   \n"}, {"text": None}, {"story": "x"}])
def test_generate_without_text_is_the_documented_400(client, payload):
    assert client.json("POST", "/api/v1/generate", payload) == (400, {"error": "No text provided in request body"})


@pytest.mark.parametrize("raw,fragment", [
    (b"{not json", "not valid JSON"), (b"[1, 2]", "JSON object"), (b'"text"', "JSON object"),
    (b'{"text": 42}', "must be a string"), (b'{"text": "a", "text": "b"}', "duplicate"),
    (b"\xff\xfe{}", "UTF-8"), (b'{"text": "hi", "options": []}', "options"),
])
def test_generate_bad_bodies_get_json_400(client, raw, fragment):
    status, body = client.json("POST", "/api/v1/generate", raw=raw)
    assert status == 400 and fragment in body["error"]


def test_unknown_options_are_refused(client):
    for options, word in [({"speech": "polly"}, "speech"), ({"colour": "red"}, "colour"), ([1], "object")]:
        status, body = client.json("POST", "/api/v1/generate", {"text": "Hello.", "options": options})
        assert status == 400 and word in body["error"]


def test_empty_body_is_no_text(client):
    assert client.json("POST", "/api/v1/generate", raw=b"") == (400, {"error": "No text provided in request body"})


def test_text_over_the_limit_is_413(client):
    status, body = client.json("POST", "/api/v1/generate", {"text": "word " * 5000})
    assert status == 413 and "limit" in body["error"]


def test_status_and_download_of_unknown_jobs_are_404(client):
    for path in (f"/api/v1/status/{new_id()}", f"/api/v1/download/{new_id()}", "/api/v1/status/..%2f..%2fetc",
                 "/api/v1/status/not-an-id", "/api/v1/download/%2e%2e"):
        assert client.json("GET", path) == (404, {"error": "Job not found"}), path


def test_download_before_completion_is_400(client, spool):
    state = spool.submit("A story.", "api")
    assert client.json("GET", f"/api/v1/download/{state.job_id}") == (400, {"error": "Video not ready for download"})


def test_completed_job_without_its_file_is_500(client, spool):
    state = JobState(new_id(), status=JobStatus.COMPLETED, progress=100)
    spool.write_state(state)
    assert client.json("GET", f"/api/v1/download/{state.job_id}") == (500, {"error": "Video file not found"})


def test_download_serves_the_mp4_as_an_attachment(client, spool):
    state = JobState(new_id(), status=JobStatus.COMPLETED, progress=100,
                     output_file="output/video_x.mp4")
    spool.write_state(state)
    payload = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 100
    spool.home.job(state.job_id).video.write_bytes(payload)
    status, headers, body = client.request("GET", f"/api/v1/download/{state.job_id}")
    assert status == 200 and body == payload
    assert headers["Content-Type"] == "video/mp4"
    assert headers["Content-Disposition"] == f'attachment; filename="generated_video_{state.job_id}.mp4"'


def test_download_does_not_follow_symlinks(client, spool, tmp_path):
    state = JobState(new_id(), status=JobStatus.COMPLETED, progress=100)
    spool.write_state(state)
    secret = tmp_path / "secret.mp4"
    secret.write_bytes(b"secret")
    spool.home.job(state.job_id).video.symlink_to(secret)
    assert client.json("GET", f"/api/v1/download/{state.job_id}") == (500, {"error": "Video file not found"})


def test_jobs_lists_every_job_in_the_documented_shape(client, spool):
    queued = spool.submit("First.", "api")
    done = JobState(new_id(), status=JobStatus.COMPLETED, progress=100, message="Video generation completed",
                    output_file="output/video_done.mp4", logs=["Starting audio generation..."])
    spool.write_state(done)
    status, body = client.json("GET", "/api/v1/jobs")
    assert status == 200 and set(body) == {"jobs"}
    assert set(body["jobs"]) == {queued.job_id, done.job_id}
    assert body["jobs"][done.job_id] == {"status": "completed", "progress": 100,
                                         "message": "Video generation completed",
                                         "created_at": done.created_at, "output_file": "output/video_done.mp4",
                                         "logs": ["Starting audio generation..."]}
    assert set(body["jobs"][queued.job_id]) == {"status", "progress", "message", "created_at", "logs"}


def test_jobs_filters_by_status_and_limit(client, spool):
    ids = [spool.submit(f"Tale {n}.", "api").job_id for n in range(3)]
    spool.write_state(JobState(new_id(), status=JobStatus.FAILED, created_at=1))
    status, body = client.json("GET", "/api/v1/jobs")
    assert status == 200 and len(body["jobs"]) == 4
    queued = client.json("GET", "/api/v1/jobs?status=queued")[1]["jobs"]
    assert set(ids) <= set(queued) and all(v["status"] == "queued" for v in queued.values())
    first_two = client.json("GET", "/api/v1/jobs?limit=2")[1]["jobs"]
    assert list(first_two) == list(body["jobs"])[:2]  # oldest first, as without the filter
    assert client.json("GET", "/api/v1/jobs?status=failed&limit=1")[1]["jobs"].popitem()[1]["status"] == "failed"


@pytest.mark.parametrize("method,path,code", [("GET", "/ui/nothing.js", 404), ("GET", "/api/v1/nothing", 404),
                                              ("DELETE", "/api/v1/jobs", 405), ("GET", "/api/v1/generate", 405),
                                              ("PUT", "/api/v1/status/x", 405)])
def test_every_other_request_gets_a_json_error(client, method, path, code):
    status, headers, body = client.request(method, path)
    assert status == code and headers["Content-Type"].startswith("application/json")
    assert set(json.loads(body)) == {"error"}


# -- over real HTTP -------------------------------------------------------------------------------------

def test_round_trip_over_real_http(server, spool, tmp_path):
    status, body = server.json("POST", "/api/v1/generate", {"text": "Once upon a time, in a faraway land..."})
    assert status == 202 and body["status"] == "queued"
    job_id = body["job_id"]
    assert spool.queued_ids() == [job_id]
    status, view = server.json("GET", f"/api/v1/status/{job_id}")
    assert status == 200 and view["status"] == "queued" and view["progress"] == 0
    assert set(view) >= {"status", "progress", "message", "created_at", "logs"}
    status, listing = server.json("GET", "/api/v1/jobs")
    seed = {key: view[key] for key in ("status", "progress", "message", "created_at", "logs")}
    assert status == 200 and listing == {"jobs": {job_id: seed}}
    # a finished video is streamed by the server's file wrapper, byte for byte
    done = JobState(new_id(), status=JobStatus.COMPLETED, progress=100, output_file="output/video_x.mp4")
    spool.write_state(done)
    payload = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 2000
    spool.home.job(done.job_id).video.write_bytes(payload)
    status, headers, video = server.request("GET", f"/api/v1/download/{done.job_id}")
    assert status == 200 and video == payload
    assert headers["Content-Type"] == "video/mp4" and headers["Content-Length"] == str(len(payload))


def test_a_body_over_the_limit_is_refused_by_the_server_in_json(start, home):
    """waitress refuses it from Content-Length, before the app sees it; the body is still JSON."""
    api = serve_on(start, home, TTVD_MAX_BODY_BYTES="4096")
    status, headers, body = api.request("POST", "/api/v1/generate",
                                        json.dumps({"text": "hi", "pad": "x" * 5000}).encode(),
                                        {"Content-Type": "application/json"})
    assert status == 413 and headers["Content-Type"].startswith("application/json")
    answer = json.loads(body)
    assert set(answer) == {"error"} and "too large" in answer["error"]
