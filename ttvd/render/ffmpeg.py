"""The default engine: one ffmpeg pass from a Timeline to an MP4, each frame encoded once.

Every clip is a source inside one filtergraph and decodes only while it plays: videos are seeked
to their in-point, stills are decoded and scaled once then panned by a moving crop, generated
backgrounds are drawn small and scaled up. Each clip is cropped to the output aspect before it is
scaled and trimmed to an exact frame count; the clips are joined (cut, or crossed: each clip after
the first starts early and plays under the end of the one before, and only those frames are blended),
captioned by libass and encoded with the narration muxed in. Timelines of more than CHUNK_CLIPS clips
are encoded in runs (one process each, video only) and joined by stream copy, which keeps memory flat.

Colour is BT.709, limited range, converted once by each clip's scaler and tagged in the stream, so
players show the colours we drew.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ttvd import media
from ttvd.render import encoders
from ttvd.render.ass import write_ass
from ttvd.render.motion import OVERSCAN, pan_for
from ttvd.timeline import Clip, Timeline

GENERATED_SCALE = 8  # generated gradients are drawn at 1/8 size and scaled up: smooth, and 4x cheaper than 1/4
DECODER_THREADS = 1  # x264 keeps the cores busy; more decoder threads only add frame buffers
CHUNK_CLIPS = 8      # clips per ffmpeg process: a filtergraph holds each 1080p clip's buffers until it ends
CAPTION_NUDGE = 10000  # frames reach libass 1/10000 of a frame late: see caption_filter
TRANSITION_SECONDS = 0.4  # how long one clip takes to give way to the next: a short crossfade
TRANSITIONS = ("fade", "slide", "zoom")  # drawn by _cross; any other value of Timeline.transition is a cut
ZOOM = 0.3                # how far the clip leaving zooms in during a zoom transition
# Still luma grain over generated backgrounds: x264 at CRF 23 otherwise flattens their smooth ramps into
# steps of flat 16x16 blocks (dither alone does not survive it). Still, not temporal: temporal grain
# doubles x264's work; still grain at 4 costs some bits and little time.
GRAIN = 4
COLOUR = "out_color_matrix=bt709:out_range=tv"  # what every clip's scaler converts to
# The scaler marks only the matrix on the frames it converts, and the encoder takes a frame's marks over
# its own options: every frame says BT.709 in full, so the stream's tags say it too.
FRAME_COLOUR = "setparams=colorspace=bt709:color_primaries=bt709:color_trc=bt709:range=tv"
COLOUR_TAGS = ["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv"]
# The narration mix (ttvd.pipeline.sound) is already 48 kHz stereo at its final loudness: encode it as is.
AUDIO_CODEC = ["-c:a", "aac", "-b:a", "192k", "-ar", "48000", "-ac", "2"]


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


@dataclass(frozen=True)
class Piece:
    """A clip's share of the video: the ``frames`` it owns and its ``lead``, the frames it starts early
    to play under the end of the clip before while the transition between them runs."""

    clip: Clip
    frames: int
    lead: int = 0


def pieces(timeline: Timeline) -> list[Piece]:
    """Every clip with its exact frame count and lead-in; a transition never outlasts the clip it leaves."""
    length = transition_frames(timeline)
    whole = clip_frames(timeline)
    return [Piece(clip, frames, 0 if i == 0 else min(length, whole[i - 1][1]))
            for i, (clip, frames) in enumerate(whole)]


def transition_frames(timeline: Timeline) -> int:
    """Frames one transition lasts (0: clips cut); engines that draw transitions agree on it."""
    return max(1, round(TRANSITION_SECONDS * timeline.fps)) if timeline.transition in TRANSITIONS else 0


def chunks(timeline: Timeline) -> list[list[Piece]]:
    """The pieces in runs of at most CHUNK_CLIPS."""
    whole = pieces(timeline)
    return [whole[i:i + CHUNK_CLIPS] for i in range(0, len(whole), CHUNK_CLIPS)]


def _render_in_chunks(timeline: Timeline, parts: list[list[Piece]], output: Path, workdir: Path,
                      codec: str, on_progress: Callable[[float], None] | None,
                      cancel: threading.Event | None) -> None:
    """Encode each run of clips (video only) once, then join them without re-encoding and add the audio.

    Every frame is still encoded exactly once; a process per run keeps memory flat for long videos,
    because a filtergraph keeps each clip's buffers until it closes.

    A transition across a run boundary is drawn whole by the run before it: a transition runs over the
    last frames of the clip it leaves, so that run also decodes the first ``lead`` frames of the next
    run's first clip and crosses into them. The next run draws that clip from the same start and drops
    those frames, so the boundary falls on the first frame after the transition, both sides are
    frame-identical to a single pass, and no frame is encoded twice.
    """
    total = frame_count(timeline)
    files: list[Path] = []
    done = 0
    try:
        for index, part in enumerate(parts):
            frames = sum(piece.frames for piece in part)
            following = parts[index + 1][0] if index + 1 < len(parts) else None
            files.append(workdir / f"chunk-{index:03d}.mp4")
            report = None if on_progress is None else (
                lambda f, done=done, frames=frames: on_progress(0.99 * (done + f * frames) / total))
            media.run(build_args(timeline, files[-1], "captions.ass", codec, part, done, following),
                      frames / timeline.fps, report, cancel, cwd=workdir)
            done += frames
        listing = workdir / "chunks.txt"
        listing.write_text("".join(f"file '{f.name}'\n" for f in files), encoding="utf-8")
        media.run(["-y", "-f", "concat", "-safe", "0", "-i", listing.name, "-i", timeline.audio,
                   "-map", "0:v", "-map", "1:a", "-c:v", "copy", *AUDIO_CODEC,
                   "-t", f"{total / timeline.fps:.6f}", "-movflags", "+faststart", "-f", "mp4", str(output)],
                  timeline.duration, None, cancel, cwd=workdir)
        if on_progress is not None:
            on_progress(1.0)
    finally:
        for file in files:
            file.unlink(missing_ok=True)


def build_args(timeline: Timeline, output: Path, captions: str, codec: str = "libx264",
               run: list[Piece] | None = None, first_frame: int = 0, following: Piece | None = None) -> list[str]:
    """The ffmpeg arguments for ``timeline``; ``captions`` is the ASS file relative to the cwd.

    With ``run`` (a run of pieces starting at frame ``first_frame``), only their video is encoded, ending
    with the transition into ``following`` (the next run's first piece) when there is one.
    Footage is read by source filters inside the filtergraph rather than by ``-i`` inputs: a source
    decodes only when concat asks it for frames, so clips not yet playing hold no frame queues.
    """
    whole = run is None
    run = pieces(timeline) if run is None else run
    ahead = [Piece(following.clip, 0, following.lead)] if following is not None and following.lead else []
    chains, joined = _graph(timeline, run + ahead)
    # Captions are timed for the whole video: a later run is shifted to its place for libass.
    shift = f"setpts=PTS+{first_frame / timeline.fps:.6f}/TB," if first_frame else ""
    unshift = ",setpts=PTS-STARTPTS" if first_frame else ""
    chains.append(f"{joined}{shift}"
                  f"{caption_filter(timeline, captions)}{unshift}[out]")
    frames = sum(piece.frames for piece in run)
    audio_in, audio_out = (["-i", timeline.audio], ["-map", "0:a", *AUDIO_CODEC]) if whole \
        else ([], ["-an"])
    return [
        "-y", *audio_in,
        "-filter_complex", ";".join(chains),
        "-map", "[out]", *audio_out,
        *encoders.args(codec, timeline.encoder), "-pix_fmt", "yuv420p", *COLOUR_TAGS, "-r", str(timeline.fps),
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


def caption_filter(timeline: Timeline, captions: str) -> str:
    """The libass filter that burns the ASS file ``captions`` with the timeline's font folder (both engines).

    The filter asks libass for each frame at ``pts * time_base * 1000`` milliseconds truncated to an
    integer, and that double product can land a hair under a whole millisecond: frame 111 at 30 fps
    (3.7 s) is asked for at 3699 ms, so a caption or a karaoke word starting at 3.70 s showed a frame
    late (one 0.1 s-aligned time in 13 at 30 fps). The frames reach libass 1/CAPTION_NUDGE of a frame
    late, a tenth of the smallest fraction of a millisecond a frame time can have (1/fps ms): every
    frame is asked for at its true millisecond, none crosses into the next, and they leave on the fps grid.
    """
    font_dir = escape_filter_value(str(Path(timeline.style.font_file).parent))
    ticks = timeline.fps * CAPTION_NUDGE
    return (f"settb=1/{ticks},setpts=PTS+1,ass=filename={escape_filter_value(captions)}:fontsdir={font_dir},"
            f"setpts=PTS-1,settb=1/{timeline.fps}")


def piece_chain(piece: Piece, timeline: Timeline) -> str:
    """The filters that draw ``piece``, lead-in included, as yuv420p frames numbered from 0 at the output rate."""
    frames = piece.lead + piece.frames
    return (f"{_source(piece.clip, timeline, frames)},{_shape(piece.clip, timeline, frames)},"
            f"format=yuv420p,{FRAME_COLOUR},settb=1/{timeline.fps},setpts=N")


def _graph(timeline: Timeline, run: list[Piece]) -> tuple[list[str], str]:
    """The chains that draw and join ``run``, and the head of the chain that takes the joined video.

    Each clip is split into up to three parts: its lead-in (drawn under the clip before, in the
    transition into it), its middle, and its last frames (under the lead-in of the next clip). The
    middles and the transitions are concatenated, so only a transition's few frames are blended, and
    each clip still owns exactly its frames. The first clip of a run after the first has its lead-in
    drawn by the run before; a last piece of no frames is only the lead-in of the next run's first clip.
    """
    chains: list[str] = []
    segments: list[str] = []
    for index, piece in enumerate(run):
        tail = run[index + 1].lead if index + 1 < len(run) else 0
        parts = {"h": (0, piece.lead) if index else (0, 0),
                 "m": (piece.lead, piece.lead + piece.frames - tail),
                 "t": (piece.lead + piece.frames - tail, piece.lead + piece.frames)}
        parts = {name: span for name, span in parts.items() if span[1] > span[0]}
        chains.append(f"{piece_chain(piece, timeline)}"
                      + (f",split={len(parts)}" if len(parts) > 1 else "")
                      + "".join(f"[{name}{index}]" for name in parts))
        for name, (start, end) in parts.items():
            chains.append(f"[{name}{index}]trim=start_frame={start}:end_frame={end},setpts=N[{name}{index}p]")
        if "h" in parts:
            chains.append(_cross(timeline, piece.lead, f"[t{index - 1}p]", f"[h{index}p]", index))
            segments.append(f"[x{index}]")
        if "m" in parts:
            segments.append(f"[m{index}p]")
    return chains, "".join(segments) + f"concat=n={len(segments)}:v=1:a=0,"


def _cross(timeline: Timeline, frames: int, leaving: str, arriving: str, index: int) -> str:
    """The transition ``[x<index>]``: ``frames`` frames from the last of ``leaving`` and the first of ``arriving``.

    fade: the arriving clip's opacity rises from 0, a crossfade. slide: it pushes the leaving one out
    to the left, easing in and out. zoom: the leaving clip zooms in by ZOOM while the arriving one
    fades in over it. The arriving clip's first frame is never fully shown here, so the
    first frame of its middle is the first without the leaving clip.
    """
    w, h, fps = timeline.width, timeline.height, timeline.fps
    fade_in = f"format=yuva420p,fade=t=in:nb_frames={frames}:alpha=1"
    if timeline.transition == "slide":
        place = f"(n+1)/{frames + 1}"
        eased = f"{place}*{place}*(3-2*{place})"  # smoothstep: starts and lands softly
        return f"{leaving}{arriving}hstack,crop={w}:{h}:x='{w}*{eased}':y=0[x{index}]"
    if timeline.transition == "zoom":
        zoom = f"1+{ZOOM}*(on+1)/{frames}"
        return (f"{leaving}zoompan=z='{zoom}':x='iw/2-iw/zoom/2':y='ih/2-ih/zoom/2':d=1:s={w}x{h}:fps={fps},"
                f"setsar=1,settb=1/{fps},setpts=N[z{index}];{arriving}{fade_in}[f{index}];"
                f"[z{index}][f{index}]overlay=format=yuv420[x{index}]")
    return f"{arriving}{fade_in}[f{index}];{leaving}[f{index}]overlay=format=yuv420[x{index}]"


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
        # Drawn in 16 bits and converted once while scaled up: the scaler dithers the ramps down to
        # 8 bits, where an 8-bit upscale would draw each step of the small gradient as a visible stripe.
        return (f"format=rgba64,scale={w}:{h}:flags=bilinear:{COLOUR},format=yuv420p,noise=c0s={GRAIN},"
                f"setsar=1,trim=end_frame={frames}")
    if clip.kind == "image":
        return _pan(clip, timeline, frames)
    return (f"crop='min(iw,ih*{w}/{h})':'min(ih,iw*{h}/{w})',scale={w}:{h}:flags=bicubic:{COLOUR},"
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
        # Same arithmetic as motion.Pan.offset: margin/2 + place * min(margin, reach*frame)/2
        position.append(f"({size}-{out})/2+({start}+({end - start})*n/{last})"
                        f"*min({size}-{out}\\,{pan.reach * frame:.1f})/2")
    return (f"scale=w='max({w}\\,2*round(iw*{cover}/2))':h='max({h}\\,2*round(ih*{cover}/2))'"
            f":flags=bicubic:{COLOUR},"
            f"format=yuv420p,setsar=1,loop=loop=-1:size=1,setpts=N/({timeline.fps}*TB),"
            f"crop={w}:{h}:x='{position[0]}':y='{position[1]}',trim=end_frame={frames}")


def escape_filter_value(value: str) -> str:
    """Quote a filter option value for a filtergraph string (both escaping levels ffmpeg applies)."""
    level1 = value.replace("\\", "\\\\").replace("'", "\\'").replace(":", "\\:")
    return "".join("\\" + ch if ch in "\\'[],;" else ch for ch in level1)


def _even(value: float) -> int:
    return max(2, int(value) // 2 * 2)
