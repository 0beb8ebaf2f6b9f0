"""The ffmpeg binary from ``imageio-ffmpeg``: running it with progress and cancellation, and probing files."""
from __future__ import annotations

import ctypes
import logging
import re
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _die_with_parent() -> None:
    """Runs in the child before exec: the kernel kills the encoder if its parent dies."""
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class FfmpegError(Exception):
    def __init__(self, message: str, stderr: str = "") -> None:
        super().__init__(message)
        self.stderr = stderr


def run(args: list[str], duration: float, on_progress: Callable[[float], None] | None = None,
        cancel: threading.Event | None = None, cwd: Path | None = None) -> None:
    """Run ffmpeg with ``args``; report the fraction done from its ``-progress`` output.

    Raises ``FfmpegError`` when it fails and ``InterruptedError`` when ``cancel`` is set (the
    process is killed first).
    """
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error",
               "-progress", "pipe:1", *args]
    log.debug("running %s", " ".join(command))
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd,
                               preexec_fn=_die_with_parent, text=True, errors="replace")
    stderr_lines: list[str] = []
    reader = threading.Thread(target=lambda: stderr_lines.extend(process.stderr), daemon=True)
    reader.start()
    watcher = None
    if cancel is not None:
        watcher = threading.Thread(target=_kill_on_cancel, args=(process, cancel), daemon=True)
        watcher.start()
    try:
        for line in process.stdout:
            key, _, value = line.strip().partition("=")
            if key == "out_time_us" and on_progress and value.isdigit() and duration > 0:
                on_progress(min(1.0, int(value) / 1e6 / duration))
    finally:
        code = process.wait()
        reader.join(timeout=5)
    if cancel is not None and cancel.is_set():
        raise InterruptedError("ffmpeg was cancelled")
    if code != 0:
        detail = "".join(stderr_lines).strip().splitlines()
        raise FfmpegError(f"ffmpeg exited with status {code}: {detail[-1] if detail else 'no output'}",
                          "".join(stderr_lines))


def _kill_on_cancel(process: subprocess.Popen, cancel: threading.Event) -> None:
    while process.poll() is None:
        if cancel.wait(0.2):
            process.kill()
            return


@dataclass
class MediaInfo:
    duration: float
    video_codec: str | None = None
    pix_fmt: str | None = None
    width: int = 0
    height: int = 0
    fps: float = 0.0
    audio_codec: str | None = None
    frames: int = 0


_DURATION = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_VIDEO = re.compile(r"Stream #\S+.*?: Video: (\w+).*?, (\w+)(?:\([^)]*\))?, (\d+)x(\d+).*?, ([\d.]+) fps")
_AUDIO = re.compile(r"Stream #\S+.*?: Audio: (\w+)")
_FRAMES = re.compile(r"frame=\s*(\d+)")


def probe(path: Path) -> MediaInfo:
    """Duration, streams and decoded frame count of a media file, read with the bundled ffmpeg."""
    result = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:v?",
                             "-f", "null", "-"], capture_output=True, text=True, errors="replace")
    text = result.stderr
    match = _DURATION.search(text)
    if not match:
        raise FfmpegError(f"cannot read {path}", text)
    hours, minutes, seconds = match.groups()
    info = MediaInfo(int(hours) * 3600 + int(minutes) * 60 + float(seconds))
    video = _VIDEO.search(text)
    if video:
        info.video_codec, info.pix_fmt = video.group(1), video.group(2)
        info.width, info.height, info.fps = int(video.group(3)), int(video.group(4)), float(video.group(5))
    audio = _AUDIO.search(text)
    if audio:
        info.audio_codec = audio.group(1)
    frames = _FRAMES.findall(text)
    if frames:
        info.frames = int(frames[-1])
    return info
