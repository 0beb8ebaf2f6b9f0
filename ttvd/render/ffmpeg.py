"""The default engine: one ffmpeg pass from a Timeline to an MP4.

Every clip becomes one input, decoded only over the stretch it is used; each is cropped to the
output aspect before it is scaled, trimmed to an exact frame count, concatenated, captioned with
libass and encoded once with the narration muxed in.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

from ttvd import media
from ttvd.render.ass import write_ass
from ttvd.timeline import Clip, Timeline

GENERATED_SCALE = 4  # generated gradients are drawn at 1/4 size and scaled up: smooth and cheap


def build_args(timeline: Timeline, output: Path, captions: str) -> list[str]:
    """The ffmpeg arguments for ``timeline``; ``captions`` is the ASS file relative to the cwd."""
    inputs: list[str] = []
    chains: list[str] = []
    boundaries = [round(c.start * timeline.fps) for c in timeline.clips] + [frame_count(timeline)]
    for index, clip in enumerate(timeline.clips):
        frames = boundaries[index + 1] - boundaries[index]
        inputs += _input(clip, timeline, frames)
        chains.append(f"[{index}:v]{_shape(clip, timeline, frames)}[v{index}]")
    audio_index = len(timeline.clips)
    inputs += ["-i", timeline.audio]
    joined = "".join(f"[v{i}]" for i in range(len(timeline.clips)))
    font_dir = escape_filter_value(str(Path(timeline.style.font_file).parent))
    chains.append(f"{joined}concat=n={len(timeline.clips)}:v=1:a=0,"
                  f"ass=filename={escape_filter_value(captions)}:fontsdir={font_dir}[out]")
    encoder = timeline.encoder
    return [
        "-y", *inputs,
        "-filter_complex", ";".join(chains),
        "-map", "[out]", "-map", f"{audio_index}:a",
        "-c:v", encoder.get("codec", "libx264"), "-preset", encoder.get("preset", "veryfast"),
        "-crf", str(encoder.get("crf", 23)), "-pix_fmt", "yuv420p", "-r", str(timeline.fps),
        "-c:a", "aac", "-b:a", "128k",
        "-t", f"{frame_count(timeline) / timeline.fps:.6f}",
        "-movflags", "+faststart", "-f", "mp4", str(output),
    ]


def render(timeline: Timeline, output: Path, workdir: Path,
           on_progress: Callable[[float], None] | None = None,
           cancel: threading.Event | None = None) -> None:
    """Render ``timeline`` to ``output``; raises ``media.FfmpegError`` or ``InterruptedError``."""
    write_ass(timeline, workdir / "captions.ass")
    media.run(build_args(timeline, output, "captions.ass"), timeline.duration, on_progress, cancel,
              cwd=workdir)


def frame_count(timeline: Timeline) -> int:
    return max(1, round(timeline.duration * timeline.fps))


def _input(clip: Clip, timeline: Timeline, frames: int) -> list[str]:
    seconds = f"{(frames + 1) / timeline.fps:.6f}"
    if clip.kind == "generated":
        p = clip.params
        width, height = generated_size(timeline.width, timeline.height)
        colours = ":".join(f"c{i}={c}" for i, c in enumerate(p["colours"]))
        x0, y0, x1, y1 = p.get("points", (0.0, 0.0, 1.0, 1.0))
        colours += (f":x0={round(x0 * (width - 1))}:y0={round(y0 * (height - 1))}"
                    f":x1={round(x1 * (width - 1))}:y1={round(y1 * (height - 1))}")
        return ["-f", "lavfi", "-i",
                f"gradients=s={width}x{height}:r={timeline.fps}:d={seconds}:{colours}"
                f":n={len(p['colours'])}:speed={p['speed']}:seed={p['seed']}:type={p['type']}"]
    if clip.kind == "image":
        return ["-loop", "1", "-framerate", str(timeline.fps), "-t", seconds, "-i", clip.source]
    return ["-ss", f"{clip.in_point:.3f}", "-t", seconds, "-i", clip.source]


def _shape(clip: Clip, timeline: Timeline, frames: int) -> str:
    """Crop to the output aspect, then scale, at the output frame rate, exactly ``frames`` long."""
    w, h = timeline.width, timeline.height
    steps = []
    if clip.kind != "generated":
        steps.append(f"crop='min(iw,ih*{w}/{h})':'min(ih,iw*{h}/{w})'")
    steps += [f"scale={w}:{h}:flags=bicubic", "setsar=1", f"fps={timeline.fps}",
              f"tpad=stop_mode=clone:stop={frames}", f"trim=end_frame={frames}",
              "setpts=PTS-STARTPTS", "format=yuv420p"]
    return ",".join(steps)


def escape_filter_value(value: str) -> str:
    """Quote a filter option value for a filtergraph string (both escaping levels ffmpeg applies)."""
    level1 = value.replace("\\", "\\\\").replace("'", "\\'").replace(":", "\\:")
    return "".join("\\" + ch if ch in "\\'[],;" else ch for ch in level1)


def generated_size(width: int, height: int) -> tuple[int, int]:
    """Drawing size of a generated background: a quarter of the output, never under 144 px across."""
    scale = max(1.0, 144 / (min(width, height) / GENERATED_SCALE))
    return (min(width, _even(width / GENERATED_SCALE * scale)), min(height, _even(height / GENERATED_SCALE * scale)))


def _even(value: float) -> int:
    return max(2, int(value) // 2 * 2)
