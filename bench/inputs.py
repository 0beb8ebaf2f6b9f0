"""The benchmark's fixed inputs: footage, a still, narration-length audio and a Timeline over them.

Sources are made once with the bundled ffmpeg and cached; the Timeline for a duration is the same
on every run: a clip every 10 s cycling generated / video / image, a caption every 3 s.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

from ttvd import config
from ttvd.media import ffmpeg_exe
from ttvd.pipeline.plan import caption_style
from ttvd.timeline import Caption, Clip, Timeline, Word

CLIP_SECONDS = 10.0
CAPTION_SECONDS = 3.0
FOOTAGE_SECONDS = 40
WORDS = ("the quick brown fox jumps over a lazy dog while rivers run down to the quiet sea "
         "and every morning light returns across the hills").split()
PALETTE = ["0x0b132b", "0x3a506b", "0x5bc0be"]


def sources(cache: Path) -> dict[str, Path]:
    """Landscape 1080p footage and a large still, made once into ``cache``."""
    cache.mkdir(parents=True, exist_ok=True)
    footage, still = cache / "footage_1920x1080.mp4", cache / "still_2400x1600.jpg"
    if not footage.exists():
        _ffmpeg(["-f", "lavfi", "-i", f"testsrc2=s=1920x1080:r=30:d={FOOTAGE_SECONDS}",
                 "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p", str(footage)])
    if not still.exists():
        _ffmpeg(["-f", "lavfi", "-i", "mandelbrot=s=2400x1600:end_pts=1", "-frames:v", "1", "-q:v", "3",
                 str(still)])
    return {"footage": footage, "still": still}


def audio(cache: Path, duration: float) -> Path:
    path = cache / f"audio_{duration:g}s.wav"
    if not path.exists():
        _ffmpeg(["-f", "lavfi", "-i", f"sine=frequency=220:sample_rate=22050:duration={duration}",
                 "-ac", "1", str(path)])
    return path


def timeline(cache: Path, duration: float, width: int, height: int, fps: int,
             preset: str = "veryfast", crf: int = 23) -> Timeline:
    """The fixed Timeline for ``duration`` seconds at ``width``x``height``."""
    cache = cache.resolve()
    media = sources(cache)
    clips = []
    start, index = 0.0, 0
    while start < duration:
        end = min(duration, start + CLIP_SECONDS)
        kind = ("generated", "video", "image")[index % 3]
        if kind == "generated":
            clips.append(Clip(start, end, kind, params={"type": "radial", "colours": PALETTE,
                                                        "speed": 0.45, "seed": 7 + index}))
        elif kind == "video":
            in_point = (index * 7.3) % (FOOTAGE_SECONDS - CLIP_SECONDS - 1)
            clips.append(Clip(start, end, kind, str(media["footage"]), in_point=round(in_point, 3)))
        else:
            clips.append(Clip(start, end, kind, str(media["still"]), params={"seed": index}))
        start, index = end, index + 1
    return Timeline(str(audio(cache, duration)), duration, width, height, fps, clips,
                    _captions(duration), caption_style(config.load({}), width, height),
                    encoder={"preset": preset, "crf": crf})


def _captions(duration: float) -> list[Caption]:
    captions, start, index = [], 0.2, 0
    while start + 1.0 < duration:
        end = min(duration, start + CAPTION_SECONDS - 0.2)
        words = []
        for n in range(6):
            text = WORDS[(index * 6 + n) % len(WORDS)]
            w_start = start + n * (end - start) / 6
            words.append(Word(text, round(w_start, 3), round(w_start + (end - start) / 6 - 0.05, 3)))
        texts = [w.text for w in words]
        captions.append(Caption(round(start, 3), round(end, 3), [" ".join(texts[:3]), " ".join(texts[3:])],
                                words))
        start, index = start + CAPTION_SECONDS, index + 1
    return captions


def _ffmpeg(args: list[str]) -> None:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)
