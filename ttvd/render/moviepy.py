"""The moviepy engine: the familiar composition, and the baseline the benchmark compares against.

It renders the same Timeline as the ffmpeg engine: same size, rate and length, the same clips cut
and panned the same way, captions in the same place (without the per-word highlight). Frames are
composed in Python and piped to ffmpeg, which is why it is many times slower.
"""
from __future__ import annotations

import errno
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import proglog
from moviepy import AudioFileClip, CompositeVideoClip, ImageClip, TextClip, VideoClip, VideoFileClip
from PIL import Image, ImageOps

from ttvd.errors import Cancelled, NoSpaceError, RenderError
from ttvd.render import encoders
from ttvd.render.ffmpeg import GENERATED_SCALE, frame_count
from ttvd.render.motion import cover_size, pan_for
from ttvd.timeline import Caption, Clip, Timeline


def render(timeline: Timeline, output: Path, workdir: Path,
           on_progress: Callable[[float], None] | None = None,
           cancel: threading.Event | None = None) -> None:
    """Render ``timeline`` to ``output``; raises ``RenderError``, ``NoSpaceError`` or ``Cancelled``.

    No partial ``output`` is left behind on any failure.
    """
    codec = encoders.choose(timeline.encoder)
    duration = frame_count(timeline) / timeline.fps
    layers = [_background(clip, timeline) for clip in timeline.clips]
    layers += [_caption(caption, timeline) for caption in timeline.captions]
    audio = AudioFileClip(timeline.audio)
    video = (CompositeVideoClip(layers, size=(timeline.width, timeline.height), bg_color=(0, 0, 0))
             .with_duration(duration).with_audio(audio.with_duration(min(audio.duration, duration))))
    encoder_args = encoders.args(codec, timeline.encoder)
    temp_audio = workdir / "moviepy-audio.m4a"
    try:
        video.write_videofile(
            str(output), fps=timeline.fps, codec=codec, preset=_value(encoder_args, "-preset", "medium"),
            audio_codec="aac", audio_bitrate="128k", temp_audiofile=str(temp_audio),
            ffmpeg_params=[*_without(encoder_args, "-c:v", "-preset"), "-pix_fmt", "yuv420p",
                           "-movflags", "+faststart", "-f", "mp4"],
            logger=_Progress(on_progress, cancel))
    except _Stop:
        output.unlink(missing_ok=True)
        raise Cancelled("rendering was stopped") from None
    except OSError as exc:
        output.unlink(missing_ok=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT) or "No space left on device" in str(exc):
            raise NoSpaceError("No space left on device while encoding the video") from exc
        # moviepy reports its ffmpeg's failures as an OSError carrying ffmpeg's text
        raise RenderError(f"moviepy engine failed: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}",
                          str(exc)) from exc
    except BaseException:
        output.unlink(missing_ok=True)
        raise
    finally:
        temp_audio.unlink(missing_ok=True)
        video.close()
        audio.close()
        for layer in layers:
            layer.close()


def _background(clip: Clip, timeline: Timeline) -> VideoClip:
    duration = clip.end - clip.start
    if clip.kind == "video":
        shaped = _video(clip, timeline, duration)
    elif clip.kind == "image":
        shaped = _still(clip, timeline, duration)
    else:
        shaped = _gradient(clip, timeline, duration)
    return shaped.with_start(clip.start).with_duration(duration)


def _video(clip: Clip, timeline: Timeline, duration: float) -> VideoClip:
    source = VideoFileClip(clip.source, audio=False)
    end = min(source.duration, clip.in_point + duration)
    source = source.subclipped(clip.in_point, end)
    w, h = timeline.width, timeline.height
    crop_w, crop_h = min(source.w, source.h * w / h), min(source.h, source.w * h / w)
    return source.cropped(x_center=source.w / 2, y_center=source.h / 2, width=crop_w,
                          height=crop_h).resized((w, h))


def _still(clip: Clip, timeline: Timeline, duration: float) -> VideoClip:
    """The still scaled once to cover the frame, moved under it along motion.pan_for's path."""
    w, h = timeline.width, timeline.height
    with Image.open(str(clip.source)) as image:
        image = ImageOps.exif_transpose(image).convert("RGB")
        cover_w, cover_h = cover_size(image.width, image.height, w, h)
        picture = np.asarray(image.resize((cover_w, cover_h), Image.Resampling.BICUBIC))
    pan = pan_for(clip)
    frames = max(1, round(duration * timeline.fps) - 1)

    def position(t: float) -> tuple[int, int]:
        progress = min(1.0, round(t * timeline.fps) / frames)
        return (-int(pan.offset(0, progress, cover_w - w, w)), -int(pan.offset(1, progress, cover_h - h, h)))

    return ImageClip(picture).with_duration(duration).with_position(position)


def _gradient(clip: Clip, timeline: Timeline, duration: float) -> VideoClip:
    """A slowly turning blend of the clip's colours, drawn small and scaled up like the ffmpeg engine's."""
    p = clip.params
    colours = np.array([[int(c[i:i + 2], 16) for i in (2, 4, 6)] for c in p["colours"]], dtype=np.float32)
    small_w = max(2, timeline.width // GENERATED_SCALE)
    small_h = max(2, timeline.height // GENERATED_SCALE)
    ys, xs = np.mgrid[0:small_h, 0:small_w].astype(np.float32)
    xs, ys = xs / small_w - 0.5, ys / small_h - 0.5
    phase = (p.get("seed", 0) % 628) / 100

    def frame(t: float) -> np.ndarray:
        angle = phase + p.get("speed", 0.3) * t  # radians a second
        if p.get("type") == "linear":
            place = xs * np.cos(angle) + ys * np.sin(angle) + 0.5
        else:
            cx, cy = 0.3 * np.cos(angle), 0.3 * np.sin(angle)
            place = np.hypot(xs - cx, ys - cy) * 1.4
        place = np.clip(place, 0, 1) * (len(colours) - 1)
        low = np.floor(place).astype(int).clip(0, len(colours) - 2)
        mix = (place - low)[..., None]
        small = colours[low] * (1 - mix) + colours[low + 1] * mix
        picture = Image.fromarray(small.astype(np.uint8))
        return np.asarray(picture.resize((timeline.width, timeline.height), Image.Resampling.BILINEAR))

    return VideoClip(frame, duration=duration)


def _caption(caption: Caption, timeline: Timeline) -> VideoClip:
    """The caption's lines centred above the bottom margin, as libass places the ASS events."""
    style = timeline.style
    text = TextClip(font=style.font_file, text="\n".join(caption.lines), font_size=style.font_size,
                    color="white", stroke_color="black", stroke_width=max(2, style.font_size // 14),
                    method="label", text_align="center")
    top = timeline.height - style.margin_v - text.h
    return (text.with_start(caption.start).with_duration(max(0.01, caption.end - caption.start))
            .with_position(("center", top)))


def _value(args: list[str], flag: str, default: str) -> str:
    return args[args.index(flag) + 1] if flag in args else default


def _without(args: list[str], *flags: str) -> list[str]:
    """``args`` minus each of ``flags`` and the value after it (moviepy passes those itself)."""
    kept, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in flags:
            skip = True
        else:
            kept.append(arg)
    return kept


class _Stop(Exception):
    """Raised from moviepy's progress callback to stop its render loop."""


class _Progress(proglog.ProgressBarLogger):
    """Reports moviepy's frame counter as a fraction and stops the render when ``cancel`` is set."""

    def __init__(self, on_progress: Callable[[float], None] | None, cancel: threading.Event | None) -> None:
        super().__init__()
        self._on_progress, self._cancel = on_progress, cancel

    def bars_callback(self, bar, attr, value, old_value=None) -> None:
        if self._cancel is not None and self._cancel.is_set():
            raise _Stop()
        total = self.bars[bar].get("total")
        if bar == "frame_index" and attr == "index" and total and self._on_progress:
            self._on_progress(min(1.0, value / total))
