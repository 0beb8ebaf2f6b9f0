"""The default engine: one ffmpeg pass from a Timeline to an MP4, each frame encoded once.

Every clip is a source inside one filtergraph and decodes only while it plays: videos are seeked
to their in-point, stills are decoded and scaled once then panned by a moving crop, generated
backgrounds are drawn small and scaled up. Each clip is cropped to the output aspect before it is
scaled and trimmed to an exact frame count; the clips are concatenated, captioned by libass and
encoded with the narration muxed in. Timelines of more than CHUNK_CLIPS clips are encoded in runs
(one process each, video only) and joined by stream copy, which keeps memory flat.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from ttvd import media
from ttvd.render import encoders
from ttvd.render.ass import write_ass
from ttvd.render.motion import OVERSCAN, TRAVEL, pan_for
from ttvd.timeline import Clip, Timeline

GENERATED_SCALE = 8  # generated gradients are drawn at 1/8 size and scaled up: smooth, and 4x cheaper than 1/4
DECODER_THREADS = 1  # x264 keeps the cores busy; more decoder threads only add frame buffers
CHUNK_CLIPS = 8      # clips per ffmpeg process: a filtergraph holds ~20 MB per 1080p clip until it ends


def render(timeline: Timeline, output: Path, workdir: Path,
           on_progress: Callable[[float], None] | None = None,
           cancel: threading.Event | None = None) -> None:
    """Render ``timeline`` to ``output``; raises ``RenderError``, ``NoSpaceError`` or ``Cancelled``.

    On any failure or cancellation the encoder is gone and no partial ``output`` is left behind.
    """
    codec = encoders.choose(timeline.encoder)
    write_ass(timeline, workdir / "captions.ass")
    parts = chunks(timeline)
    try:
        if len(parts) == 1:
            media.run(build_args(timeline, output, "captions.ass", codec), timeline.duration, on_progress,
                      cancel, cwd=workdir)
        else:
            _render_in_chunks(timeline, parts, output, workdir, codec, on_progress, cancel)
    except BaseException:
        output.unlink(missing_ok=True)
        raise


def chunks(timeline: Timeline) -> list[list[tuple[Clip, int]]]:
    """The clips with their frame counts, in runs of at most CHUNK_CLIPS."""
    pieces = clip_frames(timeline)
    return [pieces[i:i + CHUNK_CLIPS] for i in range(0, len(pieces), CHUNK_CLIPS)]


def _render_in_chunks(timeline: Timeline, parts: list[list[tuple[Clip, int]]], output: Path, workdir: Path,
                      codec: str, on_progress: Callable[[float], None] | None,
                      cancel: threading.Event | None) -> None:
    """Encode each run of clips (video only) once, then join them without re-encoding and add the audio.

    Every frame is still encoded exactly once; a process per run keeps memory flat for long videos,
    because a filtergraph keeps each clip's buffers until it closes.
    """
    total = frame_count(timeline)
    files: list[Path] = []
    done = 0
    try:
        for index, part in enumerate(parts):
            frames = sum(count for _, count in part)
            files.append(workdir / f"chunk-{index:03d}.mp4")
            report = None if on_progress is None else (
                lambda f, done=done, frames=frames: on_progress(0.99 * (done + f * frames) / total))
            media.run(build_args(timeline, files[-1], "captions.ass", codec, part, done), frames / timeline.fps,
                      report, cancel, cwd=workdir)
            done += frames
        listing = workdir / "chunks.txt"
        listing.write_text("".join(f"file '{f.name}'\n" for f in files), encoding="utf-8")
        media.run(["-y", "-f", "concat", "-safe", "0", "-i", listing.name, "-i", timeline.audio,
                   "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", "-b:a", "128k",
                   "-t", f"{total / timeline.fps:.6f}", "-movflags", "+faststart", "-f", "mp4", str(output)],
                  timeline.duration, None, cancel, cwd=workdir)
        if on_progress is not None:
            on_progress(1.0)
    finally:
        for file in files:
            file.unlink(missing_ok=True)


def build_args(timeline: Timeline, output: Path, captions: str, codec: str = "libx264",
               pieces: list[tuple[Clip, int]] | None = None, first_frame: int = 0) -> list[str]:
    """The ffmpeg arguments for ``timeline``; ``captions`` is the ASS file relative to the cwd.

    With ``pieces`` (a run of clips starting at frame ``first_frame``), only their video is encoded.
    Footage is read by source filters inside the filtergraph rather than by ``-i`` inputs: a source
    decodes only when concat asks it for frames, so clips not yet playing hold no frame queues.
    """
    whole = pieces is None
    run = clip_frames(timeline) if pieces is None else pieces
    chains: list[str] = []
    for index, (clip, frames) in enumerate(run):
        chains.append(f"{_source(clip, timeline, frames)},{_shape(clip, timeline, frames)},"
                      f"format=yuv420p[v{index}]")
    joined = "".join(f"[v{i}]" for i in range(len(chains)))
    font_dir = escape_filter_value(str(Path(timeline.style.font_file).parent))
    # Captions are timed for the whole video: a later run is shifted to its place for libass.
    shift = f"setpts=PTS+{first_frame / timeline.fps:.6f}/TB," if first_frame else ""
    unshift = ",setpts=PTS-STARTPTS" if first_frame else ""
    chains.append(f"{joined}concat=n={len(chains)}:v=1:a=0,{shift}"
                  f"ass=filename={escape_filter_value(captions)}:fontsdir={font_dir}{unshift}[out]")
    frames = sum(count for _, count in run)
    audio_in, audio_out = (["-i", timeline.audio], ["-map", "0:a", "-c:a", "aac", "-b:a", "128k"]) if whole \
        else ([], ["-an"])
    return [
        "-y", *audio_in,
        "-filter_complex", ";".join(chains),
        "-map", "[out]", *audio_out,
        *encoders.args(codec, timeline.encoder), "-pix_fmt", "yuv420p", "-r", str(timeline.fps),
        "-t", f"{frames / timeline.fps:.6f}",
        "-movflags", "+faststart", "-f", "mp4", str(output),
    ]


def frame_count(timeline: Timeline) -> int:
    return max(1, round(timeline.duration * timeline.fps))


def clip_frames(timeline: Timeline) -> list[tuple[Clip, int]]:
    """Each clip with its exact frame count; clips are cut at frame boundaries, none is empty."""
    total = frame_count(timeline)
    starts = [min(total, round(c.start * timeline.fps)) for c in timeline.clips] + [total]
    starts[0] = 0  # the first clip covers the video from its first frame
    pairs = [(clip, starts[i + 1] - starts[i]) for i, clip in enumerate(timeline.clips)]
    return [(clip, frames) for clip, frames in pairs if frames > 0]


def _source(clip: Clip, timeline: Timeline, frames: int) -> str:
    if clip.kind == "generated":
        p = clip.params
        width = _even(timeline.width / GENERATED_SCALE)
        height = _even(timeline.height / GENERATED_SCALE)
        colours = ":".join(f"c{i}={c}" for i, c in enumerate(p["colours"]))
        # without end points the filter draws random ones, often close together: large flat areas
        x0, y0, x1, y1 = p.get("points", (0.0, 0.0, 1.0, 1.0))
        points = (f"x0={round(x0 * (width - 1))}:y0={round(y0 * (height - 1))}"
                  f":x1={round(x1 * (width - 1))}:y1={round(y1 * (height - 1))}")
        speed = p["speed"] / timeline.fps  # radians a second -> radians a frame, the filter's unit
        return (f"gradients=s={width}x{height}:r={timeline.fps}:d={(frames + 1) / timeline.fps:.6f}:{colours}"
                f":n={len(p['colours'])}:speed={speed:.6f}:seed={p['seed']}:type={p['type']}:{points}")
    movie = f"movie=filename={escape_filter_value(str(clip.source))}:dec_threads={DECODER_THREADS}"
    if clip.kind == "image" or clip.in_point <= 0:
        return movie  # a still is one frame, decoded once; _pan loops it
    # Seek to the keyframe before the in-point, then drop what precedes it (as -ss before -i does).
    return f"{movie}:seek_point={clip.in_point:.3f},trim=start={clip.in_point:.3f},setpts=PTS-STARTPTS"


def _shape(clip: Clip, timeline: Timeline, frames: int) -> str:
    """Exactly ``frames`` frames of the clip at the output size and rate."""
    w, h, fps = timeline.width, timeline.height, timeline.fps
    if clip.kind == "generated":
        # Converted to YUV while small, so the upscale moves 1.5 bytes a pixel, not 4.
        return f"format=yuv420p,scale={w}:{h}:flags=bilinear,setsar=1,trim=end_frame={frames}"
    if clip.kind == "image":
        return _pan(clip, timeline, frames)
    return (f"crop='min(iw,ih*{w}/{h})':'min(ih,iw*{h}/{w})',scale={w}:{h}:flags=bilinear:out_range=tv,"
            f"setsar=1,fps={fps},tpad=stop_mode=clone:stop={frames},trim=end_frame={frames},"
            f"setpts=PTS-STARTPTS")


def _pan(clip: Clip, timeline: Timeline, frames: int) -> str:
    """Scale the still once to cover the frame with room to move, loop it, and slide a crop across it."""
    w, h = timeline.width, timeline.height
    pan = pan_for(clip)
    last = max(1, frames - 1)
    cover = f"max({w * OVERSCAN:.1f}/iw\\,{h * OVERSCAN:.1f}/ih)"
    position = []
    for axis, (out, size) in enumerate((("ow", "iw"), ("oh", "ih"))):
        start, end = pan.start[axis], pan.end[axis]
        frame = (w, h)[axis]
        # Same arithmetic as motion.Pan.offset: margin/2 + place * min(margin, TRAVEL*frame)/2
        position.append(f"({size}-{out})/2+({start}+({end - start})*n/{last})"
                        f"*min({size}-{out}\\,{TRAVEL * frame:.1f})/2")
    return (f"scale=w='max({w}\\,2*round(iw*{cover}/2))':h='max({h}\\,2*round(ih*{cover}/2))'"
            f":flags=bicubic:out_range=tv,"
            f"format=yuv420p,setsar=1,loop=loop=-1:size=1,setpts=N/({timeline.fps}*TB),"
            f"crop={w}:{h}:x='{position[0]}':y='{position[1]}',trim=end_frame={frames}")


def escape_filter_value(value: str) -> str:
    """Quote a filter option value for a filtergraph string (both escaping levels ffmpeg applies)."""
    level1 = value.replace("\\", "\\\\").replace("'", "\\'").replace(":", "\\:")
    return "".join("\\" + ch if ch in "\\'[],;" else ch for ch in level1)


def _even(value: float) -> int:
    return max(2, int(value) // 2 * 2)
