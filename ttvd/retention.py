"""Housekeeping: finished jobs past ``TTVD_RETAIN_DAYS`` are deleted with their files, and the disk a
home uses is measured for ``ttvd status``.

The sweep runs with the daemon's recovery sweeps. It reads only state files whose modification time
(a state is rewritten at every step, so the time of its last change) is past the cutoff, so a home
with many recent jobs costs one directory scan.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from ttvd import control
from ttvd.errors import TtvdError
from ttvd.spool import BadState, Spool

log = logging.getLogger(__name__)

DAY_SECONDS = 86400.0


def sweep(spool: Spool, retain_days: float, now: float | None = None) -> list[str]:
    """Delete the finished jobs last changed more than ``retain_days`` ago (0: keep all); their ids."""
    if retain_days <= 0:
        return []
    cutoff = (time.time() if now is None else now) - retain_days * DAY_SECONDS
    deleted = []
    for job_id, info in list(spool.state_files()):
        if info.st_mtime > cutoff:
            continue
        try:
            state = spool.read_state(job_id)
        except BadState:
            continue  # the recovery sweep sets it aside
        if state is None or not state.status.finished or state.updated_at > cutoff:
            continue
        try:
            control.delete(spool, job_id, wait=0)
        except (TtvdError, OSError) as exc:
            log.warning("job %s: not deleted by the retention sweep: %s", job_id, exc)
            continue
        deleted.append(job_id)
    if deleted:
        log.info("retention: deleted %d job(s) finished more than %g day(s) ago", len(deleted), retain_days)
    return deleted


def disk_used(root: Path) -> int:
    """Bytes the files under ``root`` take on disk (symlinks not followed)."""
    total = 0
    for folder, _, names in os.walk(root):
        for name in names:
            try:
                total += os.lstat(os.path.join(folder, name)).st_blocks * 512
            except OSError:
                continue
    return total
