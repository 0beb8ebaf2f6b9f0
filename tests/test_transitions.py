"""Transitions in the ffmpeg engine: exact length, the frames around each cut, and runs joined across one.

Three clips of one flat colour each (two stills and a video) make every transition measurable: a
crossfade frame is the mean of the two colours, a slide frame shows one colour on each side.
"""
from __future__ import annotations

import subprocess
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ttvd.media import ffmpeg_exe, probe
from ttvd.render import ffmpeg
from ttvd.render.fonts import find_font
from ttvd.timeline import Clip, Style, Timeline

from helpers import frame_at, make_video

W, H, FPS = 180, 320, 10
SECONDS = 3.0
CUTS = (1.2, 2.1)   # clip starts: frames 12 and 21
RED, BLUE, GREEN = (170, 40, 40), (40, 40, 170), (40, 150, 40)
LEAD = round(ffmpeg.TRANSITION_SECONDS * FPS)  # 4 frames: a transition into frame 12 covers frames 8..11


@pytest.fixture(scope="module")
def timeline_of(tmp_path_factory):
    folder = tmp_path_factory.mktemp("transitions")
    red, blue = folder / "red.png", folder / "blue.png"
    Image.new("RGB", (240, 400), RED).save(red)
    Image.new("RGB", (240, 400), BLUE).save(blue)
    green = make_video(folder / "green.mp4", 3, colour="0x{:02x}{:02x}{:02x}".format(*GREEN))
    audio = folder / "tone.wav"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"sine=frequency=300:sample_rate=48000:duration={SECONDS}", str(audio)], check=True)
    clips = [Clip(0.0, CUTS[0], "image", str(red), params={"seed": 0}),
             Clip(CUTS[0], CUTS[1], "image", str(blue), params={"seed": 1}),
             Clip(CUTS[1], SECONDS, "video", str(green))]
    style = Style(*find_font(), 20, max_line_chars=14, margin_v=60)

    def make(transition: str) -> Timeline:
        return Timeline(str(audio), SECONDS, W, H, FPS, clips, [], style,
                        encoder={"preset": "ultrafast", "crf": 12}, transition=transition)
    return make


@pytest.fixture(scope="module")
def rendered(timeline_of, tmp_path_factory) -> dict[str, Path]:
    outputs = {}
    for name in ("none", *ffmpeg.TRANSITIONS):
        work = tmp_path_factory.mktemp(name)
        outputs[name] = work / "out.mp4"
        ffmpeg.render(timeline_of(name), outputs[name], work)
    return outputs


def colour_at(video: Path, frame: int, x: slice = slice(None)) -> np.ndarray:
    """Mean RGB of frame number ``frame`` (between columns ``x``)."""
    return frame_at(video, frame / FPS)[:, x].reshape(-1, 3).mean(axis=0)


def near(measured: np.ndarray, expected, tolerance: float = 8) -> bool:
    return bool(np.abs(measured - np.asarray(expected, dtype=float)).max() <= tolerance)


@pytest.mark.parametrize("name", ["none", *ffmpeg.TRANSITIONS])
def test_every_transition_keeps_the_exact_length_and_frame_count(rendered, name):
    info = probe(rendered[name])
    assert info.frames == round(SECONDS * FPS)
    assert abs(info.duration - SECONDS) < 0.05


@pytest.mark.parametrize("name", ffmpeg.TRANSITIONS)
def test_a_transition_changes_only_the_frames_just_before_each_cut(rendered, name):
    for cut in CUTS:
        start = round(cut * FPS)
        for frame in (start - LEAD - 2, start - LEAD - 1, start, start + 2):  # before the transition, and after it
            assert near(colour_at(rendered[name], frame), colour_at(rendered["none"], frame), 4), (cut, frame)
        middle = start - LEAD // 2
        assert not near(colour_at(rendered[name], middle), colour_at(rendered["none"], middle), 15), (cut, middle)


def test_a_fade_frame_is_a_blend_of_both_clips(rendered):
    start = round(CUTS[0] * FPS)
    steps = [colour_at(rendered["fade"], start - LEAD + k) for k in range(LEAD)]
    assert near(steps[LEAD // 2], np.add(RED, BLUE) / 2)          # the middle frame: half and half
    assert all(b[2] > a[2] + 10 for a, b in pairwise(steps))  # blue rises frame by frame
    assert near(colour_at(rendered["fade"], round(CUTS[1] * FPS) - LEAD // 2), np.add(BLUE, GREEN) / 2)


def test_a_slide_pushes_the_clip_before_out_to_the_left(rendered):
    middle = round(CUTS[0] * FPS) - LEAD // 2
    left, right = (colour_at(rendered["slide"], middle, columns) for columns in (slice(0, 20), slice(-20, None)))
    assert near(left, RED) and near(right, BLUE)


def test_a_transition_across_runs_is_drawn_as_in_one_pass(timeline_of, rendered, tmp_path, monkeypatch):
    """One clip per run: each run draws the transition into the next run's first clip."""
    monkeypatch.setattr(ffmpeg, "CHUNK_CLIPS", 1)
    output = tmp_path / "runs.mp4"
    ffmpeg.render(timeline_of("fade"), output, tmp_path)
    assert probe(output).frames == round(SECONDS * FPS)
    for cut in CUTS:
        start = round(cut * FPS)
        for frame in range(start - LEAD - 1, start + 2):
            assert near(colour_at(output, frame), colour_at(rendered["fade"], frame), 3), (cut, frame)


def test_a_transition_never_outlasts_the_clip_it_leaves(timeline_of):
    timeline = timeline_of("fade")
    blue, green = timeline.clips[1:]
    timeline.clips = [Clip(0.0, 0.2, "generated", params={}), Clip(0.2, blue.end, blue.kind, blue.source), green]
    pieces = ffmpeg.pieces(timeline)
    assert [p.lead for p in pieces] == [0, 2, LEAD]
    assert sum(p.frames for p in pieces) == round(SECONDS * FPS)
