"""A hardware encoder that cannot run here falls back to libx264, and the job's own log says so and why
(not only the daemon's standard error)."""
import pytest

from faults.faultkit import state
from ttvd.job import JobStatus
from ttvd.render import encoders
from ttvd.spool import Spool


def test_a_job_that_asked_for_nvenc_says_it_was_encoded_with_libx264_and_why(start, home):
    why = encoders.probe("h264_nvenc")
    if not why:
        pytest.skip("h264_nvenc works on this machine: nothing falls back")
    job_id = Spool(home).ensure().submit("A short tale for a missing graphics card.", "cli",
                                         {"encoder": "h264_nvenc"}).job_id
    daemon = start(["daemon", "--burst"], home)
    assert daemon.popen.wait(120) == 0, daemon.output()
    done = state(home, job_id)
    assert done.status is JobStatus.COMPLETED, done.error
    said = [line for line in done.logs if "h264_nvenc" in line and "libx264" in line]
    assert said == [f"Encoder h264_nvenc is not usable here ({why}); using libx264 instead"], done.logs
    assert any(line.startswith("Rendering ") and "(libx264," in line for line in done.logs), done.logs
