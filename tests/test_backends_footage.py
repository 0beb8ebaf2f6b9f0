"""Footage backends: Pexels over real HTTP to the stand-in, the shared cache, the media folder, the planner."""
from __future__ import annotations

import json
from itertools import pairwise

import pytest

from ttvd import pipeline
from ttvd.backends.pexels import pick_file
from ttvd.errors import StageError
from ttvd.pipeline.footage import plan_footage
from ttvd.pipeline.plan import resolve
from ttvd.timeline import Passage

from helpers import frame_at, make_image, make_video
from standins import PEXELS_KEY
from standins.fixtures import files_containing, make_job, online_env

PASSAGES = [Passage(0.0, 3.0, "calm sea", ["ocean"]), Passage(3.0, 6.5, "trees", ["nothing here", "forest"]),
            Passage(6.5, 9.0, "sand", ["desert"]), Passage(9.0, 12.0, "lights", ["city"])]


def _files(*sizes):
    return [{"id": i, "file_type": "video/mp4", "width": w, "height": h, "link": f"http://x/{w}x{h}.mp4"}
            for i, (w, h) in enumerate(sizes)]


def _footage(job, passages=PASSAGES):
    return pipeline._footage(job, resolve(job.settings, job.options), passages)


def _covered(clips, passages=PASSAGES):
    """Clips tile 0..end with no gap or overlap."""
    assert clips[0].start == passages[0].start and clips[-1].end == passages[-1].end
    assert all(a.end == b.start for a, b in pairwise(clips))
    return True


# -- choosing a file -------------------------------------------------------------------------------------

def test_pick_file_takes_the_smallest_that_covers_the_frame_at_its_aspect():
    files = _files((360, 640), (720, 1280), (1080, 1920), (2160, 3840))
    assert pick_file(files, 1080, 1920)["width"] == 1080
    assert pick_file(files, 180, 320)["width"] == 360
    assert pick_file(_files((1920, 1080), (3840, 2160)), 1080, 1920)["width"] == 3840  # crop must reach 1920 tall
    assert pick_file(_files((640, 360), (1280, 720)), 1280, 720)["width"] == 1280


def test_pick_file_prefers_the_output_orientation_and_never_upscales_when_it_can_avoid_it():
    mixed = _files((1920, 1080), (1080, 1920), (2160, 3840))
    assert (pick_file(mixed, 1080, 1920)["width"], pick_file(mixed, 1080, 1920)["height"]) == (1080, 1920)
    assert pick_file(mixed, 1920, 1080)["height"] == 1080
    assert pick_file(_files((180, 320), (360, 640)), 1080, 1920)["width"] == 360  # none covers: the biggest
    assert pick_file([{"width": 10, "height": 10}], 100, 100) is None  # no link


# -- Pexels over HTTP ------------------------------------------------------------------------------------

def test_pexels_clips_portrait_files_credits_recorded(home, pexels_standin):
    job = make_job(home, "x", online_env(pexels=pexels_standin))
    clips = _footage(job)
    assert _covered(clips) and all(c.kind == "video" and c.params["source"] == "pexels" for c in clips)
    ids = [c.params["id"] for c in clips]
    assert ids == [1001, 1003, 1005, 1004]  # no repeats within a job: test_contract_footage.py
    sizes = [(c.params["width"], c.params["height"]) for c in clips]
    assert sizes == [(180, 320), (180, 320), (640, 360), (180, 320)]  # the desert exists only in landscape
    searches = pexels_standin.requests("search")
    assert all(r["authorised"] for r in searches)
    wanted = {"query": "ocean", "orientation": "portrait", "per_page": "30", "page": "1"}
    assert wanted in [r["query"] for r in searches]
    assert any(r["query"]["query"] == "nothing here" for r in searches)  # the next query was tried
    log = job.reporter.text()
    assert "Pexels video 1003 by Cy Forest (https://www.pexels.com/video/forest-trees-1003/)" in log


def test_landscape_output_gets_landscape_files(home, pexels_standin):
    job = make_job(home, "x", online_env(pexels=pexels_standin, TTVD_ASPECT="16:9", TTVD_HEIGHT="180"))
    clips = _footage(job, [Passage(0, 3, "a", ["forest"]), Passage(3, 6, "b", ["city"])])
    assert [(c.params["id"], c.params["width"], c.params["height"]) for c in clips] == [(1008, 320, 180),
                                                                                        (1009, 320, 180)]


def test_a_jobs_aspect_option_chooses_the_orientation(home, pexels_standin):
    job = make_job(home, "x", online_env(pexels=pexels_standin), options={"aspect": "16:9", "height": "180"})
    clips = _footage(job, [Passage(0, 3, "a", ["forest"])])
    assert (clips[0].params["id"], clips[0].params["width"]) == (1008, 320)
    assert pexels_standin.requests("search")[0]["query"]["orientation"] == "landscape"


def test_second_job_reuses_the_shared_cache(home, pexels_standin):
    first = _footage(make_job(home, "x", online_env(pexels=pexels_standin)))
    downloads = len(pexels_standin.log()["extra"]["downloads"])
    assert downloads == len(first)
    second = _footage(make_job(home, "x", online_env(pexels=pexels_standin)))
    assert len(pexels_standin.log()["extra"]["downloads"]) == downloads
    assert [c.source for c in second] == [c.source for c in first]
    assert all(c.params["cached"] for c in second)
    assert all(str(home / "cache" / "footage") in c.source for c in first)


def test_shorter_videos_are_not_used_for_longer_passages(home, pexels_standin):
    job = make_job(home, "x", online_env(pexels=pexels_standin))
    clips = _footage(job, [Passage(0, 5, "a", ["short"]), Passage(5, 6.5, "b", ["short"])])
    assert clips[0].kind == "generated" and clips[1].params["id"] == 1007


def test_rejected_key_fails_the_footage_stage(home, pexels_standin):
    env = online_env(pexels=pexels_standin)
    env["PEXELS_API_KEY"] = "wrong-key"
    job = make_job(home, "The ocean was calm.", {**env, "TTVD_QUERIES": "keywords"})
    with pytest.raises(StageError) as failure:
        pipeline.run(job)
    assert failure.value.stage == "footage"
    assert str(failure.value) == "Pexels rejected the API key (HTTP 401)"


@pytest.mark.parametrize("fault", [{"status": 502, "times": -1}, {"status": 429, "times": -1, "retry_after": "0"},
                                   {"delay": 1.5, "times": -1}])
def test_search_down_falls_back_to_generated_with_a_log_line(home, pexels_standin, fault):
    pexels_standin.faults(search=fault)
    job = make_job(home, "x", online_env(pexels=pexels_standin, TTVD_HTTP_TIMEOUT="0.5"))
    clips = _footage(job)
    assert _covered(clips) and all(c.kind == "generated" for c in clips)
    assert len(pexels_standin.requests("search")) == 3  # tried, retried twice, then given up for the job
    assert "Pexels search failed after 3 attempts" in job.reporter.text()


def test_rate_limit_honours_retry_after_then_succeeds(home, pexels_standin):
    pexels_standin.faults(search={"status": 429, "times": 1, "retry_after": "0.1"})
    job = make_job(home, "x", online_env(pexels=pexels_standin))
    clips = _footage(job, PASSAGES[:1])
    assert clips[0].params["id"] == 1001


def test_download_failures_and_size_cap_skip_to_the_next_video(home, pexels_standin):
    job = make_job(home, "x", online_env(pexels=pexels_standin, TTVD_DOWNLOAD_MAX_BYTES="1000"))
    clips = _footage(job, PASSAGES[:1])
    assert clips[0].kind == "generated"  # every file is over the cap
    assert not list((home / "cache" / "footage").glob("*.mp4"))  # nothing partial was kept
    pexels_standin.faults(files={"status": 404, "times": 1})
    job = make_job(home, "x", online_env(pexels=pexels_standin))
    clips = _footage(job, PASSAGES[:1])
    assert clips[0].params["id"] == 1002  # the first video's file was gone: the next one


# -- the media folder ------------------------------------------------------------------------------------

def test_media_folder_matches_names_and_tags_and_fills_the_rest(home, tmp_path):
    media = tmp_path / "media"
    media.mkdir()
    make_video(media / "Ocean-Waves.mp4", 1.5)
    make_video(media / "clip7.mp4", 5)
    (media / "clip7.tags").write_text("woodland, Forest\n")
    make_image(media / "desert_dunes.jpg")
    (media / "notes.txt").write_text("not media")
    job = make_job(home, "x", {"TTVD_MEDIA_DIR": str(media)})
    clips = _footage(job)
    assert _covered(clips)
    kinds = [(c.kind, c.params.get("file")) for c in clips]
    assert kinds == [("video", "Ocean-Waves.mp4"), ("generated", None), ("video", "clip7.mp4"),
                     ("image", "desert_dunes.jpg"), ("generated", None)]
    assert clips[0].end == 1.5  # the clip covers what it can; a generated background the rest
    assert clips[3].params["motion"] == "pan_zoom"
    assert "media folder file clip7.mp4" in job.reporter.text()


def test_media_folder_comes_before_pexels(home, tmp_path, pexels_standin):
    media = tmp_path / "media"
    media.mkdir()
    make_video(media / "city.mp4", 4)
    job = make_job(home, "x", online_env(pexels=pexels_standin, TTVD_MEDIA_DIR=str(media)))
    clips = _footage(job)
    assert [c.params.get("source") for c in clips] == ["pexels", "pexels", "pexels", "media"]


def test_missing_media_folder_is_a_clear_error(home, tmp_path):
    job = make_job(home, "x", {"TTVD_MEDIA_DIR": str(tmp_path / "nope")})
    with pytest.raises(Exception, match="TTVD_MEDIA_DIR"):
        _footage(job)


def test_planner_never_leaves_gaps_with_no_sources():
    clips = plan_footage(PASSAGES, [], "a" * 32)
    assert _covered(clips) and len(clips) == len(PASSAGES)


def test_no_key_reaches_any_file(home, pexels_standin):
    job = make_job(home, "x", online_env(pexels=pexels_standin))
    _footage(job)
    assert not files_containing(home, PEXELS_KEY.encode())
    assert json.dumps([c.params for c in _footage(job, PASSAGES[:1])]).find(PEXELS_KEY) == -1


@pytest.mark.slow
def test_offline_job_renders_the_media_folder_stills_and_clips(home, tmp_path):
    media = tmp_path / "media"
    media.mkdir()
    make_image(media / "old-lighthouse.jpg")
    make_video(media / "boats.mp4", 8, colour="0x2040c0")
    text = ("The old lighthouse stood on the rocks for a hundred years. "
            "Down below, the boats rocked gently in the harbour at night.")
    job = make_job(home, text, {"TTVD_MEDIA_DIR": str(media)})
    pipeline.run(job)
    clips = json.loads((job.work / "footage.json").read_text())
    assert {c["kind"] for c in clips} >= {"image", "video"}
    assert clips[0]["start"] == 0 and all(a["end"] == b["start"] for a, b in pairwise(clips))
    for clip in clips:
        if clip["kind"] in ("image", "video"):
            frame = frame_at(job.output, (clip["start"] + clip["end"]) / 2).astype(int)
            expected = [255, 0, 0] if clip["kind"] == "image" else [32, 64, 192]
            assert abs(frame[:40, 90] - expected).max(axis=1).mean() < 40
