import subprocess
from itertools import pairwise
from pathlib import Path

import pytest

from ttvd import config
from ttvd.backends.media_folder import MediaFolder
from ttvd.backends.pexels import PexelsSource
from ttvd.media import ffmpeg_exe
from ttvd.pipeline.footage import PALETTES, TURN_SPEED, generated_clip, generated_clips
from ttvd.timeline import Passage

from helpers import TINY

PASSAGES = [Passage(0, 3, "a"), Passage(3, 7, "b"), Passage(7, 9.5, "c"), Passage(9.5, 12, "d")]


def test_generated_clips_cover_every_passage_without_gaps():
    clips = generated_clips(PASSAGES, "a" * 32)
    assert [(c.start, c.end) for c in clips] == [(p.start, p.end) for p in PASSAGES]
    assert all(c.kind == "generated" for c in clips)


def test_same_job_same_backgrounds_other_job_other_backgrounds():
    assert generated_clips(PASSAGES, "a" * 32) == generated_clips(PASSAGES, "a" * 32)
    assert generated_clips(PASSAGES, "a" * 32) != generated_clips(PASSAGES, "b" * 32)


def test_neighbouring_passages_differ():
    clips = generated_clips(PASSAGES, "c" * 32)
    for first, second in pairwise(clips):
        assert set(first.params["colours"]) != set(second.params["colours"])


def contrast_with_white(colour: str) -> float:
    """WCAG contrast ratio of white text on ``colour`` (0xRRGGBB)."""
    channels = [int(colour[i:i + 2], 16) / 255 for i in (2, 4, 6)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return 1.05 / (luminance + 0.05)


@pytest.mark.parametrize("palette", PALETTES)
def test_every_palette_keeps_white_captions_readable(palette):
    assert min(contrast_with_white(c) for c in palette) >= 5.0  # WCAG AA asks 4.5
    assert contrast_with_white(palette[-1]) == min(contrast_with_white(c) for c in palette)  # the brightest last


def test_every_background_draws_its_palettes_brightest_colour_and_turns_gently():
    for index in range(40):
        clip = generated_clip(f"{index:032x}", index, 0, 4)
        palette = next(p for p in PALETTES if set(clip.params["colours"]) <= set(p))
        assert palette[-1] in clip.params["colours"] and len(set(clip.params["colours"])) == 3
        assert TURN_SPEED[0] <= clip.params["speed"] <= TURN_SPEED[1] <= 0.5  # under 30 degrees a second


# -- a clip smaller than the frame only when nothing better matches ------------------------------------

def _video(path: Path, width: int, height: int) -> Path:
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", f"color=c=gray:s={width}x{height}:r=10:d=3",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def test_the_media_folder_prefers_a_file_that_covers_the_frame(tmp_path):
    media = tmp_path / "media"
    media.mkdir()
    _video(media / "night-train.mp4", 64, 112)   # matches both words of the first query, but is small
    _video(media / "train.mp4", 360, 640)        # matches one word, and covers the 180x320 frame
    settings = config.load({}, TTVD_HOME=str(tmp_path), TTVD_MEDIA_DIR=str(media), **TINY)
    passage = Passage(0, 3, "The night train left", ["night train", "train", "night"])
    source = MediaFolder(settings)
    assert source.clip_for(passage, 0, 3).params["file"] == "train.mp4"
    assert source.clip_for(passage, 0, 3).params["file"] == "night-train.mp4"  # the only match left


def test_pexels_takes_a_video_too_small_for_the_frame_only_when_no_query_finds_a_larger_one(tmp_path, monkeypatch):
    settings = config.load({}, TTVD_HOME=str(tmp_path), PEXELS_API_KEY="k", **TINY)
    source = PexelsSource(settings)

    def video(number: int, width: int, height: int) -> dict:
        return {"id": number, "duration": 10, "url": f"https://pexels/{number}", "user": {"name": "someone"},
                "video_files": [{"width": width, "height": height, "link": f"http://x/{number}.mp4",
                                 "file_type": "video/mp4"}]}

    results = {"night train": [video(1, 90, 160)], "train": [video(2, 90, 160), video(3, 720, 1280)]}
    monkeypatch.setattr(source, "search", lambda query, orientation: results.get(query, []))
    monkeypatch.setattr(source.cache, "fetch", lambda link, service: (tmp_path / link.rsplit("/", 1)[1], True))
    passage = Passage(0, 3, "The night train left", ["night train", "train"])
    assert source.clip_for(passage, 0, 3).params["id"] == 3
    assert source.clip_for(passage, 0, 3).params["id"] == 1  # nothing large is left: the best small one
