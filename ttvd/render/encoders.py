"""Video encoder arguments; a hardware encoder is probed once and replaced by libx264 when unusable."""
from __future__ import annotations

import functools
import logging
import subprocess

from ttvd import media
from ttvd.options import HARDWARE_ENCODERS, SOFTWARE_ENCODER

log = logging.getLogger(__name__)

SOFTWARE = SOFTWARE_ENCODER
# x264 preset -> the NVENC preset of about the same speed/quality trade (p1 fastest .. p7 best).
_NVENC_PRESETS = {"ultrafast": "p1", "superfast": "p1", "veryfast": "p2", "faster": "p3", "fast": "p4",
                  "medium": "p5", "slow": "p6", "slower": "p7", "veryslow": "p7"}
_QSV_PRESETS = {"ultrafast": "veryfast", "superfast": "veryfast", "slower": "veryslow"}


def choose(encoder: dict) -> str:
    """The codec to use for ``encoder`` (``{"codec", "preset", "crf"}``): its own if usable, else libx264."""
    codec, reason = decide(encoder)
    if reason:
        log.warning("encoder %s is %s; falling back to %s", encoder.get("codec"), reason, codec)
    return codec


def decide(encoder: dict) -> tuple[str, str]:
    """The codec ``choose`` takes for ``encoder``, and why it is not the one asked for ("" when it is)."""
    codec = encoder.get("codec") or SOFTWARE
    if codec == SOFTWARE:
        return codec, ""
    if codec not in HARDWARE_ENCODERS:
        return SOFTWARE, "not supported"
    problem = probe(codec)
    if problem:
        return SOFTWARE, f"not usable here ({problem})"
    return codec, ""


def args(codec: str, encoder: dict, threads: int = 0) -> list[str]:
    """ffmpeg output arguments for ``codec`` at ``encoder``'s preset and quality."""
    preset, crf = encoder.get("preset", "veryfast"), int(encoder.get("crf", 23))
    if codec == SOFTWARE:
        return ["-c:v", codec, "-preset", preset, "-crf", str(crf), "-threads", str(threads)]
    if codec.endswith("_nvenc"):
        return ["-c:v", codec, "-preset", _NVENC_PRESETS.get(preset, "p4"), "-rc", "vbr", "-cq", str(crf),
                "-b:v", "0"]
    if codec.endswith("_qsv"):
        return ["-c:v", codec, "-preset", _QSV_PRESETS.get(preset, preset), "-global_quality", str(crf)]
    if codec.endswith("_amf"):
        return ["-c:v", codec, "-quality", "speed" if preset in ("ultrafast", "superfast", "veryfast")
                else "balanced", "-rc", "cqp", "-qp_i", str(crf), "-qp_p", str(crf)]
    return ["-c:v", codec, "-q:v", str(max(1, 100 - 2 * crf))]  # videotoolbox: quality 1..100


@functools.cache
def probe(codec: str) -> str:
    """Empty if ``codec`` encodes a few frames here; else the reason it does not."""
    command = [media.ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error",
               "-f", "lavfi", "-i", "color=c=black:s=256x256:r=10:d=0.5", "-pix_fmt", "yuv420p",
               *args(codec, {}), "-f", "null", "-"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, errors="replace", timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if result.returncode == 0:
        return ""
    # The first line names the cause ("Cannot load libcuda.so.1"); the rest is the fallout.
    lines = [line.split("] ", 1)[-1] for line in result.stderr.strip().splitlines()]
    return lines[0] if lines else f"exit status {result.returncode}"
