"""Every path of a ttvd home, named once: the spool's queues and states, daemons, output, work, watch.

A job's paths are only built for a valid job id (``Home.job``), so no path is ever made from a name
a client chose. Nothing here touches the disk except ``ensure()``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ttvd.errors import InputError
from ttvd.job import is_valid_id

QUEUES = ("tmp", "incoming", "active", "done", "failed", "corrupt")
NOT_FOUND = "Job not found"
# What GET /download/<id>?format= serves, and the suffix of each file beside output/video_<id>.mp4
# (the side files are written by ttvd.pipeline.subtitles).
DOWNLOADS = {"mp4": ".mp4", "srt": ".srt", "vtt": ".vtt", "json": ".json"}
SIDE_SUFFIXES = tuple(suffix for suffix in DOWNLOADS.values() if suffix != ".mp4")


class UnknownJob(InputError):
    """A job id that is not one ttvd could have made; no path is built from it."""

    def __init__(self) -> None:
        super().__init__(NOT_FOUND)


@dataclass(frozen=True)
class JobPaths:
    """The files of one job (its id already checked)."""

    job_id: str
    state: Path
    audio: Path
    video: Path
    work: Path

    @property
    def partial_video(self) -> Path:
        """Where the video is written before it is moved into place (hidden, so never served)."""
        return self.video.with_name(f".{self.video.name}.part")

    def download(self, fmt: str) -> Path:
        """The file served as ``fmt`` (a key of ``DOWNLOADS``)."""
        return self.video.with_suffix(DOWNLOADS[fmt])

    @property
    def side_files(self) -> list[Path]:
        """The captions (SRT, WebVTT) and word timings (JSON) beside the video."""
        return [self.video.with_suffix(suffix) for suffix in SIDE_SUFFIXES]


class Home:
    """The directory tree of one ttvd home (``TTVD_HOME``)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.spool = self.root / "spool"
        self.states = self.spool / "state"
        self.daemons = self.spool / "daemons"   # one status file per running daemon
        self.voices = self.spool / "voices.json"  # the voice catalogue, published by each daemon at start
        self.cancels = self.spool / "cancel"    # cancel/<id>: a request to stop a job, noticed by its owner
        self.outbox = self.spool / "outbox"     # webhook events waiting to be delivered
        self.output = self.root / "output"
        self.work = self.root / "work"
        self.watch = self.root / "watch"
        self.watch_processed = self.watch / "processed"
        self.watch_failed = self.watch / "failed"
        self.cache = self.root / "cache"

    def queue(self, name: str) -> Path:
        """The spool queue directory ``name`` (one of ``QUEUES``)."""
        if name not in QUEUES:
            raise ValueError(f"no spool queue called {name!r}")
        return self.spool / name

    def request(self, queue: str, job_id: str) -> Path:
        """Where the request of ``job_id`` lies while in ``queue``."""
        return self.queue(queue) / f"{self.job(job_id).job_id}.json"

    def job(self, job_id: str) -> JobPaths:
        """The paths of job ``job_id``; ``UnknownJob`` for anything that is not a server-made id."""
        if not is_valid_id(job_id):
            raise UnknownJob()
        return JobPaths(job_id, self.states / f"{job_id}.json", self.output / f"audio_{job_id}.wav",
                        self.output / f"video_{job_id}.mp4", self.work / job_id)

    def ensure(self) -> Home:
        """Create every directory of the home that is missing."""
        for path in (*map(self.queue, QUEUES), self.states, self.output, self.work, self.watch_processed,
                     self.watch_failed, self.cancels, self.outbox):
            path.mkdir(parents=True, exist_ok=True)
        return self
