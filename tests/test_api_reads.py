"""The read endpoints beyond the API document's bodies: the full status view, paging the jobs listing,
downloads of every format with ranges and conditional requests, health. In process against the WSGI
app, then over real HTTP against `ttvd serve` where waitress's file wrapper does the sending."""
import base64
import http.client
import json
import os
import socket
import subprocess
import sys
import time
import wsgiref.util
from wsgiref.headers import Headers

import pytest

from ttvd import api_reads, daemons, download
from ttvd.daemons import DaemonFile
from ttvd.home import Home
from ttvd.job import JobState, JobStatus, new_id

VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40  # 10,252 bytes
SIDE = {"srt": b"1\n00:00:00,000 --> 00:00:01,000\nOnce upon\n",
        "vtt": b"WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nOnce upon\n",
        "json": b'{"words": [{"word": "Once", "start": 0.0, "end": 0.4}]}'}
TYPES = {"mp4": "video/mp4", "srt": "application/x-subrip", "vtt": "text/vtt", "json": "application/json"}
MTIME = 1_700_000_000  # Tue, 14 Nov 2023 22:13:20 GMT
SEED_FIELDS = {"status", "progress", "message", "created_at", "logs"}


def completed(spool, video: bytes = VIDEO, side: tuple[str, ...] = ("srt", "vtt", "json")) -> JobState:
    """A completed job as a daemon leaves it: its state, the video and the side files in output/."""
    state = JobState(new_id(), status=JobStatus.COMPLETED, progress=100, message="Video generation completed",
                     stage="done", options={"voice": "en"}, logs=["Video generation completed"],
                     credits=[{"start": 0.0, "end": 2.5, "source": "pexels", "id": 1,
                               "page": "https://www.pexels.com/video/1/", "author": "A. Person",
                               "author_url": "https://www.pexels.com/@a"}])
    state.output_file = f"output/video_{state.job_id}.mp4"
    spool.write_state(state)
    paths = spool.home.job(state.job_id)
    paths.video.write_bytes(video)
    for fmt in side:
        paths.download(fmt).write_bytes(SIDE[fmt])
    for fmt in ("mp4", *side):
        os.utime(paths.download(fmt), (MTIME, MTIME))
    return state


def fetch(client, method: str, url: str, headers: dict[str, str] | None = None):
    """(status, headers, body) with the headers looked up regardless of case (bottle sends "Etag")."""
    status, found, body = client.request(method, url, headers=headers)
    return status, Headers(list(found.items())), body


def jobs_at(spool, *created: int, status: JobStatus = JobStatus.QUEUED) -> list[str]:
    ids = []
    for when in created:
        state = JobState(new_id(), status=status, created_at=when)
        spool.write_state(state)
        ids.append(state.job_id)
    return ids


# -- GET /status/<id> ------------------------------------------------------------------------------------

def test_status_keeps_the_documents_body_and_adds_to_it(client, spool):
    state = completed(spool, side=("srt", "json"))
    status, full = client.json("GET", f"/api/v1/status/{state.job_id}")
    assert status == 200
    assert {k: full[k] for k in SEED_FIELDS} == state.status_view()  # the document's five, unchanged
    assert full["job_id"] == state.job_id and full["stage"] == "done" and full["error"] is None
    assert full["options"] == {"voice": "en"} and full["credits"] == state.credits
    assert full["output_file"] == f"output/video_{state.job_id}.mp4"
    assert full["updated_at"] == spool.read_state(state.job_id).updated_at
    job = state.job_id
    assert full["links"] == {"status": f"/api/v1/status/{job}",
                             "download": {"mp4": f"/api/v1/download/{job}?format=mp4",  # no vtt: not there
                                          "srt": f"/api/v1/download/{job}?format=srt",
                                          "json": f"/api/v1/download/{job}?format=json"}}
    for url in full["links"]["download"].values():
        assert fetch(client, "GET", url)[0] == 200


def test_full_status_of_unfinished_jobs(client, spool):
    queued = spool.submit("A story.", "api", {"aspect": "16:9"})
    view = client.json("GET", f"/api/v1/status/{queued.job_id}")[1]
    assert view["links"] == {"status": f"/api/v1/status/{queued.job_id}"}
    assert "output_file" not in view and view["options"] == {"aspect": "16:9"} and view["stage"] is None
    failed = JobState(new_id())
    failed.begin_attempt()
    failed.enter_stage("footage")
    failed.fail("no footage found")
    spool.write_state(failed)
    view = client.json("GET", f"/api/v1/status/{failed.job_id}")[1]
    assert (view["status"], view["stage"], view["error"]) == ("failed", "footage", "no footage found")
    assert view["links"] == {"status": f"/api/v1/status/{failed.job_id}"}


def test_status_of_an_unknown_job_is_404(client, spool):
    assert client.json("GET", f"/api/v1/status/{new_id()}") == (404, {"error": "Job not found"})


# -- GET /jobs: order and cursor -------------------------------------------------------------------------

def pages(client, query: str) -> list[list[str]]:
    """Every page of a listing, following ``next`` until it is absent."""
    found, url = [], f"/api/v1/jobs?{query}"
    while True:
        status, body = client.json("GET", url)
        assert status == 200, body
        found.append(list(body["jobs"]))
        if "next" not in body:
            return found
        assert set(body) == {"jobs", "next"}
        url = f"/api/v1/jobs?{query}&cursor={body['next']}"


def test_jobs_newest_first(client, spool):
    a, b, c = jobs_at(spool, 100, 110, 120)
    assert list(client.json("GET", "/api/v1/jobs?order=newest")[1]["jobs"]) == [c, b, a]
    assert list(client.json("GET", "/api/v1/jobs?order=oldest")[1]["jobs"]) == [a, b, c]
    assert list(client.json("GET", "/api/v1/jobs?order=newest&limit=2")[1]["jobs"]) == [c, b]
    assert client.json("GET", "/api/v1/jobs?order=sideways") == (400, {"error": "order must be one of: oldest, newest"})
    for limit in ("0", "-1", "x", "9" * 5000):  # thousands of digits are refused, not a crash
        assert client.json("GET", f"/api/v1/jobs?limit={limit}") == (400, {"error": "limit must be a positive integer"})


def test_a_cursor_walks_every_job_once_in_order(client, spool):
    ids = jobs_at(spool, 100, 110, 120, 130, 140)
    assert pages(client, "limit=2") == [ids[:2], ids[2:4], ids[4:]]
    assert pages(client, "limit=2&order=newest") == [ids[:2:-1], ids[2:0:-1], ids[:1]]
    assert pages(client, "limit=5") == [ids]  # no "next" when nothing remains
    ties = sorted(jobs_at(spool, 50, 50, 50))  # the same second: the id breaks the tie
    assert pages(client, "limit=1")[:3] == [[job] for job in ties]


def test_a_cursor_goes_with_the_status_filter(client, spool):
    failed = jobs_at(spool, 100, 120, 140, status=JobStatus.FAILED)
    jobs_at(spool, 110, 130, 150)
    assert pages(client, "status=failed&limit=2") == [failed[:2], failed[2:]]


def test_a_cursor_holds_its_place_while_jobs_come_and_go(client, spool):
    a, b, c, d, e = jobs_at(spool, 100, 110, 120, 130, 140)
    body = client.json("GET", "/api/v1/jobs?limit=2")[1]
    assert list(body["jobs"]) == [a, b]
    for gone in (b, c):  # the cursor's own job, and the one after it
        spool.home.job(gone).state.unlink()
    before, after = jobs_at(spool, 105, 135)
    body = client.json("GET", f"/api/v1/jobs?limit=2&cursor={body['next']}")[1]
    assert list(body["jobs"]) == [d, after]  # neither skips nor repeats; `before` is behind the cursor
    body = client.json("GET", f"/api/v1/jobs?limit=2&cursor={body['next']}")[1]
    assert list(body["jobs"]) == [e] and "next" not in body


def test_the_cursor_carries_its_order(client, spool):
    a, b, c = jobs_at(spool, 100, 110, 120)
    cursor = client.json("GET", "/api/v1/jobs?order=newest&limit=1")[1]["next"]
    assert list(client.json("GET", f"/api/v1/jobs?cursor={cursor}")[1]["jobs"]) == [b, a]
    assert list(client.json("GET", f"/api/v1/jobs?order=newest&cursor={cursor}")[1]["jobs"]) == [b, a]
    status, body = client.json("GET", f"/api/v1/jobs?order=oldest&cursor={cursor}")
    assert status == 400 and "order=newest" in body["error"]


@pytest.mark.parametrize("raw", [b"", b"garbage", b"[]", b'{"order": 1}', b'["oldest",1,"../../etc"]',
                                 b'["oldest",NaN,"' + b"a" * 32 + b'"]', b'["oldest",true,"' + b"a" * 32 + b'"]',
                                 b'["up",1,"' + b"a" * 32 + b'"]'])
def test_a_bad_cursor_is_400(client, spool, raw):
    jobs_at(spool, 100, 110)
    for cursor in (base64.urlsafe_b64encode(raw).decode(), raw.decode() + "!"):
        status, body = client.json("GET", f"/api/v1/jobs?cursor={cursor}")
        assert status == 400 and "cursor" in body["error"], cursor
    assert status == 400 and "cursor" in body["error"]


def test_the_listing_rereads_a_changed_state(client, spool):
    (job,) = jobs_at(spool, 100)
    assert client.json("GET", "/api/v1/jobs")[1]["jobs"][job]["status"] == "queued"
    state = spool.read_state(job)
    state.begin_attempt()
    spool.write_state(state)
    assert client.json("GET", "/api/v1/jobs")[1]["jobs"][job]["status"] == "processing"


# -- GET /download/<id>: formats -------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["mp4", "srt", "vtt", "json"])
def test_each_format_downloads_with_its_type_and_name(client, spool, fmt):
    state = completed(spool)
    status, headers, body = fetch(client, "GET", f"/api/v1/download/{state.job_id}?format={fmt}")
    assert status == 200 and body == (VIDEO if fmt == "mp4" else SIDE[fmt])
    assert headers["Content-Type"] == TYPES[fmt] and headers["Content-Length"] == str(len(body))
    assert headers["Content-Disposition"] == f'attachment; filename="generated_video_{state.job_id}.{fmt}"'


def test_download_formats_and_their_errors(client, spool):
    state = completed(spool, side=("srt",))
    assert fetch(client, "GET", f"/api/v1/download/{state.job_id}")[2] == VIDEO  # mp4 by default
    status, body = client.json("GET", f"/api/v1/download/{state.job_id}?format=avi")
    assert status == 400 and body == {"error": "format must be one of: mp4, srt, vtt, json"}
    status, body = client.json("GET", f"/api/v1/download/{state.job_id}?format=vtt")
    assert status == 404 and "no vtt file" in body["error"]
    queued = spool.submit("A story.", "api")
    assert client.json("GET", f"/api/v1/download/{queued.job_id}?format=srt") == (
        400, {"error": "Video not ready for download"})
    assert client.json("GET", f"/api/v1/download/{new_id()}?format=srt") == (404, {"error": "Job not found"})


def test_a_side_file_that_is_a_symlink_is_not_served(client, spool, tmp_path):
    state = completed(spool, side=())
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    spool.home.job(state.job_id).download("srt").symlink_to(secret)
    status, body = client.json("GET", f"/api/v1/download/{state.job_id}?format=srt")
    assert status == 404 and "secret" not in json.dumps(body)
    links = client.json("GET", f"/api/v1/status/{state.job_id}")[1]["links"]
    assert set(links["download"]) == {"mp4"}


def test_without_a_file_wrapper_a_download_is_read_a_chunk_at_a_time(client, spool):
    big = os.urandom(3 * download.CHUNK + 10)
    state = completed(spool, video=big)
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": f"/api/v1/download/{state.job_id}", "QUERY_STRING": "",
               "HTTP_RANGE": "bytes=5-"}
    wsgiref.util.setup_testing_defaults(environ)
    assert "wsgi.file_wrapper" not in environ
    result = client.app(environ, lambda status, headers, exc_info=None: None)
    chunks = list(result)
    result.close()
    assert b"".join(chunks) == big[5:] and max(map(len, chunks)) <= download.CHUNK and len(chunks) == 4


# -- ranges ----------------------------------------------------------------------------------------------

SIZE = len(VIDEO)


@pytest.mark.parametrize("header,start,end", [
    ("bytes=0-99", 0, 99), ("bytes=100-", 100, SIZE - 1), ("bytes=-50", SIZE - 50, SIZE - 1),
    ("bytes=10-10", 10, 10), ("bytes=5000-999999999", 5000, SIZE - 1), ("bytes=-999999", 0, SIZE - 1),
    ("Bytes=1-2", 1, 2), (f"bytes={SIZE - 1}-", SIZE - 1, SIZE - 1),
])
def test_a_single_range_is_206_with_those_bytes(client, spool, header, start, end):
    state = completed(spool)
    status, headers, body = fetch(client, "GET", f"/api/v1/download/{state.job_id}", headers={"Range": header})
    assert status == 206 and body == VIDEO[start:end + 1]
    assert headers["Content-Range"] == f"bytes {start}-{end}/{SIZE}"
    assert headers["Content-Length"] == str(end - start + 1) and headers["Accept-Ranges"] == "bytes"


@pytest.mark.parametrize("header", [f"bytes={SIZE}-", f"bytes={SIZE}-{SIZE + 10}", "bytes=-0",
                                   "bytes=" + "9" * 40 + "-"])
def test_a_range_past_the_end_is_416(client, spool, header):
    state = completed(spool)
    status, headers, body = fetch(client, "GET", f"/api/v1/download/{state.job_id}", headers={"Range": header})
    assert status == 416 and headers["Content-Range"] == f"bytes */{SIZE}"
    assert set(json.loads(body)) == {"error"}


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "bytes=5-2", "items=0-1", "bytes=abc", "bytes=-", "bytes 0-1"])
def test_several_or_malformed_ranges_get_the_whole_file(client, spool, header):
    state = completed(spool)
    status, headers, body = fetch(client, "GET", f"/api/v1/download/{state.job_id}", headers={"Range": header})
    assert status == 200 and body == VIDEO and "Content-Range" not in headers


def test_a_range_of_a_side_file(client, spool):
    state = completed(spool)
    status, headers, body = fetch(client, "GET", f"/api/v1/download/{state.job_id}?format=vtt",
                                           headers={"Range": "bytes=0-5"})
    assert (status, body, headers["Content-Type"]) == (206, b"WEBVTT", "text/vtt")


# -- HEAD and conditional requests ------------------------------------------------------------------------

def test_head_has_the_headers_of_get_and_no_body(client, spool):
    state = completed(spool)
    url = f"/api/v1/download/{state.job_id}"
    got = fetch(client, "GET", url)[1]
    status, headers, body = fetch(client, "HEAD", url)
    assert status == 200 and body == b""
    for name in ("Content-Type", "Content-Length", "Content-Disposition", "ETag", "Last-Modified", "Accept-Ranges"):
        assert headers[name] == got[name], name
    status, headers, body = fetch(client, "HEAD", url, headers={"Range": "bytes=0-9"})
    assert (status, body, headers["Content-Length"], headers["Content-Range"]) == (206, b"", "10", f"bytes 0-9/{SIZE}")
    assert fetch(client, "HEAD", f"/api/v1/download/{new_id()}")[0] == 404


def test_validators_are_strong_and_follow_the_file(client, spool):
    state = completed(spool)
    url = f"/api/v1/download/{state.job_id}"
    headers = fetch(client, "GET", url)[1]
    assert headers["Last-Modified"] == "Tue, 14 Nov 2023 22:13:20 GMT"
    etag = headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    assert fetch(client, "GET", f"{url}?format=srt")[1]["ETag"] != etag
    replacement = spool.home.job(state.job_id).video.with_name("new.mp4")
    replacement.write_bytes(VIDEO[::-1])
    os.replace(replacement, spool.home.job(state.job_id).video)  # the way a video lands: renamed into place
    assert fetch(client, "GET", url)[1]["ETag"] != etag


@pytest.mark.parametrize("condition,current", [
    ({"If-None-Match": "{etag}"}, True), ({"If-None-Match": "W/{etag}"}, True), ({"If-None-Match": "*"}, True),
    ({"If-None-Match": '"other", {etag}'}, True), ({"If-None-Match": '"other"'}, False),
    ({"If-Modified-Since": "Tue, 14 Nov 2023 22:13:20 GMT"}, True),
    ({"If-Modified-Since": "Wed, 15 Nov 2023 00:00:00 GMT"}, True),
    ({"If-Modified-Since": "Tue, 14 Nov 2023 22:13:19 GMT"}, False), ({"If-Modified-Since": "yesterday"}, False),
    ({"If-None-Match": '"other"', "If-Modified-Since": "Tue, 14 Nov 2023 22:13:20 GMT"}, False),  # the tag decides
])
def test_a_current_copy_gets_304_without_a_body(client, spool, condition, current):
    state = completed(spool)
    url = f"/api/v1/download/{state.job_id}"
    etag = fetch(client, "GET", url)[1]["ETag"]
    sent = {name: value.replace("{etag}", etag) for name, value in condition.items()}
    for method in ("GET", "HEAD"):
        status, headers, body = fetch(client, method, url, headers={**sent, "Range": "bytes=0-0"})
        if current:
            assert (status, body, headers["ETag"]) == (304, b"", etag) and "Content-Length" not in headers
        else:  # not current: the range is answered
            assert (status, body) == (206, VIDEO[:1] if method == "GET" else b"")


@pytest.mark.parametrize("if_range,ranged", [
    ("{etag}", True), ('"0-0-0"', False), ("W/{etag}", False),
    ("Tue, 14 Nov 2023 22:13:20 GMT", True), ("Tue, 14 Nov 2023 22:13:21 GMT", False), ("nonsense", False),
])
def test_if_range_sends_the_range_only_for_the_same_file(client, spool, if_range, ranged):
    state = completed(spool)
    url = f"/api/v1/download/{state.job_id}"
    etag = fetch(client, "GET", url)[1]["ETag"]
    status, headers, body = fetch(client, "GET", url, headers={"Range": "bytes=100-199",
                                                                "If-Range": if_range.replace("{etag}", etag)})
    if ranged:
        assert (status, body, headers["Content-Range"]) == (206, VIDEO[100:200], f"bytes 100-199/{SIZE}")
    else:
        assert (status, body) == (200, VIDEO) and "Content-Range" not in headers


# -- GET /health -----------------------------------------------------------------------------------------

def write_beat(home, name: str, host: str, pid: int, age: float) -> None:
    folder = Home(home).daemons
    folder.mkdir(parents=True, exist_ok=True)
    here = daemons._here() if host == socket.gethostname() else {}  # same boot and namespace: pid asked
    (folder / f"{name}.json").write_text(json.dumps({
        "host": host, "pid": pid, **here, "started_at": time.time() - 1000, "heartbeat_at": time.time() - age,
        "status": "Waiting for jobs", "job_id": None, "jobs_run": 0}))


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", ""])
    child.wait()
    return child.pid


def test_health_is_ok_with_a_live_daemon(client, spool, home):
    DaemonFile(Home(home)).write("Waiting for jobs", None, 0)  # this very process, heartbeat now
    spool.submit("One.", "api")
    spool.submit("Two.", "api")
    status, headers, body = fetch(client, "GET", "/api/v1/health")
    answer = json.loads(body)
    assert status == 200 and headers["Cache-Control"] == "no-store"
    assert answer["status"] == "ok" and "error" not in answer
    assert answer["daemons"] == {"alive": 1, "known": 1} and answer["queued"] == 2 and answer["processing"] == 0
    assert answer["disk_free_bytes"] >= api_reads.MIN_FREE_BYTES
    assert str(home) not in body.decode()  # open to anyone: it names no path


def test_health_without_a_daemon_is_503(client):
    status, body = client.json("GET", "/api/v1/health")
    assert status == 503 and body["status"] == "unhealthy" and body["error"].startswith("no daemon")
    assert body["daemons"] == {"alive": 0, "known": 0} and body["queued"] == 0


def test_health_with_a_stale_or_gone_daemon_is_503(client, home):
    write_beat(home, "gone", socket.gethostname(), dead_pid(), age=1)
    status, body = client.json("GET", "/api/v1/health")
    assert status == 503 and body["error"].startswith("no daemon") and "exited" in body["error"]
    write_beat(home, "hung", "another-host", 4242, age=600)
    status, body = client.json("GET", "/api/v1/health")
    assert status == 503 and body["error"].startswith("daemon stale") and "600 s" in body["error"]
    assert body["daemons"] == {"alive": 0, "known": 2}
    write_beat(home, "fine", "another-host", 4243, age=5)
    assert client.json("GET", "/api/v1/health")[0] == 200


def test_health_with_a_full_disk_is_503(client, home, monkeypatch):
    DaemonFile(Home(home)).write("Waiting for jobs", None, 0)
    monkeypatch.setattr(api_reads, "MIN_FREE_BYTES", 2**62)
    status, body = client.json("GET", "/api/v1/health")
    assert status == 503 and body["error"].startswith("disk full") and body["daemons"]["alive"] == 1


# -- over real HTTP: waitress and its file wrapper --------------------------------------------------------

def test_ranges_head_and_304_over_real_http(server, spool):
    """One keep-alive connection: a stray body after HEAD or 304 would garble the next answer."""
    big = os.urandom(2 * 1024 * 1024 + 123)
    state = completed(spool, video=big)
    url = f"/api/v1/download/{state.job_id}"
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)

    def ask(method: str, headers: dict[str, str] | None = None, path: str = url):
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()

    status, headers, body = ask("GET")
    assert status == 200 and body == big and headers["Content-Length"] == str(len(big))
    etag = headers["ETag"]
    assert ask("HEAD")[::2] == (200, b"")
    status, headers, body = ask("GET", {"If-None-Match": etag})
    assert (status, body, headers["ETag"]) == (304, b"", etag)
    assert ask("GET", {"If-Modified-Since": "Tue, 14 Nov 2023 22:13:20 GMT"})[::2] == (304, b"")
    for header, start, end in [("bytes=1000-1999", 1000, 1999), ("bytes=1048576-", 1048576, len(big) - 1),
                               ("bytes=-10", len(big) - 10, len(big) - 1)]:
        status, headers, body = ask("GET", {"Range": header})
        assert status == 206 and body == big[start:end + 1], header
        assert headers["Content-Range"] == f"bytes {start}-{end}/{len(big)}"
    status, headers, body = ask("HEAD", {"Range": "bytes=0-99"})
    assert (status, body, headers["Content-Length"]) == (206, b"", "100")
    status, headers, body = ask("GET", {"Range": f"bytes={len(big)}-"})
    assert status == 416 and headers["Content-Range"] == f"bytes */{len(big)}" and "error" in json.loads(body)
    status, headers, body = ask("GET", {"Range": "bytes=0-2", "If-Range": etag}, f"{url}?format=srt")
    assert status == 200 and body == SIDE["srt"]  # the mp4's tag is not the srt's: the whole file
    status, headers, body = ask("GET", {"Range": "bytes=0-5"}, f"{url}?format=vtt")
    assert (status, body, headers["Content-Type"]) == (206, b"WEBVTT", "text/vtt")
    conn.close()
