"""Footage from the user's own media folder (``TTVD_MEDIA_DIR``): video clips and still images.

A file matches a passage's query by the words of its name (``city-night.mp4``) and of an optional
sidecar file of tags next to it (``city-night.tags``: words or phrases separated by commas or lines).
Stills get slow pan/zoom motion from the render engine. No file is used twice in one video; a clip
shorter than its passage covers what it can and the next source fills the rest. A file smaller than
the frame (it would be upscaled) is used only when no file that covers the frame matches.
"""
from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
from PIL import Image

from ttvd import media
from ttvd.config import Settings
from ttvd.errors import ConfigError
from ttvd.timeline import Clip, Passage

log = logging.getLogger(__name__)
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".webm", ".mkv")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
MIN_VIDEO_SECONDS = 1.0
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


@dataclass
class MediaItem:
    path: Path
    kind: str           # "video" or "image"
    tags: frozenset[str]
    duration: float | None = None
    size: tuple[int, int] | None = None  # width, height; (0, 0) when it cannot be read


def words(text: str) -> set[str]:
    """Comparable words: lower case, a plural's trailing ``s`` dropped (``waves`` matches ``wave``)."""
    found = set()
    for word in _WORD.findall(text.casefold()):
        found.add(word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word)
    return found


def scan(folder: Path) -> list[MediaItem]:
    """Every usable file directly in ``folder`` or below it, sorted by path."""
    items = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        suffix = path.suffix.lower()
        kind = "video" if suffix in VIDEO_SUFFIXES else "image" if suffix in IMAGE_SUFFIXES else None
        if kind:
            items.append(MediaItem(path, kind, frozenset(words(path.stem) | _sidecar_tags(path))))
    return items


def _sidecar_tags(path: Path) -> set[str]:
    sidecar = path.with_suffix(".tags")
    try:
        return words(sidecar.read_text(encoding="utf-8", errors="replace")) if sidecar.is_file() else set()
    except OSError:
        return set()


class MediaFolder:
    """Footage source for the planner in ``ttvd.pipeline.footage``; empty when no folder is set."""

    name = "media folder"

    def __init__(self, settings: Settings, job_id: str = "") -> None:
        folder = settings.media_dir
        self.frame = settings.size()
        self.items: list[MediaItem] = []
        if folder is not None:
            if not folder.is_dir():
                raise ConfigError(f"TTVD_MEDIA_DIR={folder} is not a folder")
            self.items = scan(folder)
        self.used: set[Path] = set()
        self.job_id = job_id

    def clip_for(self, passage: Passage, start: float, end: float) -> Clip | None:
        """The best unused file for the passage's queries, in query order; None when none matches.

        Files that cover the frame come first: a smaller one only when no query matches a large one.
        """
        for large_only in (True, False):
            for query in passage.queries:
                wanted = words(query)
                ranked = sorted((item for item in self.items if item.path not in self.used and wanted & item.tags),
                                key=lambda item: -len(wanted & item.tags))
                for item in ranked:
                    if large_only and not self._covers(item):
                        continue
                    clip = self._clip(item, start, end, query)
                    if clip is not None:
                        self.used.add(item.path)
                        return clip
        return None

    def _covers(self, item: MediaItem) -> bool:
        """True when ``item`` cropped to the frame's aspect is at least as large as the frame."""
        if item.size is None:
            item.size = _size(item)
        (width, height), (frame_w, frame_h) = item.size, self.frame
        return min(height, width * frame_h / frame_w) >= frame_h if width and height else False

    def _clip(self, item: MediaItem, start: float, end: float, query: str) -> Clip | None:
        params = {"source": "media", "file": item.path.name, "query": query}
        if item.kind == "image":
            seed = int(hashlib.sha256(f"{self.job_id}:{item.path.name}".encode()).hexdigest()[:8], 16)
            return Clip(start, end, "image", str(item.path), params={**params, "motion": "pan_zoom", "seed": seed})
        if item.duration is None:
            item.duration = media.duration(item.path) or 0.0
            if not item.duration:
                log.warning("cannot read %s; it is not used", item.path)
        if item.duration < MIN_VIDEO_SECONDS:
            return None
        return Clip(start, min(end, start + item.duration), "video", str(item.path), params=params)


def _size(item: MediaItem) -> tuple[int, int]:
    """Width and height of a still or of a video's frames, from the file's header; (0, 0) if unreadable."""
    try:
        if item.kind == "image":
            with Image.open(item.path) as image:
                return image.size
        frames = imageio_ffmpeg.read_frames(str(item.path))
        try:
            width, height = next(frames)["size"]
        finally:
            frames.close()
        return int(width), int(height)
    except (OSError, RuntimeError, StopIteration, KeyError, ValueError):
        log.warning("cannot read the size of %s", item.path)
        return (0, 0)
