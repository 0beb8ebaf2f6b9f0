"""A download cache shared by every job of a home: one file per URL, written atomically.

A second job that needs the same clip finds it here and downloads nothing. Files are bounded in
size and fetched with timeouts and retries; a partial download never takes the final name.
"""
from __future__ import annotations

import hashlib
import logging
import os
import stat
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import requests

from ttvd.atomic import fsync_dir
from ttvd.backends.service import Retryable, RetryPolicy, classify
from ttvd.errors import ServiceError

log = logging.getLogger(__name__)
CHUNK = 256 * 1024


class DownloadCache:
    def __init__(self, root: Path, max_bytes: int, timeout: float, policy: RetryPolicy, session=None) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.policy = policy
        self.session = session or requests.Session()

    def path_for(self, url: str) -> Path:
        suffix = Path(urlsplit(url).path).suffix.lower()
        suffix = suffix if suffix in (".mp4", ".mov", ".webm", ".m4v", ".jpg", ".jpeg", ".png") else ".bin"
        return self.root / (hashlib.sha256(url.encode()).hexdigest()[:40] + suffix)

    def fetch(self, url: str, service: str) -> tuple[Path, bool]:
        """The local copy of ``url`` and whether it was downloaded now (False: already cached)."""
        dest = self.path_for(url)
        try:  # a symlink, FIFO or device under the cached name is not ours: it is replaced, never read
            info = dest.lstat()
            if stat.S_ISREG(info.st_mode) and 0 < info.st_size <= self.max_bytes:
                return dest, False
        except FileNotFoundError:
            pass
        self.root.mkdir(parents=True, exist_ok=True)
        self.policy.call(service, "download", lambda: self._download(url, dest, service))
        return dest, True

    def _download(self, url: str, dest: Path, service: str) -> None:
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:12]}.part")
        try:
            with self.session.get(url, stream=True, timeout=(self.timeout, self.timeout)) as response:
                if response.status_code >= 400:
                    error = classify(service, response.status_code,
                                     retry_after_header=response.headers.get("Retry-After"))
                    if isinstance(error, Retryable):
                        raise error
                    raise ServiceError(service, f"{service} file download refused (HTTP {response.status_code})",
                                       response.status_code)
                expected = int(response.headers.get("Content-Length") or 0)
                if expected > self.max_bytes:
                    raise ServiceError(service, f"file is {expected} bytes, over the {self.max_bytes}-byte cap")
                size = self._write(response, tmp, service)
                if expected and size != expected:
                    raise Retryable(f"download ended after {size} of {expected} bytes")
            os.replace(tmp, dest)
            fsync_dir(dest.parent)
            log.info("downloaded %s (%d bytes) to the cache", urlsplit(url).path, size)
        except (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            raise Retryable(f"download interrupted ({type(exc).__name__})") from None
        finally:
            tmp.unlink(missing_ok=True)

    def _write(self, response, tmp: Path, service: str) -> int:
        size = 0
        with open(tmp, "wb") as handle:
            for block in response.iter_content(CHUNK):
                size += len(block)
                if size > self.max_bytes:
                    raise ServiceError(service, f"file is over the {self.max_bytes}-byte cap")
                handle.write(block)
            handle.flush()
            os.fsync(handle.fileno())
        return size
