"""Both engines draw the same video from the same Timeline: backgrounds, transitions, captions, sound."""
from __future__ import annotations

import re
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from ttvd import render
from ttvd.media import ffmpeg_exe, probe

from test_render import tiny_timeline

SSIM_FLOOR = 0.97


def ssim(a: Path, b: Path, frames: str = "1") -> float:
    """ffmpeg's SSIM of two videos over the frames ``frames`` selects (an expression of n; 1.0: identical)."""
    pick = f"select='{frames}',setpts=N"
    result = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(a), "-i", str(b),
                             "-lavfi", f"[0:v]{pick}[a];[1:v]{pick}[b];[a][b]ssim", "-f", "null", "-"],
                            capture_output=True, text=True)
    return float(re.findall(r"All:([\d.]+)", result.stderr)[-1])


def stream_line(path: Path, kind: str) -> str:
    result = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    return next(line for line in result.stderr.splitlines() if f"{kind}:" in line)


@pytest.mark.slow
@pytest.mark.parametrize("transition, preset", [("fade", "karaoke"), ("slide", "highlight"), ("zoom", "word")])
def test_the_engines_frames_agree(sources, tmp_path, transition, preset):
    timeline = tiny_timeline(sources, duration=3.0)
    timeline = replace(timeline, transition=transition, style=replace(timeline.style, preset=preset))
    outputs = {}
    for name in ("ffmpeg", "moviepy"):
        work = tmp_path / name
        work.mkdir()
        outputs[name] = work / "out.mp4"
        render.engine(name)(timeline, outputs[name], work)
    a, b = probe(outputs["ffmpeg"]), probe(outputs["moviepy"])
    assert (a.width, a.height, a.fps, a.frames) == (b.width, b.height, b.fps, b.frames)
    similarity = ssim(outputs["ffmpeg"], outputs["moviepy"])
    # the frames of the two transitions alone (cuts at 1.4 s and 2.6 s; each 0.4 s long, before the cut)
    crossing = ssim(outputs["ffmpeg"], outputs["moviepy"], "between(n,10,13)+between(n,22,25)")
    print(f"SSIM ffmpeg vs moviepy, {transition} + {preset}: {similarity:.4f}, in transitions {crossing:.4f}")
    assert similarity >= SSIM_FLOOR and crossing >= SSIM_FLOOR
    # the same pixel format and colour tags, the same audio format
    for kind, pattern in (("Video", r"yuv420p\([^)]*\)"), ("Audio", r"aac.*?, \d+ Hz, \w+")):
        found = [re.search(pattern, stream_line(outputs[name], kind)) for name in ("ffmpeg", "moviepy")]
        assert found[0] and found[1] and found[0].group() == found[1].group()
    assert "bt709" in stream_line(outputs["moviepy"], "Video")
