"""The moviepy engine: the familiar composition, and the baseline the benchmark compares against.

It draws the same video as the ffmpeg engine from the same Timeline. Each clip's frames (its lead-in
under the clip before included) come from the ffmpeg engine's own filters for that clip, written to a
lossless file; moviepy lays the clips on the timeline and draws the transitions between them
(``fade``, ``slide``, ``zoom``) with the same timing and curves; the captions are the same ASS script,
burned by libass in moviepy's encoder, with the same colour conversion and tags. Frames are composed
in Python and piped to ffmpeg, which is why it is several times slower.
"""
from __future__ import annotations

import errno
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import proglog
from moviepy import AudioFileClip, CompositeVideoClip, VideoClip, VideoFileClip

from ttvd import media
from ttvd.errors import Cancelled, NoSpaceError, RenderError
from ttvd.render import encoders, ffmpeg
from ttvd.render.ass import write_ass
from ttvd.timeline import Timeline

AUDIO_RATE = 48000  # as the ffmpeg engine writes it (AAC 192k); the pipeline's mix is 48 kHz stereo already


def render(timeline: Timeline, output: Path, workdir: Path,
           on_progress: Callable[[float], None] | None = None,
           cancel: threading.Event | None = None) -> None:
    """Render ``timeline`` to ``output``; raises ``RenderError``, ``NoSpaceError`` or ``Cancelled``.

    No partial ``output`` is left behind on any failure.
    """
    codec = encoders.choose(timeline.encoder)
    duration = ffmpeg.frame_count(timeline) / timeline.fps
    write_ass(timeline, workdir / "captions.ass")
    layers: list[VideoClip] = []
    audio = None
    temp_audio = workdir / "moviepy-audio.m4a"
    try:
        _add_layers(layers, timeline, workdir, cancel)
        audio = AudioFileClip(timeline.audio, fps=AUDIO_RATE)
        video = (CompositeVideoClip(layers, size=(timeline.width, timeline.height), bg_color=(0, 0, 0))
                 .with_duration(duration).with_audio(audio.with_duration(min(audio.duration, duration))))
        encoder_args = encoders.args(codec, timeline.encoder)
        video.write_videofile(
            str(output), fps=timeline.fps, codec=codec, preset=_value(encoder_args, "-preset", "medium"),
            audio_codec="aac", audio_bitrate="192k", audio_fps=AUDIO_RATE, temp_audiofile=str(temp_audio),
            ffmpeg_params=[*_without(encoder_args, "-c:v", "-preset"), "-vf", _caption_filter(timeline, workdir),
                           "-pix_fmt", "yuv420p", *ffmpeg.COLOUR_TAGS, "-movflags", "+faststart", "-f", "mp4"],
            logger=_Progress(on_progress, cancel))
    except _Stop:
        output.unlink(missing_ok=True)
        raise Cancelled("rendering was stopped") from None
    except OSError as exc:
        output.unlink(missing_ok=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT) or "No space left on device" in str(exc):
            raise NoSpaceError("No space left on device while encoding the video") from exc
        # moviepy reports its ffmpeg's failures as an OSError carrying ffmpeg's text
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        raise RenderError(f"moviepy engine failed: {first}", str(exc)) from exc
    except BaseException:
        output.unlink(missing_ok=True)
        raise
    finally:
        temp_audio.unlink(missing_ok=True)
        if audio is not None:
            audio.close()
        for layer in layers:
            layer.close()


def _add_layers(layers: list[VideoClip], timeline: Timeline, workdir: Path, cancel: threading.Event | None) -> None:
    """Every clip as a moviepy layer at its place, with the transition into it drawn over the clip before.

    Layers go into the caller's list as they open, so the caller closes their readers whatever happens.
    """
    fps = timeline.fps
    start = 0
    for index, piece in enumerate(ffmpeg.pieces(timeline)):
        path = workdir / f"moviepy-clip-{index:03d}.mkv"
        frames = piece.lead + piece.frames
        # The ffmpeg engine's own filters for this clip, losslessly: both engines draw the same pixels.
        media.run(["-y", "-filter_complex", f"{ffmpeg.piece_chain(piece, timeline)}[v]", "-map", "[v]",
                   "-frames:v", str(frames), "-r", str(fps), "-c:v", "ffv1", str(path)], frames / fps, None, cancel)
        layer = VideoFileClip(str(path), audio=False).with_start((start - piece.lead) / fps)
        layers.append(_arriving(layer, piece.lead, timeline) if piece.lead else layer)
        if piece.lead and timeline.transition in ("slide", "zoom"):
            layers[-2] = _leaving(layers[-2], (start - piece.lead) / fps, piece.lead, timeline)
        start += piece.frames


def _arriving(layer: VideoClip, lead: int, timeline: Timeline) -> VideoClip:
    """The clip coming in: it fades in over ``lead`` frames, or slides in from the right."""
    fps, width = timeline.fps, timeline.width
    if timeline.transition == "slide":
        return layer.with_position(lambda t: (width - _slid(round(t * fps), lead, width), 0))
    # the ffmpeg engine's fade filter: opacity n / lead on the arriving clip's n-th frame
    def opacity(t: float) -> float:
        return min(1.0, round(t * fps) / lead)

    mask = VideoClip(lambda t: np.full((timeline.height, width), opacity(t)), is_mask=True)
    return layer.with_mask(mask.with_duration(layer.duration))


def _leaving(layer: VideoClip, at: float, lead: int, timeline: Timeline) -> VideoClip:
    """The clip going out from ``at`` seconds: pushed out to the left, or zoomed in on its centre."""
    fps, width, height = timeline.fps, timeline.width, timeline.height
    begins = at - layer.start

    def step(t: float) -> int:
        return max(0, round((t - begins) * fps))

    if timeline.transition == "slide":
        return layer.with_position(lambda t: (-_slid(step(t), lead, width) if t >= begins else 0, 0))

    def zoomed(get_frame: Callable[[float], Any], t: float) -> Any:
        frame = get_frame(t)
        if t < begins:
            return frame
        zoom = 1 + ffmpeg.ZOOM * (step(t) + 1) / lead
        crop_w, crop_h = width / zoom, height / zoom
        x0, y0 = (width - crop_w) / 2, (height - crop_h) / 2
        xs = np.clip((x0 + (np.arange(width) + 0.5) * crop_w / width).astype(int), 0, width - 1)
        ys = np.clip((y0 + (np.arange(height) + 0.5) * crop_h / height).astype(int), 0, height - 1)
        return frame[ys][:, xs]

    return layer.transform(zoomed)


def _slid(n: int, frames: int, width: int) -> int:
    """Pixels a slide has gone at its ``n``-th frame: the ffmpeg engine's smoothstep, and its crop's
    even x (yuv420p crops on whole chroma samples)."""
    place = min(1.0, (n + 1) / (frames + 1))
    return int(width * place * place * (3 - 2 * place)) // 2 * 2


def _caption_filter(timeline: Timeline, workdir: Path) -> str:
    """Convert moviepy's RGB frames as the ffmpeg engine converts its clips, then burn the same captions."""
    return (f"scale={ffmpeg.COLOUR}:in_range=pc,format=yuv420p,{ffmpeg.FRAME_COLOUR},"
            f"{ffmpeg.caption_filter(timeline, str(workdir / 'captions.ass'))}")


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

    def bars_callback(self, bar: str, attr: str, value: Any, old_value: Any = None) -> None:
        if self._cancel is not None and self._cancel.is_set():
            raise _Stop()
        total = self.bars[bar].get("total")
        if bar == "frame_index" and attr == "index" and total and self._on_progress:
            self._on_progress(min(1.0, value / total))
