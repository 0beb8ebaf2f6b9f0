"""The disk fills under the encoder: the job goes back to the queue to wait for space and resumes
when there is some; it is never failed (docs/guarantees.md, "A full disk").

ffmpeg tells of a full disk only in its text, which ``ttvd.media`` turns into ``NoSpaceError``. The
disk is real: a small tmpfs mounted on the home's ``output/``, where the encoder writes the video,
filled while it renders (needs root and permission to mount; skipped otherwise). The rest of the home
stays on a roomy disk, so the states are written as usual and the daemon's own look at the free space
of its home sees plenty: only what the encoder said tells the daemon the disk is full.
"""
from __future__ import annotations

import errno
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from faults.faultkit import SLOW, SLOW_TEXT, encoders, queue, rendering, state
from ttvd.job import COMPLETED_MESSAGE, WAITING_MESSAGE, JobStatus
from ttvd.spool import Spool

from helpers import wait_for

# Half the slow job (about 40 s of narration): its encoder still runs for seconds, and the job renders twice.
TEXT = ". ".join(SLOW_TEXT.split(". ")[:7]) + "."
# Room for the narration (about 3 MB of WAV) and the finished video (about 2 MB) once space returns.
DISK_SIZE = "32m"


@pytest.fixture
def small_output(home) -> Iterator[Path]:
    """A 32 MB tmpfs as the home's ``output/``; skipped where mounting is not permitted."""
    output = home / "output"
    output.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE},mode=0755", "tmpfs", str(output)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip() or result.returncode}")
    yield output
    subprocess.run(["umount", "-l", str(output)], check=False)


def fill(disk: Path) -> Path:
    """Take every byte left on ``disk``; the file returned holds them."""
    filler = disk / "filler"
    chunk = b"\0" * 65536
    with open(filler, "wb") as handle:
        try:
            while True:
                handle.write(chunk)
                handle.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


# The waits are bounds, not timings: a render here takes 5-30 s on a loaded 2-core machine, and a
# bound only ends a test that would otherwise hang.
def test_an_encoder_that_fills_the_disk_sends_its_job_back_to_wait_for_space(start, home, small_output):
    job_id = Spool(home).ensure().submit(TEXT, "cli").job_id
    daemon = start(["daemon"], home, **SLOW)
    wait_for(lambda: rendering(home, job_id), 90, daemon)

    filler = fill(small_output)
    ended = wait_for(lambda: (now := state(home, job_id)).status is not JobStatus.PROCESSING and now, 60, daemon)
    assert ended.status is JobStatus.QUEUED, f"the job ended {ended.status.value}: {ended.message}"
    assert (ended.message, ended.error) == (WAITING_MESSAGE, None)
    assert ended.logs[-1] == "The disk is full; the job goes back to the queue and resumes when there is space"
    assert ended.attempts == 0  # a full disk does not use up an attempt
    assert queue(home, "failed") == [] and daemon.popen.poll() is None
    assert list(small_output.glob(".*.part")) == []  # the half-written video is not kept

    filler.unlink()
    done = wait_for(lambda: (now := state(home, job_id)).status is JobStatus.COMPLETED and now, 120, daemon)
    assert "the disk is full; claiming paused" in daemon.output()
    assert done.attempts == 1 and done.logs.count(COMPLETED_MESSAGE) == 1
    assert daemon.stop() == 0
    assert queue(home, "done") == [f"{job_id}.json"] and queue(home, "failed") == []
    assert (small_output / f"video_{job_id}.mp4").exists() and encoders(home) == []
