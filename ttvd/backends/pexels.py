"""Footage from Pexels video search: one clip per passage, never the same video twice in one video.

For each passage the queries are tried in order, first in the output's orientation, then in any
(a landscape clip cover-cropped into a portrait frame beats a generated background). A video must
last as long as its passage; its file is the smallest that covers the frame after cropping, closest
to the output aspect. A video with no file that large (it would be upscaled) is taken only when no
query finds one that has. Files land in the shared download cache.
"""
from __future__ import annotations

import logging
from typing import Any

import requests

from ttvd.backends.cache import DownloadCache
from ttvd.backends.service import Retryable, RetryPolicy, classify, quiet_transport_logs, scrub
from ttvd.config import Settings
from ttvd.errors import ConfigError, ServiceError, ServiceUnavailable
from ttvd.home import Home
from ttvd.timeline import Clip, Passage

log = logging.getLogger(__name__)
SERVICE = "Pexels"
PER_PAGE = 30
ORIENTATIONS = {"9:16": "portrait", "16:9": "landscape", "1:1": "square"}


class PexelsSource:
    """Footage source for the planner in ``ttvd.pipeline.footage``."""

    name = "Pexels"

    def __init__(self, settings: Settings, job_id: str = "") -> None:
        self.key = settings.pexels_api_key
        if not self.key:
            raise ConfigError("Pexels was chosen but PEXELS_API_KEY is not set")
        quiet_transport_logs()
        self.base = settings.pexels_api_url.rstrip("/")
        self.width, self.height = settings.size()
        self.orientation = ORIENTATIONS[settings.aspect]
        self.timeout = settings.http_timeout
        self.policy = RetryPolicy.from_settings(settings)
        self.session = requests.Session()
        root = settings.cache_dir or Home(settings.home).cache
        self.cache = DownloadCache(root / "footage", settings.download_max_bytes, self.timeout, self.policy,
                                   self.session)
        self.job_id = job_id
        self.used: set[Any] = set()
        self._results: dict[tuple[str, str | None], list[dict]] = {}

    def clip_for(self, passage: Passage, start: float, end: float) -> Clip | None:
        """A Pexels clip for ``start..end`` of ``passage``, or None when no query finds a usable one.

        Searches are kept per query, so the second round (small files allowed) asks Pexels nothing new.
        """
        for large_only in (True, False):
            for orientation in (self.orientation, None):
                for query in passage.queries:
                    clip = self._first_usable(query, orientation, start, end, large_only)
                    if clip is not None:
                        return clip
        return None

    def _first_usable(self, query: str, orientation: str | None, start: float, end: float,
                      large_only: bool) -> Clip | None:
        for video in self.search(query, orientation):
            if video.get("id") in self.used or float(video.get("duration") or 0) < end - start:
                continue
            chosen = pick_file(video.get("video_files") or [], self.width, self.height)
            if chosen is None or (large_only and not covers(chosen, self.width, self.height)):
                continue
            try:
                path, fresh = self.cache.fetch(chosen["link"], SERVICE)
            except ServiceUnavailable:
                raise
            except ServiceError as exc:  # this one file is refused or too big: try the next video
                log.warning("job %s: Pexels video %s skipped: %s", self.job_id, video.get("id"), exc)
                continue
            self.used.add(video.get("id"))
            user = video.get("user") or {}
            slack = float(video.get("duration") or 0) - (end - start)
            return Clip(start, end, "video", str(path), in_point=round(min(1.0, max(0.0, slack / 2)), 3), params={
                "source": "pexels", "id": video.get("id"), "page": video.get("url"), "author": user.get("name"),
                "author_url": user.get("url"), "query": query, "file": chosen["link"],
                "width": chosen.get("width"), "height": chosen.get("height"), "cached": not fresh})
        return None

    def search(self, query: str, orientation: str | None) -> list[dict]:
        """The videos Pexels finds for ``query`` (first page, ``PER_PAGE`` of them)."""
        key = (query, orientation)
        if key not in self._results:
            params = {"query": query, "per_page": PER_PAGE, "page": 1}
            if orientation:
                params["orientation"] = orientation
            self._results[key] = self.policy.call(SERVICE, "search", lambda: self._get("/videos/search", params))
        return self._results[key]

    def _get(self, path: str, params: dict) -> list[dict]:
        try:
            response = self.session.get(self.base + path, params=params, headers={"Authorization": self.key},
                                        timeout=(self.timeout, self.timeout))
        except requests.Timeout:
            raise Retryable("the search timed out") from None
        except requests.ConnectionError:
            raise Retryable(f"cannot connect to {self.base}") from None
        if response.status_code >= 400:
            raise classify(SERVICE, response.status_code, scrub(response.text, self.key)[:200],
                           response.headers.get("Retry-After"))
        try:
            videos = response.json().get("videos")
        except (ValueError, AttributeError):
            raise Retryable("the search answer is not JSON") from None
        return [v for v in videos if isinstance(v, dict)] if isinstance(videos, list) else []


def pick_file(files: list[dict], width: int, height: int) -> dict | None:
    """The MP4 to download for a ``width`` x ``height`` frame.

    Preferred: files that still cover the frame after a centre crop to its aspect (never stretched),
    closest to the aspect, smallest first. Else the one whose crop comes closest to covering it.
    """
    target = width / height
    usable = [f for f in files if f.get("link") and int(f.get("width") or 0) > 0 and int(f.get("height") or 0) > 0
              and f.get("file_type", "video/mp4") == "video/mp4"]
    if not usable:
        return None

    def aspect_gap(f: dict) -> float:
        return abs(f["width"] / f["height"] - target) / target

    covering = [f for f in usable if covers(f, width, height)]
    if covering:
        return min(covering, key=lambda f: (round(aspect_gap(f), 2), f["width"] * f["height"]))
    return max(usable, key=lambda f: (_crop_height(f, target), -aspect_gap(f)))


def covers(file: dict, width: int, height: int) -> bool:
    """True when ``file`` centre-cropped to the frame's aspect is at least the frame's size (no upscale)."""
    return _crop_height(file, width / height) >= height


def _crop_height(file: dict, aspect: float) -> float:
    return min(int(file.get("height") or 0), int(file.get("width") or 0) / aspect)
