"""Side files: the captions of a video as SRT and WebVTT and its word timings as JSON, beside the MP4.

They are made from the Timeline the render used, so their times are the burned captions' times
(after any lead-in shift). ``output/video_<id>.mp4`` gets ``video_<id>.srt``, ``.vtt`` and ``.json``;
each is written atomically.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ttvd import atomic
from ttvd.home import SIDE_SUFFIXES
from ttvd.timeline import Caption, Timeline

SUFFIXES = SIDE_SUFFIXES  # .srt, .vtt, .json


def side_files(video: Path) -> list[Path]:
    """The side files of ``video``: same folder and stem, one per suffix."""
    return [video.with_suffix(suffix) for suffix in SUFFIXES]


def write(timeline: Timeline, video: Path) -> list[Path]:
    """Write the side files of ``video`` from ``timeline``'s captions and return their paths."""
    srt_path, vtt_path, json_path = side_files(video)
    atomic.write_bytes(srt_path, srt(timeline.captions).encode("utf-8"))
    atomic.write_bytes(vtt_path, vtt(timeline.captions).encode("utf-8"))
    atomic.write_json(json_path, word_timings(timeline))
    return [srt_path, vtt_path, json_path]


def move(video: Path, to: Path) -> None:
    """Move the side files of ``video`` beside ``to``, renamed after it (``x.mp4`` gets ``x.srt`` ...).

    Each lands atomically even on another filesystem (a temporary folder to the user's), then the
    original goes.
    """
    for source, dest in zip(side_files(video), side_files(to), strict=True):
        if source.exists():
            atomic.write_bytes(dest, source.read_bytes())
            source.unlink()


def srt(captions: list[Caption]) -> str:
    """SubRip: numbered cues, ``HH:MM:SS,mmm`` times, the caption's lines as shown."""
    cues = [f"{number}\n{_time(c.start, ',')} --> {_time(c.end, ',')}\n" + "\n".join(_lines(c)) + "\n"
            for number, c in enumerate(captions, start=1)]
    return "\n".join(cues)


def vtt(captions: list[Caption]) -> str:
    """WebVTT: ``HH:MM:SS.mmm`` times; ``&``, ``<`` and ``>`` escaped so the text shows as typed."""
    cues = [f"{_time(c.start, '.')} --> {_time(c.end, '.')}\n" + "\n".join(_escape(line) for line in _lines(c)) + "\n"
            for c in captions]
    return "\n".join(["WEBVTT\n", *cues])


def word_timings(timeline: Timeline) -> dict[str, Any]:
    """Every caption with its lines and the start and end of each of its words, in seconds."""
    return {"duration": round(timeline.duration, 3), "captions": [
        {"start": c.start, "end": c.end, "lines": c.lines,
         "words": [{"text": w.text, "start": w.start, "end": w.end} for w in c.words]}
        for c in timeline.captions]}


def _lines(caption: Caption) -> list[str]:
    # a blank line would end the cue early in both formats
    return [line for line in caption.lines if line.strip()] or [caption.text]


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _time(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}{separator}{rest % 1000:03d}"
