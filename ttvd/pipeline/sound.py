"""Sound: the narration after a short lead-in, a music bed ducked under it, and the whole mix brought
to TARGET_LUFS integrated with true peaks under CEILING_DBTP, as ``work/<id>/mix.wav`` (48 kHz stereo).

Every step is an ffmpeg pass over audio only, measured by its own ``ebur128`` filter on the way out:

1. the narration measured, then brought to VOICE_LUFS, lightly compressed, delayed by the lead-in and
   padded to the video's length, and measured again as it will be heard (nothing is written);
2. the bed (``ttvd.pipeline.music`` chooses and draws it) into ``mix-bed.wav``, measured;
3. the mix into ``mix-raw.wav``: the voice back at VOICE_LUFS, the bed looped under it at
   ``music_volume`` (100% is as loud as the voice), faded in and out, and ducked by a side-chain
   compressor keyed by the voice;
4. the gain to TARGET_LUFS and a true-peak limiter (run at 4x the rate, where true peaks are samples)
   into ``mix.wav``; again with the rest of the gain when the limiter took off more than a little.

``mix-bed.wav`` and ``mix-raw.wav`` are removed as soon as they are used; ``mix.wav`` is what the
Timeline's audio points at.

The lead-in moves every word, so the captions and clips are shifted here too (``shift``).
"""
from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from ttvd import media
from ttvd.timeline import Caption, Clip, Speech

RATE = 48000
LEAD_IN = 0.4         # seconds of bed (or silence) before the first word
TAIL = 0.7            # seconds after the last word
MIN_SECONDS = 2.0     # a one-word text still makes a clip one can watch
TARGET_LUFS = -14.0   # what the short-video platforms normalise to
CEILING_DBTP = -2.0   # the limiter's ceiling, under the -1 dBTP promised: AAC encoding adds a few tenths
TOLERANCE_LU = 0.3    # how far from the target a pass may land before the gain is corrected once more
VOICE_LUFS = -16.0    # the narration's level in the mix, so music_volume means the same for every voice
SILENT_LUFS = -69.0   # ebur128 says -70 when nothing passes its gate
FADE_IN, FADE_OUT = 0.3, 1.0
# The voice at VOICE_LUFS: its peaks come ~3 dB closer to its loudness (eSpeak: 19.6 -> 16.5 dB), so
# the limiter has less to take off them.
VOICE_COMPRESSOR = "acompressor=threshold=0.2:ratio=3:attack=3:release=80:knee=4"
# The bed under words: 12-16 dB further down within 20 ms of a word, back up over ~0.4 s of silence.
DUCKING = "sidechaincompress=threshold=0.02:ratio=5:attack=20:release=400:knee=2.8:link=maximum"


class Bed(Protocol):
    """A music bed as the mix takes it (``ttvd.pipeline.music.Bed``): a name and a reason for the log,
    and ffmpeg input giving the bed as stereo float at ``rate``, to be looped."""

    @property
    def name(self) -> str: ...
    @property
    def reason(self) -> str: ...
    def source(self, seconds: float, seed_text: str, rate: int) -> tuple[list[str], str]: ...


@dataclass(frozen=True)
class Level:
    """Integrated loudness (LUFS) and true peak (dBTP) of a pass's output."""

    integrated: float
    true_peak: float

    @property
    def silent(self) -> bool:
        return self.integrated <= SILENT_LUFS


@dataclass(frozen=True)
class Mix:
    path: Path
    lead: float       # the narration starts this many seconds into the video
    duration: float   # the video's length: whole frames, the mix exactly as long
    level: Level


def layout(speech_duration: float, fps: int) -> tuple[float, float]:
    """The lead-in and the video's length for narration of ``speech_duration`` seconds."""
    seconds = max(MIN_SECONDS, LEAD_IN + speech_duration + TAIL)
    return LEAD_IN, math.ceil(seconds * fps - 1e-6) / fps


def mix(speech: Speech, bed: Bed | None, volume: int, fps: int, job_id: str, workdir: Path,
        say: Callable[[str], None], cancel: threading.Event | None = None) -> Mix:
    """Write ``workdir/mix.wav``: ``speech`` over ``bed`` at ``volume`` percent (or none), for a video at
    ``fps``; ``job_id`` picks a synthesised bed's key; ``say`` logs for the job."""
    lead, duration = layout(speech.duration, fps)
    inputs = ["-i", str(Path(speech.audio).resolve())]
    graph = _voice(inputs, speech.duration, lead, duration, workdir, cancel)
    made = []
    if bed is None or volume == 0:
        say("Music bed: none" + (" (music_volume is 0)" if bed is not None else ""))
    else:
        bed_inputs, bed_graph = bed.source(duration, job_id, RATE)
        made.append(workdir / "mix-bed.wav")
        bed_level = run_measured(bed_inputs, bed_graph, made[-1], duration, workdir, cancel)
        if bed_level.silent:
            say(f"Music bed: {bed.name} is silent, so there is none")
        else:
            say(f"Music bed: {bed.name}, {bed.reason}, at {volume}%")
            inputs += ["-stream_loop", "-1", "-i", made[-1].name]
            graph = _ducked(graph, VOICE_LUFS + 20 * math.log10(volume / 100) - bed_level.integrated, duration)
    raw = workdir / "mix-raw.wav"
    level = run_measured(inputs, graph, raw, duration, workdir, cancel)
    for path in made:
        path.unlink(missing_ok=True)
    result = _normalise(raw, level, workdir / "mix.wav", duration, workdir, cancel)
    raw.unlink(missing_ok=True)
    say(f"Sound: {result.integrated:.1f} LUFS integrated, true peak {result.true_peak:.1f} dBTP, "
        f"{RATE // 1000} kHz stereo, {duration:.2f} s with a {lead:.1f} s lead-in")
    return Mix(workdir / "mix.wav", lead, duration, result)


def _voice(inputs: list[str], length: float, lead: float, duration: float, workdir: Path,
           cancel: threading.Event | None) -> str:
    """The chain that brings the narration of input 0 to VOICE_LUFS, compresses it, places it after
    ``lead`` seconds of silence and pads it to ``duration``.

    The compressor lowers the loudness by an amount that depends on the voice, so the chain is run
    twice to measure (nothing is written) and ends in the gain that puts the result at VOICE_LUFS.
    """
    raw = run_measured(inputs, "[0:a]anull", None, length, workdir, cancel)
    chain = (f"[0:a]aresample={RATE},aformat=sample_fmts=flt:channel_layouts=stereo,"
             f"volume={0.0 if raw.silent else VOICE_LUFS - raw.integrated:.2f}dB,{VOICE_COMPRESSOR},"
             f"adelay=delays={round(lead * 1000)}:all=1,apad=whole_dur={duration:.6f},atrim=end={duration:.6f}")
    placed = run_measured(inputs, chain, None, duration, workdir, cancel)
    return f"{chain},volume={0.0 if placed.silent else VOICE_LUFS - placed.integrated:.2f}dB"


def _ducked(voice: str, bed_gain: float, duration: float) -> str:
    """``voice`` (a chain from input 0) mixed with the bed of input 1, ducked under it."""
    return (f"{voice},asplit=2[voice][key];"
            f"[1:a]atrim=end={duration:.6f},volume={bed_gain:.2f}dB,afade=t=in:d={FADE_IN},"
            f"afade=t=out:st={max(0.0, duration - FADE_OUT):.6f}:d={FADE_OUT}[bed];"
            f"[bed][key]{DUCKING}[ducked];[voice][ducked]amix=inputs=2:normalize=0:duration=first")


def _normalise(raw: Path, level: Level, output: Path, duration: float, workdir: Path,
               cancel: threading.Event | None) -> Level:
    """Gain ``raw`` to TARGET_LUFS through a 4x-oversampled limiter; a second pass corrects what it took."""
    gain = 0.0 if level.silent else TARGET_LUFS - level.integrated
    ceiling = 10 ** (CEILING_DBTP / 20)
    for _ in range(2):
        graph = (f"[0:a]volume={gain:.3f}dB,aresample={4 * RATE}:resampler=soxr,alimiter=limit={ceiling:.5f}:"
                 f"attack=1:release=60:level=0:latency=1,aresample={RATE}:resampler=soxr")
        result = run_measured(["-i", raw.name], graph, output, duration, workdir, cancel, "pcm_s16le", peak=True)
        if result.silent or abs(result.integrated - TARGET_LUFS) <= TOLERANCE_LU:
            break
        gain += TARGET_LUFS - result.integrated
    return result


# -- measuring passes ------------------------------------------------------------------------------------

def run_measured(inputs: list[str], graph: str, output: Path | None, duration: float, workdir: Path,
                 cancel: threading.Event | None, codec: str = "pcm_f32le", peak: bool = False) -> Level:
    """Run ``graph`` (its last chain unlabelled) into ``output`` at RATE, or nowhere, and measure it.

    The true peak is measured only with ``peak`` (it costs more than the loudness); else it is -inf.
    """
    report = workdir / f"{output.stem if output else 'measure'}.r128"
    sink = ["-c:a", codec, "-ar", str(RATE), "-ac", "2", str(output)] if output else ["-f", "null", "-"]
    media.run(["-y", *inputs, "-filter_complex", f"{graph},{_meter(report.name, peak)}[out]", "-map", "[out]",
               *sink], duration, None, cancel, cwd=workdir)
    return _read_level(report)


def _meter(report: str, peak: bool) -> str:
    return f"ebur128=metadata=1:peak={'true' if peak else 'none'},ametadata=mode=print:file={report}"


def _read_level(report: Path) -> Level:
    """The last integrated loudness and the highest true peak that ``ebur128`` reported frame by frame."""
    integrated, peak = -70.0, 0.0
    lines = report.read_text(encoding="utf-8").splitlines() if report.exists() else []
    for line in lines:
        key, _, value = line.partition("=")
        if key == "lavfi.r128.I":
            integrated = float(value)
        elif key.startswith("lavfi.r128.true_peaks_ch"):
            peak = max(peak, float(value))
    report.unlink(missing_ok=True)
    return Level(integrated, 20 * math.log10(peak) if peak > 0 else -math.inf)


# -- the timeline follows the lead-in ----------------------------------------------------------------------

def shift(captions: list[Caption], clips: list[Clip], lead: float,
          duration: float) -> tuple[list[Caption], list[Clip]]:
    """``captions`` and ``clips`` moved ``lead`` seconds later; the clips still cover 0..``duration``."""
    moved = [replace(c, start=round(c.start + lead, 3), end=round(c.end + lead, 3),
                     words=[replace(w, start=round(w.start + lead, 3), end=round(w.end + lead, 3)) for w in c.words])
             for c in captions]
    footage = [replace(c, start=round(c.start + lead, 3), end=round(c.end + lead, 3)) for c in clips]
    if footage:
        footage[0] = replace(footage[0], start=0.0)
        footage[-1] = replace(footage[-1], end=duration)
    return moved, footage
