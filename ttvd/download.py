"""A file of a job as an HTTP answer: what video players and download managers rely on.

One byte range (206, or 416 past the end), strong validators (ETag from inode, size and mtime;
Last-Modified) and the conditional requests built on them (If-None-Match, If-Modified-Since: 304;
If-Range), HEAD. The file is opened once, without following a symlink, and streamed from that
descriptor, never read whole.
"""
from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterator
from io import BufferedReader
from pathlib import Path
from typing import Any

import bottle

from ttvd.answers import ApiError

CHUNK = 256 * 1024
_RANGE = re.compile(r"bytes=(\d*)-(\d*)", re.IGNORECASE)


class Unsatisfiable(Exception):
    """The requested range starts past the end of the file."""


def send_file(path: Path, content_type: str, filename: str, missing: ApiError) -> bottle.HTTPResponse:
    """The regular file at ``path`` as an attachment named ``filename``; ``missing`` is raised when
    there is none. What is sent is the file that was checked, whatever happens to the path meanwhile."""
    opened = _open_regular(path)
    if opened is None:
        raise missing
    handle, info = opened
    try:
        return _answer(handle, info, content_type, filename)
    except BaseException:
        handle.close()
        raise


def servable(path: Path) -> bool:
    """True when ``send_file`` would find a file at ``path`` (a regular file, not through a symlink)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def _open_regular(path: Path) -> tuple[BufferedReader, os.stat_result] | None:
    """``path`` opened for reading with its status; None when it is not there or not a regular file."""
    try:  # O_NONBLOCK: a FIFO put in the file's place must not hang the open
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ELOOP):
            return None
        raise ApiError(500, f"Error sending file: {exc.strerror}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        return None
    return os.fdopen(fd, "rb"), info


def _answer(handle: BufferedReader, info: os.stat_result, content_type: str, filename: str) -> bottle.HTTPResponse:
    etag, mtime, size = f'"{info.st_ino:x}-{info.st_size:x}-{info.st_mtime_ns:x}"', int(info.st_mtime), info.st_size
    validators = {"ETag": etag, "Last-Modified": bottle.http_date(mtime)}
    if _not_modified(etag, mtime):
        handle.close()
        return bottle.HTTPResponse(status=304, headers=validators)
    try:
        span = byte_range(bottle.request.get_header("Range"), size) if _range_applies(etag, mtime) else None
    except Unsatisfiable:
        raise ApiError(416, f"Range not satisfiable: the file is {size} bytes",
                       {"Content-Range": f"bytes */{size}", **validators}) from None
    start, length = span or (0, size)
    headers = {**validators, "Accept-Ranges": "bytes", "Content-Type": content_type,
               "Content-Disposition": f'attachment; filename="{filename}"', "Content-Length": str(length)}
    if span is not None:
        headers["Content-Range"] = f"bytes {start}-{start + length - 1}/{size}"
    if bottle.request.method == "HEAD":
        handle.close()
        body: Any = b""
    else:
        body = _body(handle, start, length)
    return bottle.HTTPResponse(body, status=206 if span else 200, headers=headers)


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, length) of the one range ``header`` asks for; None to send the whole file (no Range, a
    malformed one, several ranges, an empty file); ``Unsatisfiable`` when it starts past the end."""
    match = _RANGE.fullmatch(header.strip()) if header and size else None
    if match is None or match.groups() == ("", ""):
        return None
    first, last = (_number(text) for text in match.groups())
    if first is None:  # "-n": the last n bytes
        if last == 0:
            raise Unsatisfiable()
        start = max(0, size - (last or 0))
        return start, size - start
    if last is not None and last < first:
        return None
    if first >= size:
        raise Unsatisfiable()
    end = size - 1 if last is None else min(last, size - 1)
    return first, end - first + 1


def _number(digits: str) -> int | None:
    # past 18 digits a position is beyond any file (and int() of thousands of digits is refused)
    return None if not digits else int(digits) if len(digits) <= 18 else 10**18


def _not_modified(etag: str, mtime: int) -> bool:
    """True when the client's copy is current: If-None-Match (weak comparison), else If-Modified-Since."""
    request = bottle.request
    tags = request.get_header("If-None-Match")
    if tags is not None:
        return tags.strip() == "*" or etag in (tag.strip().removeprefix("W/") for tag in tags.split(","))
    since = bottle.parse_date(request.get_header("If-Modified-Since") or "")
    return since is not None and mtime <= since


def _range_applies(etag: str, mtime: int) -> bool:
    """If-Range: the range is sent only if the client's part is of this very file (strong comparison)."""
    condition = bottle.request.get_header("If-Range")
    if condition is None:
        return True
    condition = condition.strip()
    if condition.startswith(('"', "W/")):
        return condition == etag
    return bottle.parse_date(condition) == mtime


def _body(handle: BufferedReader, start: int, length: int) -> Any:
    handle.seek(start)
    if "wsgi.file_wrapper" in bottle.request.environ:
        # bottle gives the file to the server's wrapper: waitress sends it from the file as the socket
        # drains, and no further than Content-Length (as PEP 3333 asks), so a range ends where it should
        return handle
    return _chunks(handle, length)


def _chunks(handle: BufferedReader, remaining: int) -> Iterator[bytes]:
    with handle:
        while remaining > 0:
            chunk = handle.read(min(CHUNK, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk
