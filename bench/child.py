"""Render one Timeline with one engine: ``python -m bench.child ENGINE TIMELINE.json OUT.mp4``.

ENGINE ``ttvd`` is the default render stage as a job runs it: the narration mixed over a music bed
and brought to its loudness (``ttvd.pipeline.sound``), then the ffmpeg engine with fade transitions
and karaoke captions; the other names are the engines alone on the Timeline as given.
"""
from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from ttvd import render
from ttvd.pipeline import music, sound
from ttvd.timeline import Speech, Timeline, Word


def main(engine: str, timeline_json: str, output: str) -> None:
    timeline = Timeline.from_dict(json.loads(Path(timeline_json).read_text()))
    with tempfile.TemporaryDirectory(prefix="ttvd-bench-") as work:
        if engine == "ttvd":
            timeline, engine = as_a_job(timeline, Path(work)), "ffmpeg"
        render.engine(engine)(timeline, Path(output), Path(work))


def as_a_job(timeline: Timeline, work: Path) -> Timeline:
    """``timeline`` as a job renders it by default: its sound mixed over the calm bed, fade transitions."""
    words = [word for caption in timeline.captions for word in caption.words]
    speech = Speech(timeline.audio, timeline.duration, [Word(w.text, w.start, w.end) for w in words])
    bed = music.choose("calm", "", None)
    mixed = sound.mix(speech, bed, 30, timeline.fps, "bench", work, lambda line: None)
    captions, clips = sound.shift(timeline.captions, timeline.clips, mixed.lead, mixed.duration)
    return replace(timeline, audio=str(mixed.path), duration=mixed.duration, captions=captions, clips=clips,
                   transition="fade")


if __name__ == "__main__":
    main(*sys.argv[1:4])
