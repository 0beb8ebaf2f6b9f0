"""The command line: job options on render and submit, side files next to a rendered video."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ttvd.media import probe

from helpers import process_env


def ttvd(home, *args: str, text: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ttvd", *args], input=text, capture_output=True, text=True,
                          env=process_env(home), timeout=120)


@pytest.mark.slow
def test_render_takes_options_and_writes_side_files(home, tmp_path):
    out = tmp_path / "clip.mp4"
    done = ttvd(home, "render", "-", "-o", str(out), "--engine", "ffmpeg", "-O", "aspect=1:1",
                "-O", "captions=classic", "-O", "music=none", text="Hello there. The night train left at dawn.")
    assert done.returncode == 0, done.stderr[-2000:]
    info = probe(out)
    assert (info.width, info.height) == (320, 320)
    assert out.with_suffix(".srt").read_text().startswith("1\n00:00:00,")
    assert out.with_suffix(".vtt").read_text().startswith("WEBVTT")
    words = json.loads(out.with_suffix(".json").read_text())
    assert "Hello" in json.dumps(words) and "train" in json.dumps(words)


@pytest.mark.parametrize("args, message", [
    (["-O", "nope=1"], "Unknown option 'nope'"),
    (["-O", "height=abc"], "Option 'height' must be an integer"),
    (["-O", "music"], "is not KEY=VALUE"),
])
def test_bad_options_are_refused_before_any_work(home, tmp_path, args, message):
    done = ttvd(home, "submit", "-", *args, text="Hello.")
    assert done.returncode == 2 and message in done.stderr
    assert not list(home.rglob("*.json")), "nothing is queued"
