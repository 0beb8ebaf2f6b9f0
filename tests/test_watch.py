import os

from ttvd.job import JobStatus
from ttvd.text import decode_text
from ttvd.watch import WatchFolder


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
    assert reasons == ["binary.txt: the file is binary, not text", "empty.txt: the file is empty"]
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
