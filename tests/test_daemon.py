"""The daemon in-process, stepped: real pipeline, tiny output, real files."""
import itertools
import threading
import time
import wave

import numpy as np
import pytest

from ttvd.daemon import Daemon
from ttvd.job import JobStatus
from ttvd.media import probe
from ttvd.pipeline import sound
from ttvd.timeline import Caption

from helpers import frame_at

TEXT = "The keeper climbed the stairs. She lit the lamp, and the light swept across the sea."


def drain(daemon: Daemon, limit: int = 20) -> int:
    for count in range(limit):
        if not daemon.step():
            return count
    raise AssertionError("the daemon never ran out of work")


@pytest.mark.slow
def test_a_queued_job_becomes_a_captioned_video(settings, spool):
    job_id = spool.submit(TEXT, "api").job_id
    assert drain(Daemon(settings, spool)) == 1

    state = spool.read_state(job_id)
    assert state.status is JobStatus.COMPLETED and state.progress == 100
    assert state.message == "Video generation completed"
    assert state.output_file == f"output/video_{job_id}.mp4" and state.attempts == 1
    expected = ["Starting audio generation...", "Audio generation completed", "Starting caption generation...",
                "Caption generation completed", "Starting search query generation...",
                "Search query generation completed", "Starting background video fetching...",
                "Background video fetching completed", "Starting video rendering...", "Video rendering completed",
                "Video generation completed"]
    assert [line for line in state.logs if line in expected] == expected
    assert (spool.home.queue("done") / f"{job_id}.json").exists() and spool.active_ids() == []

    video = spool.home.root / state.output_file
    with wave.open(str(spool.home.job(job_id).audio)) as wav:
        narration = wav.getnframes() / wav.getframerate()
    info = probe(video)
    assert (info.video_codec, info.pix_fmt, info.audio_codec) == ("h264", "yuv420p", "aac")
    assert (info.width, info.height, info.fps) == (180, 320, 10)
    _, length = sound.layout(narration, 10)  # the narration with its lead-in and tail
    assert abs(info.frames / 10 - length) <= 0.1  # within one frame
    assert not list(spool.home.output.glob(".*.part"))


@pytest.mark.slow
def test_captions_are_burned_in_while_words_are_spoken(settings, spool):
    job_id = spool.submit(TEXT, "api").job_id
    drain(Daemon(settings.replace(keep_work=True), spool))
    video = spool.home.job(job_id).video
    import json
    captions = [Caption.from_dict(c) for c in json.loads((spool.home.job(job_id).work / "captions.json").read_text())]
    band = slice(int(320 * 0.45), int(320 * 0.85))  # where two lines of captions sit
    for caption in captions:
        middle = (caption.start + caption.end) / 2
        frame = frame_at(video, middle)[band].astype(int)
        amber = (frame[..., 0] > 200) & (frame[..., 1] > 150) & (frame[..., 2] < 90)
        bright = (frame.min(axis=2) > 200).sum() + amber.sum()
        assert bright > 40, f"no caption pixels at {middle:.2f}s ({caption.text!r})"
    # the background moves: two frames a second apart differ outside the caption band
    def background(seconds: float) -> np.ndarray:
        frame = frame_at(video, seconds).astype(int)
        return np.concatenate([frame[:band.start], frame[band.stop:]])

    first, later = background(0.2), background(1.2)
    assert np.abs(first - later).mean() > 0.5
    assert first.std() > 1.0  # not a flat colour


def test_stage_failure_fails_the_job_with_the_stage_named(settings, spool):
    job_id = spool.submit(TEXT, "api").job_id
    drain(Daemon(settings.replace(voice="no-such-voice"), spool))
    state = spool.read_state(job_id)
    assert state.status is JobStatus.FAILED and state.stage == "speech"
    assert "no voice" in state.error and state.message.startswith("Failed at speech")
    assert (spool.home.queue("failed") / f"{job_id}.json").exists()


@pytest.mark.slow
def test_a_restarted_job_resumes_from_cached_stages(settings, spool):
    settings = settings.replace(keep_work=True)  # to run it again as if it had stopped
    job_id = spool.submit(TEXT, "api").job_id
    drain(Daemon(settings, spool))
    first = spool.home.job(job_id).video.read_bytes()
    # Run it again as if the daemon had died after the footage stage.
    (spool.home.queue("done") / f"{job_id}.json").rename(spool.home.queue("incoming") / f"{job_id}.json")
    (spool.home.job(job_id).work / "render.json").unlink()
    spool.home.job(job_id).video.unlink()
    drain(Daemon(settings, spool))
    state = spool.read_state(job_id)
    assert state.status is JobStatus.COMPLETED and state.attempts == 2
    assert "Reusing the speech result of an earlier attempt" in state.logs
    assert "Reusing the footage result of an earlier attempt" in state.logs
    assert spool.home.job(job_id).video.stat().st_size == pytest.approx(len(first), rel=0.05)


@pytest.mark.slow
def test_watch_folder_files_become_jobs(settings, spool):
    (spool.home.watch / "tale.txt").write_text("A short tale, told in the watch folder.")
    ticks = itertools.count(0.0, 0.25)  # time is injected: each look at the clock is a quarter second later
    daemon = Daemon(settings, spool, clock=lambda: next(ticks))
    drain(daemon)  # first sight
    drain(daemon)
    [state] = list(spool.states())
    assert state.source == "watch" and state.status is JobStatus.COMPLETED
    assert spool.home.job(state.job_id).video.exists()


def test_workers_run_jobs_at_the_same_time(settings, spool):
    """Two workers hold two jobs at once: each job waits for the other to be running too."""
    both_running = threading.Barrier(2, timeout=20)
    seen = []

    def runner(job):
        seen.append(threading.current_thread().name)
        both_running.wait()  # breaks (BrokenBarrierError, the job fails) unless both run at once
        job.output.write_bytes(b"video")
        return job.output

    ids = [spool.submit(f"Tale {n}.", "api").job_id for n in range(2)]
    daemon = Daemon(settings.replace(workers=2), spool, runner=runner)
    assert daemon.run(burst=True) == 0
    assert [spool.read_state(job_id).status for job_id in ids] == [JobStatus.COMPLETED] * 2
    assert sorted(seen) == ["ttvd-worker-1", "ttvd-worker-2"] and daemon.jobs_run == 2


def test_one_worker_runs_one_job_at_a_time(settings, spool):
    running, most = [], []

    def runner(job):
        running.append(job.job_id)
        most.append(len(running))
        time.sleep(0.2)
        running.remove(job.job_id)
        job.output.write_bytes(b"video")
        return job.output

    for n in range(3):
        spool.submit(f"Tale {n}.", "api")
    assert Daemon(settings, spool, runner=runner).run(burst=True) == 0
    assert most == [1, 1, 1]
