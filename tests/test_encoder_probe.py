"""The hardware-encoder probe runs the real ffmpeg: it says why an encoder cannot work here, and that x264 can."""
from __future__ import annotations

import glob

import pytest

from ttvd.render import encoders

NO_GPU = not glob.glob("/dev/nvidia*") and not glob.glob("/dev/dri/renderD*")


def test_the_software_encoder_probes_usable():
    assert encoders.probe("libx264") == ""


@pytest.mark.skipif(not NO_GPU, reason="this machine has a GPU device; the test needs one without")
@pytest.mark.parametrize("codec", ["h264_nvenc", "h264_qsv", "h264_vaapi"])
def test_a_hardware_encoder_without_its_device_probes_unusable_with_a_reason(codec):
    reason = encoders.probe(codec)
    assert reason, f"{codec} reported usable on a machine without a GPU"
    assert "Traceback" not in reason and len(reason) < 500
