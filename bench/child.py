"""Render one Timeline with one engine: ``python -m bench.child ENGINE TIMELINE.json OUT.mp4``."""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from ttvd import render
from ttvd.timeline import Timeline


def main(engine: str, timeline_json: str, output: str) -> None:
    timeline = Timeline.from_dict(json.loads(Path(timeline_json).read_text()))
    with tempfile.TemporaryDirectory(prefix="ttvd-bench-") as work:
        render.engine(engine)(timeline, Path(output), Path(work))


if __name__ == "__main__":
    main(*sys.argv[1:4])
