"""What the fault tests share: slow-but-tiny jobs, finding a home's encoders, polling states."""
from __future__ import annotations

import os
import random
import time
from pathlib import Path

from ttvd.job import JobState
from ttvd.spool import Spool


def _slow_text(words: int = 120) -> str:
    rng = random.Random(5)
    vocabulary = "the keeper climbed stairs lamp light sea ship harbour night wind rain stone tower".split()
    sentences = [" ".join(rng.choice(vocabulary) for _ in range(8)) for _ in range(words // 8)]
    return ". ".join(sentences).capitalize() + "."


# A job slow enough to be caught mid-render while its output stays tiny (180x320, 10 fps): a long,
# slowly spoken text (about 90 s of narration) encoded with x264's slowest preset. The render stage
# then takes several seconds on a small machine.
SLOW_TEXT = _slow_text()
SLOW = {"TTVD_PRESET": "veryslow", "TTVD_SPEECH_RATE": "80"}


def encoders(home: Path) -> list[int]:
    """Pids of ffmpeg processes working for ``home`` (their arguments name files under it)."""
    marker = os.fsencode(str(home))
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                args = handle.read().split(b"\0")
        except OSError:
            continue
        if args and b"ffmpeg" in os.path.basename(args[0]) and any(marker in arg for arg in args):
            pids.append(int(entry.name))
    return pids


def state(home: Path, job_id: str) -> JobState | None:
    return Spool(home).read_state(job_id)


def rendering(home: Path, job_id: str) -> bool:
    """True once the job's encoder is running and has reported progress."""
    current = state(home, job_id)
    return bool(current and current.stage == "render" and current.progress > 90 and encoders(home))


def wait_gone(home: Path, timeout: float = 10.0) -> list[int]:
    """Wait until no encoder works for ``home``; returns those still left."""
    deadline = time.monotonic() + timeout
    while encoders(home) and time.monotonic() < deadline:
        time.sleep(0.1)
    return encoders(home)


def queue(home: Path, name: str) -> list[str]:
    """The files of a spool queue, leaving out claims' owner records (``ttvd.claim.owner_mark``)."""
    return sorted(p.name for p in (home / "spool" / name).iterdir() if p.suffix != ".owner")
