"""What tests share besides fixtures: tiny settings, real processes on loopback ports, HTTP clients
(over a socket or in process against the WSGI app), polling, tiny media files, decoded frames."""
from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import wsgiref.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# Test media stay tiny: 180x320 at 10 fps renders in well under a second.
TINY = {"TTVD_HEIGHT": "320", "TTVD_FPS": "10", "TTVD_PRESET": "ultrafast",
        "TTVD_POLL_SECONDS": "0.2", "TTVD_RESCAN_SECONDS": "1", "TTVD_WATCH_SETTLE_SECONDS": "0.5",
        "TTVD_LOG_LEVEL": "INFO"}
PREFIXES = ("TTVD_", "OPENAI_", "PEXELS_")  # the settings and keys no test takes from the developer's shell


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIXES)}
    env.update(TINY, TTVD_HOME=str(home), PYTHONUNBUFFERED="1", **extra)
    return env


class Proc:
    """A ttvd subcommand running as a real process, its output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = open(log, "ab")
        self.popen = subprocess.Popen([sys.executable, "-m", "ttvd", *args], env=env,
                                      stdout=self._out, stderr=subprocess.STDOUT)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._out.close()
        return self.popen.returncode

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def wait_for(predicate: Callable[[], Any], timeout: float, proc: Proc | None = None, interval: float = 0.1):
    """Poll ``predicate`` until it returns something truthy; fail with the process log if not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.popen.poll() is not None:
            pytest.fail(f"process exited with {proc.popen.returncode}:\n{proc.output()[-3000:]}")
        time.sleep(interval)
    pytest.fail("timed out" + (f"; process log:\n{proc.output()[-3000:]}" if proc else ""))


# -- HTTP clients: one shape, over a socket or in process --------------------------------------------

class Client:
    """What both clients share: ``request`` gives (status, headers, body bytes) and never raises on
    4xx/5xx; ``json`` sends a JSON body (or ``raw`` bytes) and gives (status, decoded body)."""

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
        raise NotImplementedError

    def json(self, method: str, path: str, payload=None, raw: bytes | None = None) -> tuple[int, Any]:
        body = raw if raw is not None else (None if payload is None else json.dumps(payload).encode())
        status, headers, data = self.request(method, path, body, {"Content-Type": "application/json"})
        return status, json.loads(data)


class Http(Client):
    """A tiny HTTP client over urllib, for a server on a real socket."""

    def __init__(self, base: str) -> None:
        self.base = base

    def request(self, method, path, body=None, headers=None, timeout=10):
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read()


class Wsgi(Client):
    """Calls a WSGI app in this process, with the environ a server would build for the request."""

    def __init__(self, app) -> None:
        self.app = app

    def request(self, method, path, body=None, headers=None, timeout=10):
        path, _, query = path.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method,
            # as a server does: the path percent-decoded, its bytes carried in a latin-1 str (PEP 3333)
            "PATH_INFO": urllib.parse.unquote_to_bytes(path).decode("latin-1"),
            "QUERY_STRING": query,
            "wsgi.input": io.BytesIO(body or b""),
        }
        if body is not None:
            environ["CONTENT_LENGTH"] = str(len(body))
        for name, value in (headers or {}).items():
            key = name.upper().replace("-", "_")
            environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
        wsgiref.util.setup_testing_defaults(environ)
        started: list[tuple[str, list[tuple[str, str]]]] = []

        def start_response(status, response_headers, exc_info=None):
            started.append((status, response_headers))
            return lambda data: None

        result = self.app(environ, start_response)
        try:
            data = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        status, response_headers = started[-1]
        return int(status.split()[0]), dict(response_headers), data


# -- `ttvd serve` as a process -----------------------------------------------------------------------

def answers(client: Http) -> bool:
    """True once a server answers ``GET /jobs`` (a cold listing of many jobs may take seconds)."""
    try:
        return client.request("GET", "/api/v1/jobs", timeout=5)[0] in (200, 401)  # 401: up, with tokens
    except OSError:
        return False


def serving(proc: Proc, port: int, home: Path) -> Http:
    """A client for ``proc`` (``ttvd serve`` on ``port``) once it answers; it carries port, home and proc."""
    client = Http(f"http://127.0.0.1:{port}")
    client.port, client.home, client.proc = port, home, proc
    wait_for(lambda: answers(client), 20, proc)
    return client


def serve_on(start, home: Path, **extra: str) -> Http:
    """Start ``ttvd serve`` on a free loopback port and return a client once it answers."""
    port = free_port()
    return serving(start(["serve", "--port", str(port)], home, **extra), port, home)


# -- the pipeline's reporter -------------------------------------------------------------------------

class Recorder:
    """A pipeline reporter that keeps what it is told."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.stages: list[str] = []
        self.percents: list[int] = []
        self.credited: list[dict] = []

    def stage_started(self, stage: str) -> None:
        self.stages.append(stage)

    def stage_finished(self, stage: str) -> None:
        pass

    def progress(self, percent: int) -> None:
        self.percents.append(percent)

    def log(self, line: str) -> None:
        self.lines.append(line)

    def credits(self, entries: list[dict]) -> None:
        self.credited = entries

    def text(self) -> str:
        return "\n".join(self.lines)


# -- tiny media --------------------------------------------------------------------------------------

def make_video(path: Path, seconds: float, colour: str = "0x336699") -> Path:
    """A real 64x112 H.264 MP4 of one colour."""
    from ttvd.media import ffmpeg_exe

    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi",
                    "-i", f"color=c={colour}:s=64x112:r=10:d={seconds}",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def make_image(path: Path) -> Path:
    """A real 64x64 red image, in the format its suffix names."""
    from ttvd.media import ffmpeg_exe

    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=red:s=64x64", "-frames:v", "1",
                    str(path)], check=True)
    return path


def frame_at(video: Path, seconds: float):
    """The decoded RGB frame at ``seconds`` as a numpy array (height, width, 3).

    The frame comes out as a lossless PNG, which carries its own size: no probe of the whole video.
    """
    import numpy as np
    from PIL import Image

    from ttvd.media import ffmpeg_exe

    png = subprocess.run([ffmpeg_exe(), "-v", "error", "-ss", f"{seconds:.3f}", "-i", str(video),
                          "-frames:v", "1", "-f", "image2pipe", "-c:v", "png", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
