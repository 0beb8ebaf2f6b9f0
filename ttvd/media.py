"""Media files: running the ffmpeg of ``imageio-ffmpeg`` with progress and cancellation, probing, WAV writing."""
from __future__ import annotations

import ctypes
import logging
import re
import signal
import subprocess
import threading
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg

from ttvd.errors import Cancelled, InputError, NoSpaceError, RenderError

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_NO_SPACE = "No space left on device"  # strerror(ENOSPC), as ffmpeg prints it


def ffmpeg_exe() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


def _die_with_parent() -> None:
    """Runs in the child before exec: the kernel kills the encoder if its parent dies."""
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def run(args: list[str], duration: float, on_progress: Callable[[float], None] | None = None,
        cancel: threading.Event | None = None, cwd: Path | None = None) -> None:
    """Run ffmpeg with ``args``; report the fraction done from its ``-progress`` output.

    Raises ``Cancelled`` when ``cancel`` is set (the process is killed first), ``NoSpaceError`` when
    ffmpeg says the disk is full, and ``RenderError`` for any other failure.
    """
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error",
               "-progress", "pipe:1", *args]
    log.debug("running %s", " ".join(command))
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd,
                               preexec_fn=_die_with_parent, text=True, errors="replace")
    stderr_lines: list[str] = []
    reader = threading.Thread(target=lambda: stderr_lines.extend(process.stderr or ()), daemon=True)
    reader.start()
    watcher = None
    if cancel is not None:
        watcher = threading.Thread(target=_kill_on_cancel, args=(process, cancel), daemon=True)
        watcher.start()
    try:
        for line in process.stdout or ():
            key, _, value = line.strip().partition("=")
            if key == "out_time_us" and on_progress and value.isdigit() and duration > 0:
                on_progress(min(1.0, int(value) / 1e6 / duration))
    finally:
        code = process.wait()
        reader.join(timeout=5)
    if cancel is not None and cancel.is_set():
        raise Cancelled("rendering was stopped")
    if code != 0:
        stderr = "".join(stderr_lines)
        if _NO_SPACE in stderr:  # ffmpeg reports a full disk only in its text
            raise NoSpaceError("No space left on device while encoding the video")
        detail = stderr.strip().splitlines()
        raise RenderError(f"ffmpeg exited with status {code}: {detail[-1] if detail else 'no output'}", stderr)


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
    """Duration, streams and decoded frame count of a media file; ``InputError`` if unreadable."""
    text = _ffmpeg_report(path, decode=True)
    seconds = _duration(text)
    if seconds is None:
        raise InputError(f"ffmpeg cannot read {path}")
    info = MediaInfo(seconds)
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


def duration(path: Path) -> float | None:
    """A media file's duration from its header, without decoding it; None when ffmpeg cannot read it."""
    return _duration(_ffmpeg_report(path, decode=False))


def _ffmpeg_report(path: Path, decode: bool) -> str:
    """What ffmpeg prints about ``path``: its header, and with ``decode`` the frame count of its video."""
    decoding = ["-map", "0:v?", "-f", "null", "-"] if decode else []
    result = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), *decoding],
                            capture_output=True, text=True, errors="replace")
    return result.stderr


def _duration(report: str) -> float | None:
    match = _DURATION.search(report)
    if not match:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def write_wav(path: Path, pcm: bytes, rate: int) -> None:
    """Write 16-bit mono ``pcm`` as a WAV file at ``path``; a reader never sees it half-written."""
    tmp = path.with_name(path.name + ".part")
    with wave.open(str(tmp), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    tmp.replace(path)
