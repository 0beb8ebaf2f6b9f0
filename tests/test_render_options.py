"""Render options (settings and job options), encoder choice with fallback, and the render stage using them."""
from __future__ import annotations

import logging
import subprocess
import sys
import threading

import pytest

from ttvd import config, options, pipeline
from ttvd.errors import ConfigError
from ttvd.media import probe
from ttvd.pipeline import sound
from ttvd.pipeline.plan import resolve
from ttvd.render import encoders
from ttvd.timeline import Speech

from helpers import Recorder
from test_render import ENGINES, tiny_timeline


def test_valid_options_are_converted():
    assert options.validate({"engine": "moviepy", "aspect": "16:9", "height": "720", "fps": 24, "preset": "fast",
                             "crf": "20", "encoder": "h264_nvenc"}) == {
        "engine": "moviepy", "aspect": "16:9", "height": 720, "fps": 24, "preset": "fast", "crf": 20,
        "encoder": "h264_nvenc"}


def test_backend_and_render_options_are_checked_together():
    assert options.validate({"speech": "openai", "aspect": "1:1"}) == {"speech": "openai", "aspect": "1:1"}


@pytest.mark.parametrize("name, value, expected", [
    ("engine", "blender", "ffmpeg, moviepy"),
    ("aspect", "4:3", "9:16, 16:9, 1:1"),
    ("height", 721, "even"),
    ("height", 32, "64 to 4320"),
    ("height", True, "integer"),
    ("height", "tall", "integer"),
    ("fps", 0, "1 to 120"),
    ("crf", 52, "0 to 51"),
    ("crf", 22.5, "integer"),
    ("preset", "fastest", "veryfast"),
    ("encoder", "h264_magic", "libx264"),
    ("encoder", 5, "libx264"),
])
def test_invalid_option_names_the_option_and_the_rule(name, value, expected):
    with pytest.raises(ConfigError) as error:
        options.validate({name: value})
    assert f"Option {name!r}" in str(error.value) and expected in str(error.value)


def test_job_options_override_settings(settings):
    plan = resolve(settings, {"aspect": "16:9", "height": 720})
    assert (plan.width, plan.height) == (1280, 720) and plan.settings.aspect == "16:9"
    assert plan.engine == "ffmpeg" and plan.encoder["codec"] == "libx264" and plan.fps == 10
    assert options.frame_size("16:9", 720) == (1280, 720) and options.frame_size("1:1", 320) == (320, 320)


def test_settings_use_the_same_rules():
    assert config.load({"TTVD_ENGINE": "moviepy", "TTVD_ENCODER": "h264_qsv"}).engine == "moviepy"
    for name, bad in (("TTVD_ENGINE", "blender"), ("TTVD_ENCODER", "x265"), ("TTVD_PRESET", "fastest")):
        with pytest.raises(ConfigError, match=name):
            config.load({name: bad})


def test_api_side_modules_do_not_import_moviepy():
    code = ("import sys, ttvd.options, ttvd.api, ttvd.backends; "
            "assert 'moviepy' not in sys.modules and 'ttvd.render.ffmpeg' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_api_refuses_a_bad_render_option(client):
    status, body = client.json("POST", "/api/v1/generate", {"text": "Hello there.", "options": {"aspect": "4:3"}})
    assert status == 400 and "aspect" in body["error"] and set(body) == {"error"}
    status, body = client.json("POST", "/api/v1/generate",
                               {"text": "Hello there.", "options": {"engine": "moviepy", "height": 720}})
    assert status == 202


def test_unusable_hardware_encoder_falls_back_to_libx264(monkeypatch, caplog):
    monkeypatch.setattr(encoders, "probe", lambda codec: "Cannot load libcuda.so.1")
    with caplog.at_level(logging.WARNING, logger="ttvd.render.encoders"):
        assert encoders.choose({"codec": "h264_nvenc"}) == "libx264"
    assert "h264_nvenc is not usable here (Cannot load libcuda.so.1); falling back to libx264" in caplog.text


def test_usable_hardware_encoder_is_used(monkeypatch):
    monkeypatch.setattr(encoders, "probe", lambda codec: "")
    assert encoders.choose({"codec": "h264_nvenc"}) == "h264_nvenc"
    assert encoders.args("h264_nvenc", {"preset": "veryfast", "crf": 21})[:4] == ["-c:v", "h264_nvenc",
                                                                                "-preset", "p2"]


def test_real_probe_reports_why_an_encoder_fails():
    encoders.probe.cache_clear()
    assert encoders.probe("libx264") == ""
    # No GPU here or there: either way the answer is a reason or empty, never an exception.
    assert isinstance(encoders.probe("h264_nvenc"), str)


@pytest.mark.parametrize("name", ENGINES)
def test_render_with_unusable_encoder_still_makes_the_video(sources, tmp_path, monkeypatch, name):
    monkeypatch.setattr(encoders, "probe", lambda codec: "no such device")
    output = tmp_path / "out.mp4"
    pipeline_engine = __import__("ttvd.render", fromlist=["engine"]).engine(name)
    pipeline_engine(tiny_timeline(sources, duration=2.0, codec="h264_nvenc"), output, tmp_path)
    info = probe(output)
    assert info.video_codec == "h264" and info.frames == 20


@pytest.mark.parametrize("name", ENGINES)
def test_render_stage_follows_the_job_options(settings, sources, tmp_path, name):
    timeline = tiny_timeline(sources, duration=3.0)
    reporter = Recorder()
    job = pipeline.Job("0" * 32, "text", settings, tmp_path / "work", tmp_path / "a.wav", tmp_path / "video.mp4",
                       reporter, options={"engine": name, "aspect": "1:1", "height": 240, "fps": 12})
    job.work.mkdir()
    speech = Speech(timeline.audio, 3.0, [w for c in timeline.captions for w in c.words])
    pipeline._render(job, resolve(job.settings, job.options), speech, timeline.captions, timeline.clips)
    info = probe(job.output)
    _, length = sound.layout(3.0, 12)  # the narration, with its lead-in and tail
    assert (info.width, info.height, info.fps, info.frames) == (240, 240, 12, round(length * 12))
    assert any(f"with the {name} engine" in line for line in reporter.lines)
    assert reporter.percents and reporter.percents == sorted(reporter.percents)
    assert all(90 < p <= 99 for p in reporter.percents)
    assert not list(job.output.parent.glob(".*.part"))


def test_render_stage_cancel_leaves_no_video(settings, sources, tmp_path):
    from ttvd.errors import Cancelled

    timeline = tiny_timeline(sources, duration=4.0)
    job = pipeline.Job("0" * 32, "text", settings, tmp_path / "work", tmp_path / "a.wav", tmp_path / "video.mp4",
                       Recorder(), cancel=threading.Event())
    job.work.mkdir()
    job.cancel.set()
    speech = Speech(timeline.audio, 4.0, [])
    with pytest.raises(Cancelled):
        pipeline._render(job, resolve(job.settings, job.options), speech, timeline.captions, timeline.clips)
    assert not job.output.exists() and not list(tmp_path.glob(".*.part"))
