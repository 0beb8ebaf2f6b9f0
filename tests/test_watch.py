import io
import itertools
import json
import os

import pytest
from PIL import Image

from ttvd.claim import claim
from ttvd.cli.main import main as run_cli
from ttvd.daemon import Daemon
from ttvd.job import JobStatus
from ttvd.text import decode_text
from ttvd.watch import WatchFolder, wanted

CURLY = "He said “hello” to the café owner — twice."


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def folder(spool, clock):
    return WatchFolder(spool, settle=1.0, validate=lambda data: decode_text(data, 1000), clock=clock)


def test_file_is_taken_once_it_stops_changing(spool):
    clock = Clock()
    watch = folder(spool, clock)
    (spool.home.watch / "story.txt").write_text("Once upon a time.")
    assert watch.scan() == []            # first sight
    clock.now += 0.5
    assert watch.scan() == []            # not settled yet
    clock.now += 1.0
    [job_id] = watch.scan()
    state = spool.read_state(job_id)
    assert state.source == "watch" and state.origin == "story.txt" and state.status is JobStatus.QUEUED
    assert not (spool.home.watch / "story.txt").exists()
    assert (spool.home.watch / "processed" / f"{job_id}.txt").read_text() == "Once upon a time."
    clock.now += 5
    assert watch.scan() == []            # exactly one job


def test_growing_file_waits_until_complete(spool):
    clock = Clock()
    watch = folder(spool, clock)
    path = spool.home.watch / "slow.txt"
    with open(path, "w") as handle:
        for part in ("One. ", "Two. ", "Three."):
            handle.write(part)
            handle.flush()
            os.utime(path, ns=(int(clock.now * 1e9), int(clock.now * 1e9)))
            assert watch.scan() == []
            clock.now += 0.8
    clock.now += 1.5  # unchanged for longer than the settle time since it was last seen growing
    [job_id] = watch.scan()
    assert (spool.home.watch / "processed" / f"{job_id}.txt").read_text() == "One. Two. Three."


def test_open_writer_holds_the_file_until_closed(spool):
    clock = Clock()
    watch = folder(spool, clock)
    (spool.home.watch / "held.txt").write_text("Still writing")
    watch.note_event("held.txt", writing=True)
    watch.scan()
    clock.now += 30
    assert watch.scan() == []
    watch.note_event("held.txt", writing=False)
    assert len(watch.scan()) == 1


def test_bad_files_become_failed_jobs_and_are_kept(spool):
    clock = Clock()
    watch = folder(spool, clock)
    (spool.home.watch / "empty.txt").write_bytes(b"")
    (spool.home.watch / "binary.txt").write_bytes(b"\x00\x01\x02garbage")
    (spool.home.watch / "notes.md").write_text("not a .txt file")
    watch.scan()
    clock.now += 2
    ids = watch.scan()
    assert len(ids) == 2
    reasons = sorted(spool.read_state(i).message for i in ids)
    assert reasons == ["binary.txt: the file looks like binary data, not text; save the story as plain text (UTF-8) "
                       "and try again", "empty.txt: the file is empty"]
    assert sorted(p.read_bytes() for p in (spool.home.watch / "failed").iterdir()) == [b"", b"\x00\x01\x02garbage"]
    assert (spool.home.watch / "notes.md").exists()
    assert spool.queued_ids() == []


def test_hostile_names_and_non_files_are_handled(spool):
    clock = Clock()
    watch = folder(spool, clock)
    (spool.home.watch / "new\nline ünï.txt").write_text("A strange name.")
    (spool.home.watch / "dir.txt").mkdir()
    os.symlink("/etc/hostname", spool.home.watch / "link.txt")
    watch.scan()
    clock.now += 2
    [job_id] = watch.scan()
    assert spool.read_state(job_id).origin == "new?line ünï.txt"
    assert (spool.home.watch / "dir.txt").is_dir() and (spool.home.watch / "link.txt").is_symlink()


def test_entries_that_are_not_files_are_never_pending(spool):
    clock = Clock()
    watch = folder(spool, clock)
    (spool.home.watch / "dir.txt").mkdir()
    os.symlink("/etc/hostname", spool.home.watch / "link.txt")
    for _ in range(3):
        watch.scan()
        clock.now += 2
    assert watch.pending() == 0  # so `ttvd daemon --burst` can finish


def settled(watch, clock) -> list[str]:
    """Scan twice, the settle time apart: every file already in the folder is taken."""
    watch.scan()
    clock.now += 2
    return watch.scan()


@pytest.mark.parametrize("name", ["STORY.TXT", "Story.Txt", "story.tXt"])
def test_txt_in_any_case_becomes_a_job(spool, name):
    clock = Clock()
    watch = folder(spool, clock)
    (spool.home.watch / name).write_text("Shouted names are stories too.")
    [job_id] = settled(watch, clock)
    assert spool.read_state(job_id).origin == name
    assert (spool.home.watch / "processed" / f"{job_id}.txt").read_text() == "Shouted names are stories too."


def test_the_event_filter_takes_the_same_names_as_the_scan():
    assert [n for n in ("a.txt", "B.TXT", "c.Txt", ".hidden.TXT", "d.txt.part", "e.md", "txt") if wanted(n)] == [
        "a.txt", "B.TXT", "c.Txt"]


def test_a_legacy_encoding_is_read_and_said_in_the_jobs_logs(spool):
    clock = Clock()
    watch = folder(spool, clock)
    (spool.home.watch / "story.txt").write_bytes(CURLY.encode("cp1252"))
    (spool.home.watch / "utf16.txt").write_bytes(b"\xff\xfe" + CURLY.encode("utf-16-le"))
    (spool.home.watch / "plain.txt").write_bytes(CURLY.encode())
    by_origin = {spool.read_state(i).origin: i for i in settled(watch, clock)}
    for name, note in (("story.txt", "read story.txt as cp1252"), ("utf16.txt", "read utf16.txt as utf-16-le"),
                       ("plain.txt", None)):
        job_id = by_origin[name]
        request = json.loads(spool.home.request("incoming", job_id).read_text(encoding="utf-8"))
        assert request["text"] == CURLY
        assert spool.read_state(job_id).logs == ([note] if note else [])
        assert spool.read_state(job_id).status is JobStatus.QUEUED
    assert sorted(spool.queued_ids()) == sorted(by_origin.values())  # each is back in the queue after its note


def test_a_job_a_daemon_already_runs_gets_no_note(spool):
    clock = Clock()
    watch = folder(spool, clock)
    state = spool.submit(CURLY, "watch", origin="story.txt")
    taken = claim(spool, state.job_id)  # a daemon has it: its state is the daemon's to write
    watch._note(state.job_id, "read story.txt as cp1252")
    assert spool.read_state(state.job_id).logs == []
    taken.release()


def test_a_binary_file_is_refused_naming_it(spool):
    clock = Clock()
    watch = folder(spool, clock)
    png = io.BytesIO()
    Image.new("RGB", (8, 8), "blue").save(png, "PNG")
    (spool.home.watch / "Photo.TXT").write_bytes(png.getvalue())
    (spool.home.watch / "tale.txt").write_bytes("これは短い物語です。".encode("shift_jis") * 3)
    states = {spool.read_state(i).origin: spool.read_state(i) for i in settled(watch, clock)}
    assert states["Photo.TXT"].status is JobStatus.FAILED
    assert states["Photo.TXT"].error.startswith("Photo.TXT: the file looks like binary data (a PNG image), not text")
    assert states["tale.txt"].error.endswith("iconv -f CP932 -t UTF-8 tale.txt > tale.utf8.txt")  # named in the hint
    assert sorted(p.read_bytes()[:4] for p in (spool.home.watch / "failed").iterdir()) == sorted(
        [png.getvalue()[:4], "これ".encode("shift_jis")])


def test_jobs_lists_the_watched_file_a_job_came_from(spool, capsys):
    clock = Clock()
    watch = folder(spool, clock)
    (spool.home.watch / "STORY.TXT").write_text("Where is my video?")
    [job_id] = settled(watch, clock)
    assert run_cli(["--home", str(spool.home.root), "jobs"]) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith(job_id) and line.endswith("(from STORY.TXT)")


@pytest.mark.slow
def test_a_cp1252_file_in_capitals_becomes_a_video_through_the_daemon(settings, spool):
    (spool.home.watch / "STORY.TXT").write_bytes(CURLY.encode("cp1252"))
    ticks = itertools.count(0.0, 0.25)  # time is injected: each look at the clock is a quarter second later
    daemon = Daemon(settings, spool, clock=lambda: next(ticks))
    for _ in range(3):  # first sight, settled and taken, run
        daemon.step()
    [state] = list(spool.states())
    assert state.origin == "STORY.TXT" and state.status is JobStatus.COMPLETED
    assert state.logs[:2] == ["read STORY.TXT as cp1252", "Processing started (attempt 1)"]
    request = json.loads(spool.home.request("done", state.job_id).read_text(encoding="utf-8"))
    assert request["text"] == CURLY
    assert spool.home.job(state.job_id).video.exists()
