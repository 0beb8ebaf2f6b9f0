"""Both render engines over one tiny Timeline: same size, rate, length, captions in the same places."""
from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

from ttvd import render
from ttvd.errors import Cancelled
from ttvd.media import ffmpeg_exe, probe
from ttvd.render.fonts import find_font
from ttvd.timeline import Caption, Clip, Style, Timeline, Word

from helpers import frame_at

W, H, FPS = 180, 320, 10
DARK = ["0x0b132b", "0x1c2541", "0x3a506b"]
ENGINES = ["ffmpeg", "moviepy"]
# (start, end) of the two captions; the gap between them shows the bare background.
CAPTIONS = ((0.2, 1.2), (2.1, 3.3))
GAP = 1.65


def _caption(start: float, end: float, text: str) -> Caption:
    words = text.split()
    step = (end - start) / len(words)
    return Caption(start, end, [text],
                   [Word(w, round(start + i * step, 3), round(start + (i + 1) * step, 3)) for i, w in enumerate(words)])


def tiny_timeline(sources: dict[str, Path], duration: float = 4.0, **encoder) -> Timeline:
    font_file, font_name = find_font()
    clips = [Clip(0.0, 1.4, "generated", params={"type": "radial", "colours": DARK, "speed": 0.6, "seed": 3}),
             Clip(1.4, 2.6, "image", str(sources["still"]), params={"seed": 1}),
             Clip(2.6, duration, "video", str(sources["video"]), in_point=0.5)]
    captions = [_caption(*CAPTIONS[0], "HELLO BIG WORLD"), _caption(*CAPTIONS[1], "SECOND LINE HERE")]
    style = Style(font_file, font_name, 20, max_line_chars=14, margin_v=60)
    return Timeline(str(sources["audio"]), duration, W, H, FPS, clips, captions, style,
                    encoder={"preset": "ultrafast", "crf": 23, **encoder})


def caption_pixels(frame: np.ndarray) -> int:
    """Bright pixels in the band above the bottom margin where captions sit (backgrounds are dark)."""
    band = frame[H - 60 - 40:H - 60 + 5].astype(int)
    return int(((band.min(axis=2) > 170) | ((band[..., 0] > 200) & (band[..., 1] > 170))).sum())


@pytest.fixture(scope="module")
def rendered(sources, tmp_path_factory) -> dict[str, Path]:
    outputs = {}
    for name in ENGINES:
        work = tmp_path_factory.mktemp(name)
        outputs[name] = work / "out.mp4"
        render.engine(name)(tiny_timeline(sources), outputs[name], work)
    return outputs


@pytest.mark.parametrize("name", ENGINES)
def test_engine_output_has_the_timeline_size_rate_length_and_streams(rendered, name):
    info = probe(rendered[name])
    assert (info.width, info.height, info.fps) == (W, H, FPS)
    assert info.video_codec == "h264" and info.pix_fmt == "yuv420p" and info.audio_codec == "aac"
    assert info.frames == 4 * FPS
    assert abs(info.duration - 4.0) < 0.1


def test_engines_agree_on_size_duration_and_frames(rendered):
    a, b = probe(rendered["ffmpeg"]), probe(rendered["moviepy"])
    assert (a.width, a.height, a.fps, a.frames) == (b.width, b.height, b.fps, b.frames)
    assert abs(a.duration - b.duration) < 0.05


@pytest.mark.parametrize("name", ENGINES)
def test_captions_burned_in_at_caption_times_only(rendered, name):
    for start, end in CAPTIONS:
        assert caption_pixels(frame_at(rendered[name], (start + end) / 2)) > 40, f"no caption at {start}"
    assert caption_pixels(frame_at(rendered[name], GAP)) < 5


@pytest.mark.parametrize("name", ENGINES)
def test_still_pans_slowly(rendered, name):
    first, later = frame_at(rendered[name], 1.5), frame_at(rendered[name], 2.5)
    top = slice(0, 150)  # above the captions
    difference = np.abs(first[top].astype(int) - later[top].astype(int)).mean()
    assert 0.2 < difference < 20, difference


def test_generated_backgrounds_of_many_jobs_all_move_and_fill_the_frame(sources, tmp_path):
    """Sixteen jobs' first backgrounds: each changes within a second and has no large flat area."""
    from ttvd.pipeline.footage import generated_clip

    seconds = 1.2
    clips = [generated_clip(f"{index:032x}", 0, index * seconds, (index + 1) * seconds) for index in range(16)]
    duration = len(clips) * seconds
    audio = tmp_path / "silence.wav"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"anullsrc=r=22050:cl=mono:d={duration}", str(audio)], check=True)
    style = Style(*find_font(), 20, max_line_chars=14, margin_v=60)
    timeline = Timeline(str(audio), duration, W, H, FPS, clips, [], style, encoder={"preset": "ultrafast", "crf": 18})
    output = tmp_path / "backgrounds.mp4"
    render.engine("ffmpeg")(timeline, output, tmp_path)
    for clip in clips:
        first, later = (frame_at(output, clip.start + offset).astype(int) for offset in (0.1, 1.1))
        assert np.abs(first - later).mean() > 0.5, f"still background: {clip.params}"
        quarters = [first[:H // 4], first[H // 4:H // 2], first[H // 2:3 * H // 4], first[3 * H // 4:]]
        assert min(q.std() for q in quarters) > 1.0, f"flat quarter: {clip.params}"


@pytest.mark.parametrize("name", ENGINES)
def test_captions_start_and_end_on_their_own_frame_where_the_filter_rounds_time_down(sources, tmp_path, name):
    """At 30 fps, frames 111 (3.7 s) and 207 (6.9 s) are asked of libass as 3699 and 6899 ms (a double
    product, truncated): a caption ending at 3.70 s must be gone from frame 111 and one starting at
    6.90 s already on frame 207, as on every other frame."""
    fps, duration = 30, 7.3
    font_file, font_name = find_font()
    clips = [Clip(0.0, duration, "generated", params={"type": "radial", "colours": DARK, "speed": 0.6, "seed": 3})]
    captions = [_caption(3.0, 3.7, "HELLO BIG WORLD"), _caption(6.9, 7.2, "SECOND LINE HERE")]
    style = Style(font_file, font_name, 20, max_line_chars=14, margin_v=60)
    timeline = Timeline(str(sources["audio"]), duration, W, H, fps, clips, captions, style,
                        encoder={"preset": "ultrafast", "crf": 23})
    output = tmp_path / "frames.mp4"
    render.engine(name)(timeline, output, tmp_path)
    raw = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(output), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, H, W, 3)
    shown = {n: caption_pixels(frames[n]) > 40 for n in (110, 111, 206, 207)}
    assert shown == {110: True, 111: False, 206: False, 207: True}, shown


def test_engines_show_the_same_footage(rendered):
    """Stills and video are cut and panned the same way (generated backgrounds may differ)."""
    for seconds in (2.0, 3.0):
        a, b = frame_at(rendered["ffmpeg"], seconds), frame_at(rendered["moviepy"], seconds)
        assert np.abs(a[:150].astype(int) - b[:150].astype(int)).mean() < 12


def test_unknown_engine_is_a_config_error():
    from ttvd.errors import ConfigError

    with pytest.raises(ConfigError, match="moviepy"):
        render.engine("blender")


@pytest.mark.parametrize("name", ENGINES)
def test_cancel_kills_the_encoder_and_leaves_no_file(sources, tmp_path, name):
    cancel = threading.Event()
    output = tmp_path / "out.mp4"
    timeline = tiny_timeline(sources, duration=4.0)
    seen = []

    def on_progress(fraction: float) -> None:
        seen.append(fraction)
        cancel.set()

    cancel_early = threading.Timer(0.05, cancel.set)
    cancel_early.start()
    with pytest.raises(Cancelled):
        render.engine(name)(timeline, output, tmp_path, on_progress, cancel)
    cancel_early.cancel()
    assert not output.exists()
    assert not list(tmp_path.glob("*.mp4"))
    assert not _ffmpeg_children()


def _ffmpeg_children() -> list[str]:
    import os

    children = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split()
    names = []
    for pid in children:
        try:
            names.append(Path(f"/proc/{pid}/comm").read_text().strip())
        except FileNotFoundError:
            pass
    return [n for n in names if n.startswith("ffmpeg")]


def test_long_timelines_render_in_runs_that_join_seamlessly(sources, rendered, tmp_path, monkeypatch):
    """One process per run of clips bounds memory; the joined video matches the one-pass video."""
    from ttvd.render import ffmpeg

    monkeypatch.setattr(ffmpeg, "CHUNK_CLIPS", 1)
    output = tmp_path / "out.mp4"
    progress = []
    ffmpeg.render(tiny_timeline(sources), output, tmp_path, progress.append)
    a, b = probe(rendered["ffmpeg"]), probe(output)
    assert (b.width, b.height, b.fps, b.frames, b.audio_codec) == (a.width, a.height, a.fps, a.frames, "aac")
    assert abs(a.duration - b.duration) < 0.05
    for start, end in CAPTIONS:
        assert caption_pixels(frame_at(output, (start + end) / 2)) > 40
    for seconds in (0.5, 1.5, 2.5, 3.5):  # one frame inside each run and the clip after it: no shift
        assert np.abs(frame_at(output, seconds).astype(int) - frame_at(rendered["ffmpeg"], seconds)).mean() < 4
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert not list(tmp_path.glob("chunk-*"))


# -- the look of the ffmpeg engine's pictures: colour tags, grain, gentle motion ----------------------

def _video_line(path: Path) -> str:
    report = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    return next(line for line in report.splitlines() if "Video:" in line)


def test_colour_is_tagged_bt709_in_one_pass_and_in_runs(sources, rendered, tmp_path, monkeypatch):
    from ttvd.render import ffmpeg

    monkeypatch.setattr(ffmpeg, "CHUNK_CLIPS", 1)
    joined = tmp_path / "runs.mp4"
    ffmpeg.render(tiny_timeline(sources), joined, tmp_path)
    for video in (rendered["ffmpeg"], joined):
        assert "yuv420p(tv, bt709" in _video_line(video)  # range tv; matrix, primaries and transfer all bt709


def test_the_colours_drawn_are_the_colours_decoded(tmp_path):
    """A still of a known colour comes back as that colour from a player that honours the tags."""
    from PIL import Image

    still = tmp_path / "teal.png"
    Image.new("RGB", (200, 360), (31, 111, 120)).save(still)
    audio = tmp_path / "silence.wav"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i", "anullsrc=d=1", str(audio)],
                   check=True)
    style = Style(*find_font(), 20, max_line_chars=14, margin_v=60)
    timeline = Timeline(str(audio), 1.0, W, H, FPS, [Clip(0, 1, "image", str(still), params={"seed": 0})], [], style,
                        encoder={"preset": "ultrafast", "crf": 10})
    render.engine("ffmpeg")(timeline, tmp_path / "teal.mp4", tmp_path)
    centre = frame_at(tmp_path / "teal.mp4", 0.5)[100:220, 40:140].reshape(-1, 3).mean(axis=0)
    assert np.abs(centre - (31, 111, 120)).max() < 4, centre


def flat_blocks(luma: np.ndarray, size: int) -> float:
    """The share of size x size blocks (on the encoder's grid) whose pixels are all the same value."""
    h, w = (d // size * size for d in luma.shape)
    blocks = luma[:h, :w].reshape(h // size, size, w // size, size).swapaxes(1, 2)
    return float((blocks.max(axis=(2, 3)) == blocks.min(axis=(2, 3))).mean())


def test_generated_backgrounds_do_not_band_at_full_size_and_default_quality(tmp_path):
    """1080x1920 at CRF 23 (~1 Mb/s): without dither and grain x264 flattens a gradient into steps of
    16x16 blocks (measured before: half the blocks flat, a quarter of the 32x32 areas)."""
    from ttvd.pipeline.footage import generated_clip

    clips = [generated_clip(f"{index:032x}", 0, index * 1.0, (index + 1) * 1.0) for index in range(3)]
    audio = tmp_path / "silence.wav"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i", "anullsrc=d=3", str(audio)],
                   check=True)
    style = Style(*find_font(), 60, max_line_chars=14, margin_v=400)
    timeline = Timeline(str(audio), 3.0, 1080, 1920, FPS, clips, [], style, encoder={"preset": "veryfast", "crf": 23})
    output = tmp_path / "full.mp4"
    render.engine("ffmpeg")(timeline, output, tmp_path)
    for clip in clips:
        luma = luma_at(output, clip.end - 0.1)  # a clip's last frame: x264 flattens more the longer it predicts
        assert flat_blocks(luma, 16) < 0.2, clip.params
        assert flat_blocks(luma, 32) < 0.02, clip.params


def luma_at(video: Path, seconds: float) -> np.ndarray:
    """The decoded luma plane at ``seconds``, exactly as the encoder left it."""
    import io

    from PIL import Image

    png = subprocess.run([ffmpeg_exe(), "-v", "error", "-ss", f"{seconds:.3f}", "-i", str(video), "-frames:v", "1",
                          "-f", "image2pipe", "-c:v", "png", "-pix_fmt", "gray", "-"],
                         capture_output=True, check=True).stdout
    return np.asarray(Image.open(io.BytesIO(png))).astype(int)


def test_stills_drift_gently_however_short_their_clip():
    from ttvd.render.motion import PAN_SPEED, TRAVEL, pan_for

    for seconds in (0.5, 1.5, 3.0, 10.0):
        pan = pan_for(Clip(0.0, seconds, "image", "x.jpg", params={"seed": 0}))
        assert pan.reach <= min(TRAVEL, PAN_SPEED * seconds) + 1e-9
    assert pan_for(Clip(0.0, 10.0, "image", "x.jpg", params={"seed": 0})).reach == TRAVEL
