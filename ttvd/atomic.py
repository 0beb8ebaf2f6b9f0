"""Durable file writes (write to a temporary name, flush, fsync, rename into place, fsync the directory)
and the one safe read of a file ttvd keeps under its home (``read_regular``)."""
from __future__ import annotations

import errno
import json
import os
import stat
import uuid
from pathlib import Path
from typing import Any

from ttvd import faults
from ttvd.errors import NoSpaceError


class NotRegularFile(OSError):
    """The path is a symlink, a FIFO, a device, a socket or a directory: ttvd reads none of those."""


class FileTooLarge(OSError):
    """The file is larger than its reader's cap."""


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of the regular file ``path``, never following a symlink, never blocking on a FIFO or
    device, and never more than ``limit`` bytes (``FileTooLarge`` beyond); ``NotRegularFile`` for
    anything but a regular file, ``FileNotFoundError`` when it is gone."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotRegularFile(errno.ELOOP, "is a symbolic link, not a regular file", str(path)) from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFile(errno.EINVAL, "is not a regular file", str(path))
        if info.st_size > limit:
            raise FileTooLarge(errno.EFBIG, f"is {info.st_size} bytes, over the {limit}-byte cap", str(path))
        chunks, size = [], 0
        while size <= limit:  # a file that grows while read is still cut at the cap
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise FileTooLarge(errno.EFBIG, f"grew over the {limit}-byte cap while read", str(path))
        return b"".join(chunks)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes(dest: Path, data: bytes, tmp_dir: Path | None = None) -> None:
    """Replace ``dest`` with ``data`` so that readers see the old or the new file, never a part."""
    tmp_dir = tmp_dir or dest.parent
    tmp = tmp_dir / f".{dest.name}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        with open(tmp, "wb") as handle:
            faults.enospc("write")
            handle.write(data)
            handle.flush()
            faults.enospc("fsync")
            os.fsync(handle.fileno())
        faults.enospc("replace")
        os.replace(tmp, dest)
        fsync_dir(dest.parent)
    except OSError as exc:
        _discard(tmp)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise NoSpaceError(f"No space left on device while writing {dest.name}") from exc
        raise


def write_json(dest: Path, data: Any, tmp_dir: Path | None = None) -> None:
    write_bytes(dest, json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8"), tmp_dir)


def _discard(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
