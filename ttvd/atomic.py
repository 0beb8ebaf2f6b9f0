"""Durable file writes: write to a temporary name, flush, fsync, rename into place, fsync the directory."""
from __future__ import annotations

import errno
import json
import os
import uuid
from pathlib import Path
from typing import Any

from ttvd import faults
from ttvd.errors import NoSpaceError


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
