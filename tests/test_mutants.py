"""Promises that mutation testing (docs/mutation.md) found no fast test keeping: each test here kills
mutants of ttvd.answers, ttvd.claim, ttvd.recovery, ttvd.atomic or ttvd.job that survived the rest of the
fast suite, so a change that breaks the promise fails in the developer's loop, not only in tests/faults/."""
from __future__ import annotations

import dataclasses
import errno
import fcntl
import io
import json
import os
import signal
import threading
import time
import wsgiref.util
from pathlib import Path
from typing import Any

import bottle
import pytest

from ttvd import answers, atomic
from ttvd import claim as claim_module
from ttvd.claim import claim, claim_next, owner_mark, take_back
from ttvd.errors import ConfigError, Conflict, InputError, NoSpaceError, NoText, TextTooLong, TtvdError
from ttvd.home import NOT_FOUND, UnknownJob
from ttvd.job import JobState, JobStatus, new_id
from ttvd.recovery import fail_orphans, recover
from ttvd.spool import Spool

from helpers import Wsgi

# -- ttvd.answers: every error of every route is the one JSON body with its status -------------------

LIMIT = 64  # the body limit of the test app's /echo
RAISED: dict[str, Exception] = {
    "unknown": UnknownJob(), "no_text": NoText("the file is empty"), "too_long": TextTooLong("too long"),
    "input": InputError("no words"), "config": ConfigError("bad option"), "conflict": Conflict("finished"),
    "no_space": NoSpaceError("disk full while writing x"), "other": TtvdError("something of ttvd's"),
    "enospc": OSError(errno.ENOSPC, "No space left on device"), "edquot": OSError(errno.EDQUOT, "Quota"),
    "eio": OSError(errno.EIO, "Input/output error"),
    "api": answers.ApiError(429, "Too many jobs", {"Retry-After": "7"}),
}
ANSWERED = {  # kind: (status, error message)
    "unknown": (404, NOT_FOUND), "no_text": (400, answers.NO_TEXT), "too_long": (413, "too long"),
    "input": (400, "no words"), "config": (400, "bad option"), "conflict": (409, "finished"),
    "no_space": (507, answers.DISK_FULL), "other": (500, "something of ttvd's"),
    "enospc": (507, answers.DISK_FULL), "edquot": (507, answers.DISK_FULL),
    "eio": (500, "Server error: Input/output error"), "api": (429, "Too many jobs"),
}


class Stream(io.BytesIO):
    """A request body that counts what the app reads of it."""

    taken = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.taken += len(data)
        return data


@pytest.fixture
def app() -> Wsgi:
    """A bare app whose routes raise each error, and echo a JSON body read with a LIMIT-byte cap."""
    bare = bottle.Bottle(catchall=True)

    @answers.route(bare, "/raise/<kind>")  # the default method is GET
    def fail(kind: str) -> Any:
        raise RAISED[kind]

    @answers.route(bare, "/echo", "POST")
    def echo() -> Any:
        return answers.json_response(200, answers.read_json(LIMIT))

    return Wsgi(bare)


def post(app: Wsgi, body: bytes, length: str | None = None) -> tuple[int, dict[str, Any], Stream]:
    """POST ``body`` to /echo with Content-Length ``length`` (default: the body's; "" for none, as
    a chunked body); (status, decoded body, the stream read)."""
    stream = Stream(body)
    environ: dict[str, Any] = {"REQUEST_METHOD": "POST", "PATH_INFO": "/echo", "wsgi.input": stream,
                               "CONTENT_LENGTH": str(len(body)) if length is None else length}
    started: list[str] = []
    result = app.app(environ | _defaults(), lambda status, headers, exc=None: started.append(status))
    data = b"".join(result)
    return int(started[-1].split()[0]), json.loads(data), stream


def _defaults() -> dict[str, Any]:
    environ: dict[str, Any] = {}
    wsgiref.util.setup_testing_defaults(environ)
    return {k: v for k, v in environ.items() if k not in ("REQUEST_METHOD", "PATH_INFO", "wsgi.input")}


@pytest.mark.parametrize("kind", sorted(RAISED))
def test_each_error_is_its_status_with_the_one_json_body(app: Wsgi, kind: str) -> None:
    status, headers, data = app.request("GET", f"/raise/{kind}")
    assert (status, json.loads(data)) == (ANSWERED[kind][0], {"error": ANSWERED[kind][1]})
    assert headers["Content-Type"] == "application/json"
    if kind == "api":
        assert headers["Retry-After"] == "7"


def test_an_unexpected_os_error_is_logged_with_its_route(app: Wsgi, caplog: pytest.LogCaptureFixture) -> None:
    app.request("GET", "/raise/eio")
    assert "GET /raise/<kind> failed" in caplog.text


def test_a_body_of_exactly_the_limit_is_read_whole_with_or_without_its_length(app: Wsgi) -> None:
    body = b'{"a": "' + b"x" * (LIMIT - 10) + b'"}'
    assert len(body) == LIMIT - 1
    for sent in (body + b" ", body + b"\n"):
        for length in (None, ""):
            status, echoed, stream = post(app, sent, length)
            assert (status, echoed) == (200, {"a": "x" * (LIMIT - 10)})
            assert stream.taken == LIMIT


def test_answers_are_utf8_json_with_text_as_typed(app: Wsgi) -> None:
    status, headers, data = app.request("POST", "/echo", '{"a": "été 夜"}'.encode())
    assert (status, headers["Content-Type"]) == (200, "application/json")
    assert "été 夜".encode() in data


@pytest.mark.parametrize("length", [None, ""])
def test_a_body_over_the_limit_is_413_and_never_read_past_the_limit(app: Wsgi, length: str | None) -> None:
    status, echoed, stream = post(app, b'{"a": "' + b"x" * 10 * LIMIT + b'"}', length)
    assert status == 413 and set(echoed) == {"error"} and str(LIMIT) in echoed["error"]
    assert stream.taken <= LIMIT + 1


def test_nothing_is_read_past_the_length_the_client_gave(app: Wsgi) -> None:
    status, echoed, stream = post(app, b'{"a": 1}{"next request": 2}', length="8")
    assert (status, echoed, stream.taken) == (200, {"a": 1}, 8)
    status, echoed, stream = post(app, b'{"a": 1}', length="0")
    assert (status, echoed, stream.taken) == (400, {"error": answers.NO_TEXT}, 0)


@pytest.mark.parametrize("raw", [b'{"text": "\\ud800"}', b'{"\\udfff": 1}', b'{"a": ["ok", {"b": "\\udc00x"}]}'])
def test_an_unpaired_surrogate_is_a_400_not_a_server_error(app: Wsgi, raw: bytes) -> None:
    status, echoed, _ = post(app, raw)
    assert status == 400 and "surrogate" in echoed["error"]


def test_a_job_whose_state_cannot_be_read_is_a_500_saying_so(client: Wsgi, spool: Spool) -> None:
    job_id = spool.submit("A tale whose state is torn.", "api").job_id
    spool.home.job(job_id).state.write_bytes(b'{"job_id": "trunc')
    for path in (f"/api/v1/status/{job_id}", f"/api/v1/download/{job_id}"):
        assert client.json("GET", path) == (500, {"error": "Job state cannot be read"}), path


# -- ttvd.atomic: the one safe read, and where a durable write leaves its temporary -----------------

def test_a_file_of_exactly_the_cap_is_read_whole_and_one_byte_more_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    path.write_bytes(b"x" * 100)
    assert atomic.read_regular(path, 100) == b"x" * 100
    with pytest.raises(atomic.FileTooLarge) as refused:
        atomic.read_regular(path, 99)
    assert (refused.value.errno, refused.value.filename) == (errno.EFBIG, str(path))
    assert "over the 99-byte cap" in refused.value.strerror


def test_a_file_read_in_several_chunks_comes_back_whole(tmp_path: Path) -> None:
    path = tmp_path / "big"
    data = bytes(range(256)) * 6000  # about 1.5 MB: two reads
    path.write_bytes(data)
    assert atomic.read_regular(path, len(data)) == data


def test_a_file_bigger_than_its_size_says_is_cut_at_the_cap_and_refused() -> None:
    # procfs files say they are empty and hold text: a file that grew after its size was read
    status = Path("/proc/self/status")
    assert os.stat(status).st_size == 0 and len(status.read_bytes()) > 100
    with pytest.raises(atomic.FileTooLarge) as refused:
        atomic.read_regular(status, 100)
    assert (refused.value.errno, refused.value.filename) == (errno.EFBIG, str(status))
    assert "grew over the 100-byte cap" in refused.value.strerror


@pytest.mark.skipif(not os.access("/proc/kallsyms", os.R_OK), reason="no /proc/kallsyms to read")
def test_a_file_growing_past_its_cap_in_many_reads_is_refused_not_read_to_its_end() -> None:
    # megabytes that procfs hands out a page at a time, under a size of 0
    with pytest.raises(atomic.FileTooLarge, match="grew over"):
        atomic.read_regular(Path("/proc/kallsyms"), 1 << 20)


def test_a_symlink_or_a_fifo_is_refused_at_once_never_followed_nor_waited_on(tmp_path: Path) -> None:
    target = tmp_path / "target.json"
    target.write_text("{}")
    (tmp_path / "link").symlink_to(target)
    os.mkfifo(tmp_path / "fifo")  # no writer: a blocking open would wait for ever
    for name, code, why in (("link", errno.ELOOP, "symbolic link"), ("fifo", errno.EINVAL, "not a regular file")):
        with pytest.raises(atomic.NotRegularFile) as refused:
            atomic.read_regular(tmp_path / name, 100)
        assert (refused.value.errno, refused.value.filename) == (code, str(tmp_path / name))
        assert why in refused.value.strerror


def test_a_state_file_is_written_through_the_spools_tmp_where_a_crash_leaves_nothing_unswept(
        spool: Spool, monkeypatch: pytest.MonkeyPatch) -> None:
    replaced: list[tuple[Path, Path]] = []
    real = os.replace

    def spy(src: Any, dst: Any) -> None:
        replaced.append((Path(src), Path(dst)))
        real(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    spool.write_state(JobState(new_id()))
    assert [src.parent for src, _ in replaced] == [spool.home.queue("tmp")]
    assert [dst.parent for _, dst in replaced] == [spool.home.states]


def test_a_full_disk_names_the_file_it_could_not_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTVD_FAULTS", "enospc:write")
    with pytest.raises(NoSpaceError, match="while writing state.json"):
        atomic.write_json(tmp_path / "state.json", {})


# -- ttvd.claim: a claim is taken once, kept while alive, and given back whole ---------------------

def _incoming(spool: Spool, job_id: str) -> Path:
    return spool.home.request("incoming", job_id)


def test_a_symlink_in_the_queue_is_set_aside_never_followed(spool: Spool, tmp_path: Path) -> None:
    job_id = spool.submit("A story.", "api").job_id
    elsewhere = tmp_path / "elsewhere.json"
    _incoming(spool, job_id).rename(elsewhere)
    _incoming(spool, job_id).symlink_to(elsewhere)
    assert claim(spool, job_id) is None
    assert spool.active_ids() == [] and not _incoming(spool, job_id).exists()
    assert [p.name.split(".")[0] for p in spool.home.queue("corrupt").iterdir()] == [job_id]
    assert json.loads(elsewhere.read_text())["job_id"] == job_id  # the target is left as it was


def test_a_request_locked_by_a_daemon_claiming_it_is_not_taken(spool: Spool) -> None:
    job_id = spool.submit("A story.", "api").job_id
    other = os.open(_incoming(spool, job_id), os.O_RDONLY)
    try:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the other daemon, between its lock and its rename
        assert claim(spool, job_id) is None
        assert spool.queued_ids() == [job_id]
    finally:
        os.close(other)
    assert claim(spool, job_id) is not None


def test_an_unreadable_request_fails_its_job_saying_so(spool: Spool) -> None:
    job_id = spool.submit("A story.", "api").job_id
    _incoming(spool, job_id).write_text("{not json")
    assert claim_next(spool) is None
    state = spool.read_state(job_id)
    assert state is not None and state.status is JobStatus.FAILED
    assert "request file could not be read" in (state.error or "")


def test_an_owner_record_is_never_written_through_a_symlink(spool: Spool, tmp_path: Path) -> None:
    job_id = spool.submit("A story.", "api").job_id
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    owner_mark(spool.home.request("active", job_id)).symlink_to(victim)
    held = claim(spool, job_id)
    assert held is not None and victim.read_text() == "keep me"
    held.finish("done")


class Stalled(Exception):
    """A call that blocked for longer than its test allows."""


def test_a_fifo_planted_as_an_owner_record_never_stalls_a_claim(spool: Spool) -> None:
    job_id = spool.submit("A story.", "api").job_id
    os.mkfifo(owner_mark(spool.home.request("active", job_id)))

    def stalled(signum: int, frame: Any) -> None:
        raise Stalled("the claim waited on the FIFO for a reader")  # not an OSError: nothing catches it

    previous = signal.signal(signal.SIGALRM, stalled)
    signal.alarm(5)
    try:
        held = claim(spool, job_id)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert held is not None
    held.finish("done")


def test_a_garbled_owner_record_leaves_the_claim_to_its_lease(spool: Spool) -> None:
    job_id = spool.submit("A story.", "api").job_id
    claim(spool, job_id).abandon()  # type: ignore[union-attr]
    owner_mark(spool.home.request("active", job_id)).write_bytes("hôte/ü 64768".encode("latin-1"))
    assert recover(spool, lease=3600) == [] and spool.active_ids() == [job_id]


def test_a_host_name_beyond_ascii_is_no_reason_to_fail_a_claim(spool: Spool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(claim_module, "_host", lambda: "hôte-été/boot")
    job_id = spool.submit("A story.", "api").job_id
    held = claim(spool, job_id)
    assert held is not None and owner_mark(held.path).read_bytes().startswith("hôte-été/boot ".encode())
    held.finish("done")


def test_a_stamp_of_another_daemon_on_the_lease_means_the_claim_is_lost(spool: Spool) -> None:
    job_id = spool.submit("A story.", "api").job_id
    held = claim(spool, job_id)
    assert held is not None and held.owned() and held.renew()
    os.utime(held.path, ns=(1, 1))  # take_back's first step, by another daemon
    assert not held.renew() and held.lost.is_set()
    held.abandon()


def test_a_claim_taken_back_is_lost_to_its_old_owner(spool: Spool) -> None:
    job_id = spool.submit("A story.", "api").job_id
    held = claim(spool, job_id)
    assert held is not None
    fd = os.open(held.path, os.O_RDONLY)
    try:
        assert take_back(spool, held.path, fd)
    finally:
        os.close(fd)
    assert not held.renew() and not held.owned()
    held.finish("done")  # the job is not the old owner's to file any more
    assert spool.queued_ids() == [job_id]


def test_the_lease_is_renewed_on_through_a_passing_filesystem_error(spool: Spool,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    job_id = spool.submit("A story.", "api").job_id
    held = claim(spool, job_id)
    assert held is not None
    calls: list[int] = []
    twice = threading.Event()

    def flaky() -> bool:
        calls.append(1)
        if len(calls) == 1:
            raise OSError(errno.EIO, "Input/output error")
        twice.set()
        return True

    monkeypatch.setattr(held, "renew", flaky)
    done = held.keep_renewed(interval=0.01)
    try:
        thread = next(t for t in threading.enumerate() if t.name == f"lease-{job_id[:8]}")
        assert thread.daemon  # never keeps a stopping process alive
        assert twice.wait(5)
    finally:
        done.set()
    held.abandon()


def test_leaving_a_claim_twice_closes_its_lock_once(spool: Spool) -> None:
    job_id = spool.submit("A story.", "api").job_id
    held = claim(spool, job_id)
    assert held is not None
    held.finish("done")
    held.abandon()
    held.release()
    os.fstat(1)  # no other descriptor was closed in its place
    assert spool.home.request("done", job_id).exists()


def test_take_back_requeues_a_byte_identical_copy(spool: Spool) -> None:
    job_id = spool.submit("A story with ü and 夜.", "api", {"title": "T"}).job_id
    original = _incoming(spool, job_id).read_bytes()
    claim(spool, job_id).abandon()  # type: ignore[union-attr]
    active = spool.home.request("active", job_id)
    fd = os.open(active, os.O_RDONLY)
    try:
        assert take_back(spool, active, fd)
    finally:
        os.close(fd)
    assert _incoming(spool, job_id).read_bytes() == original


@pytest.mark.parametrize("moved", ["gone", "replaced"])
def test_take_back_of_a_claim_that_left_or_was_replaced_does_nothing(spool: Spool, moved: str) -> None:
    job_id = spool.submit("A story.", "api").job_id
    claim(spool, job_id).abandon()  # type: ignore[union-attr]
    active = spool.home.request("active", job_id)
    fd = os.open(active, os.O_RDONLY)
    try:
        if moved == "gone":
            active.rename(spool.home.request("done", job_id))
        else:  # requeued by another daemon and claimed again: a new file in its place
            data = active.read_bytes()
            active.unlink()
            active.write_bytes(data)
        assert not take_back(spool, active, fd)
    finally:
        os.close(fd)
    assert spool.queued_ids() == []
    assert list(spool.home.queue("tmp").iterdir()) == []


def test_take_back_puts_back_a_live_claim_that_took_the_place_of_the_judged_one(
        spool: Spool, monkeypatch: pytest.MonkeyPatch) -> None:
    job_id = spool.submit("A story.", "api").job_id
    claim(spool, job_id).abandon()  # type: ignore[union-attr]
    active = spool.home.request("active", job_id)
    real = os.rename
    newcomer: list[int] = []

    def racing(src: Any, dst: Any) -> None:
        if Path(src) == active and not newcomer:  # between the check and the rename, a new claim lands
            data = active.read_bytes()
            active.unlink()
            active.write_bytes(data)
            newcomer.append(os.stat(active).st_ino)
        real(src, dst)

    fd = os.open(active, os.O_RDONLY)
    try:
        monkeypatch.setattr(os, "rename", racing)
        assert not take_back(spool, active, fd)
    finally:
        monkeypatch.undo()
        os.close(fd)
    assert os.stat(active).st_ino == newcomer[0] and spool.queued_ids() == []


def test_take_back_that_cannot_write_its_copy_leaves_the_claim_for_the_next_sweep(
        spool: Spool, monkeypatch: pytest.MonkeyPatch) -> None:
    job_id = spool.submit("A story.", "api").job_id
    claim(spool, job_id).abandon()  # type: ignore[union-attr]
    active = spool.home.request("active", job_id)
    monkeypatch.setenv("TTVD_FAULTS", "enospc:write")
    fd = os.open(active, os.O_RDONLY)
    try:
        with pytest.raises(NoSpaceError):
            take_back(spool, active, fd)
    finally:
        os.close(fd)
    assert spool.active_ids() == [job_id] and spool.queued_ids() == []
    assert list(spool.home.queue("tmp").iterdir()) == []


# -- ttvd.recovery: every sweep of a daemon's start and rescan -------------------------------------

def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then), follow_symlinks=False)


def _interrupted_submission(spool: Spool, age: float) -> str:
    """A job whose submitter died after writing its state, its request left in tmp/ ``age`` seconds ago."""
    job_id = spool.submit("A story.", "api").job_id
    tmp = spool.home.request("tmp", job_id)
    _incoming(spool, job_id).rename(tmp)
    _age(tmp, age)
    return job_id


def test_recovery_queues_an_interrupted_submission_once_its_submitter_had_time(spool: Spool) -> None:
    old = [_interrupted_submission(spool, 120) for _ in range(3)]
    young = _interrupted_submission(spool, 0)  # may still be on its way to the queue
    junk = spool.home.queue("tmp") / f"{new_id()}.json"  # not a request: left to clean_tmp
    junk.write_text("{torn")
    stateless = spool.home.queue("tmp") / f"{new_id()}.json"  # no state: not a submission ttvd made
    stateless.write_text(json.dumps({"job_id": stateless.stem, "text": "x"}))
    torn = [_interrupted_submission(spool, 120) for _ in range(2)]  # a state, but no request in the file
    for job_id in torn:
        spool.home.request("tmp", job_id).write_text('{"job_id": "')
    old.append(_interrupted_submission(spool, 120))
    for path in (junk, stateless, *(spool.home.request("tmp", job_id) for job_id in torn)):
        _age(path, 120)
    recover(spool)
    assert sorted(spool.queued_ids()) == sorted(old)
    assert sorted(p.name for p in spool.home.queue("tmp").iterdir()) == sorted(
        [f"{young}.json", junk.name, stateless.name, *(f"{job_id}.json" for job_id in torn)])


def _orphan(spool: Spool, age: float, queue: str | None = None, status: JobStatus = JobStatus.QUEUED) -> str:
    """A job last updated ``age`` seconds ago, its request in ``queue`` (None: in no queue)."""
    job_id = spool.submit("A story.", "api").job_id
    if queue is None:
        _incoming(spool, job_id).unlink()
    elif queue != "incoming":
        _incoming(spool, job_id).rename(spool.home.request(queue, job_id))
    state = spool.read_state(job_id)
    assert state is not None
    state.status, state.updated_at = status, time.time() - age
    spool.home.job(job_id).state.write_text(json.dumps(state.to_dict()))  # write_state would stamp it now
    return job_id


def test_recovery_fails_only_unfinished_jobs_whose_request_left_every_queue_a_lease_ago(spool: Spool) -> None:
    lost = [_orphan(spool, 3600) for _ in range(2)]
    kept = [_orphan(spool, 3600, "incoming"), _orphan(spool, 3600, "done"), _orphan(spool, 10),
            _orphan(spool, 3600, status=JobStatus.COMPLETED), _orphan(spool, 3600, "failed")]
    lost.append(_orphan(spool, 3600))
    corrupt = _orphan(spool, 3600, "incoming")  # a request set aside is kept as <id>.json.<ns>
    spool.set_aside(_incoming(spool, corrupt), "test")
    recover(spool, lease=120)
    for job_id in lost:
        state = spool.read_state(job_id)
        assert state is not None and state.status is JobStatus.FAILED, job_id
        assert "request file is missing from the spool" in (state.error or "")
    for job_id in [*kept, corrupt]:
        state = spool.read_state(job_id)
        assert state is not None and state.error is None, job_id


def test_an_orphans_state_that_went_bad_since_the_first_sweep_is_set_aside(spool: Spool) -> None:
    bad = [_orphan(spool, 3600) for _ in range(2)]
    lost = _orphan(spool, 3600)
    bad.append(_orphan(spool, 3600))
    for job_id in bad:
        spool.home.job(job_id).state.write_text("{torn")
    fail_orphans(spool, 120)
    assert not any(spool.home.job(job_id).state.exists() for job_id in bad)
    assert sorted(p.name.split(".")[0] for p in spool.home.queue("corrupt").iterdir()) == sorted(bad)
    state = spool.read_state(lost)
    assert state is not None and state.status is JobStatus.FAILED


def test_recovery_fails_the_job_of_a_state_that_cannot_be_read(spool: Spool) -> None:
    job_id = spool.submit("A story.", "watch").job_id
    spool.home.job(job_id).state.write_text('{"job_id": "trunc')
    recover(spool)
    state = spool.read_state(job_id)
    assert state is not None and state.status is JobStatus.FAILED and state.source == "watch"
    assert "state file could not be read" in (state.error or "") and "Unterminated string" in (state.error or "")


def test_recovery_sets_aside_a_symlink_among_claims_and_requeues_the_rest(spool: Spool, tmp_path: Path) -> None:
    active = spool.home.queue("active")
    target = tmp_path / "target.json"
    target.write_text("{}")
    links = []
    dead = []
    for index in range(4):  # links first and last, whatever order the directory lists them in
        if index in (0, 3):
            link = active / f"{new_id()}.json"
            link.symlink_to(target)
            links.append(link.stem)
        else:
            job_id = spool.submit("A story.", "api").job_id
            claim(spool, job_id).abandon()  # type: ignore[union-attr]
            dead.append(job_id)
    assert sorted(recover(spool)) == sorted(dead)
    assert sorted(p.name.split(".")[0] for p in spool.home.queue("corrupt").iterdir()) == sorted(links)
    assert target.read_text() == "{}"


def test_recovery_removes_owner_records_and_temporaries_left_long_ago_only(spool: Spool) -> None:
    active, tmp, output = spool.home.queue("active"), spool.home.queue("tmp"), spool.home.output
    live = spool.submit("A story.", "api").job_id
    held = claim(spool, live)
    assert held is not None
    _age(owner_mark(held.path), 3600)  # a long job's record: its claim is still there
    stale_mark, fresh_mark = active / f"{new_id()}.owner", active / f"{new_id()}.owner"
    stale_part, fresh_part = output / ".video_a.mp4.part", output / ".video_b.mp4.part"
    stale_dir = tmp / "left-by-hand"
    stale_dir.mkdir()
    for path in (stale_mark, fresh_mark, stale_part, fresh_part):
        path.write_text("x")
    for path in (stale_mark, stale_part, stale_dir):
        _age(path, 7200)
    recover(spool, lease=120, tmp_max_age=3600)
    assert owner_mark(held.path).exists() and fresh_mark.exists() and fresh_part.exists()
    assert not stale_mark.exists() and not stale_part.exists()
    assert stale_dir.exists()  # not a file: left alone, and the sweep went on
    held.finish("done")


# -- ttvd.job: the state file's record and its checks --------------------------------------------

def test_a_state_is_recorded_with_every_field_and_its_status_as_text() -> None:
    state = JobState.rejected(new_id(), "the file is empty", "watch", origin="story.txt")
    assert (state.status, state.source, state.origin, state.error) == (
        JobStatus.FAILED, "watch", "story.txt", "the file is empty")
    data = state.to_dict()
    assert set(data) == {f.name for f in dataclasses.fields(JobState)}
    assert type(data["status"]) is str and data["status"] == "failed"
    assert JobState.from_dict(json.loads(json.dumps(data))) == state


def test_a_retry_says_how_the_job_had_ended() -> None:
    state = JobState(new_id())
    state.cancel()
    state.retry()
    assert state.logs[-1].startswith("Queued again on request (it had cancelled)")


@pytest.mark.parametrize("field, value", [("created_at", True), ("updated_at", float("inf")),
                                          ("updated_at", "yesterday"), ("progress", True), ("logs", "x"),
                                          ("logs", [1]), ("stage", 5), ("credits", [1])])
def test_a_state_field_of_the_wrong_kind_is_refused_naming_it(field: str, value: Any) -> None:
    data = JobState(new_id()).to_dict() | {field: value}
    with pytest.raises(TypeError, match=f"state field '{field}' must be") as refused:
        JobState.from_dict(data)
    assert str(refused.value).endswith(f"not {json.dumps(value)}")


def test_a_state_that_is_no_object_or_has_no_id_is_refused_saying_why() -> None:
    with pytest.raises(TypeError, match="a job state is a JSON object, not list"):
        JobState.from_dict([])
    with pytest.raises(ValueError, match="a job state needs a job_id"):
        JobState.from_dict({"status": "queued"})
