"""``ttvd render``: the whole pipeline in this process, one MP4 and its side files, with progress on stderr."""
from __future__ import annotations

import argparse
import errno
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

from ttvd import config
from ttvd.cli.jobs import job_options, read_input
from ttvd.errors import ConfigError
from ttvd.job import STAGE_BY_NAME, new_id
from ttvd.progress import Progress

log = logging.getLogger("ttvd")


def render(args: argparse.Namespace, settings: config.Settings) -> int:
    from ttvd import pipeline
    from ttvd.pipeline import subtitles

    text = read_input(args.file, settings)
    chosen = job_options(args.option, engine=args.engine)
    output = Path(args.output).resolve()
    check_output(output)
    started = time.monotonic()
    with Progress(sys.stderr, clock=time.monotonic, tick=1.0) as bar, \
            tempfile.TemporaryDirectory(prefix="ttvd-render-") as tmp:
        work = Path(tmp)
        job = pipeline.Job(new_id(), text, settings, work / "work", work / "audio.wav",
                           work / "video.mp4", _PrintReporter(bar), chosen)
        pipeline.run(job)
        subtitles.move(job.output, output)  # captions as SRT and WebVTT, word timings as JSON
        shutil.move(str(job.output), output)
        bar.update("done", 100, f"Video generation completed in {time.monotonic() - started:.1f} s")
    print(output)
    return 0


def check_output(output: Path) -> None:
    """Refuse, before any work, a video path that could not be written; a missing folder is made."""
    if output.is_dir():
        raise ConfigError(f"-o names a folder ({output}): give a file name, such as {output / 'video.mp4'}")
    folder = output.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        if exc.errno in (errno.EEXIST, errno.ENOTDIR):  # a file stands where a folder should be
            why, where = "not a folder", next(path for path in (folder, *folder.parents) if path.exists())
        else:
            why, where = exc.strerror or str(exc), Path(exc.filename or folder)
        where = folder if where.parent == folder else where  # our probe file: name the folder
        raise ConfigError(f"cannot write the video ({output}): {why} ({where}); "
                          "choose -o in a folder you can write") from None


class _PrintReporter:
    """Progress of an in-process render, on standard error: a bar on a terminal, else a line per stage."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar

    def stage_started(self, stage: str) -> None:
        info = STAGE_BY_NAME[stage]
        self.bar.update(stage, info.progress, info.message)

    def stage_finished(self, stage: str) -> None:
        pass

    def progress(self, percent: int) -> None:
        self.bar.update("render", percent, STAGE_BY_NAME["render"].message)

    def log(self, line: str) -> None:
        log.debug(line)

    def credits(self, entries: list[dict]) -> None:
        for entry in entries:
            self.bar.note(f"     footage by {entry['author']}: {entry['page']}")
