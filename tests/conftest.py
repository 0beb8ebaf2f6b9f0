"""Shared fixtures: a clean environment, a tiny-output home, real processes on loopback ports."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ttvd import config
from ttvd.spool import Spool

# Test media stay tiny: 180x320 at 10 fps renders in well under a second.
TINY = {"TTVD_HEIGHT": "320", "TTVD_FPS": "10", "TTVD_PRESET": "ultrafast",
        "TTVD_POLL_SECONDS": "0.2", "TTVD_RESCAN_SECONDS": "1", "TTVD_WATCH_SETTLE_SECONDS": "0.5",
        "TTVD_LOG_LEVEL": "INFO"}


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch):
    """No setting or key from the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith(("TTVD_", "OPENAI_", "PEXELS_")):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def home(tmp_path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def settings(home):
    return config.load({}, TTVD_HOME=str(home), **TINY)


@pytest.fixture
def spool(home) -> Spool:
    return Spool(home).ensure()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TTVD_", "OPENAI_", "PEXELS_"))}
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


@pytest.fixture
def start(tmp_path):
    """Start ``ttvd`` subcommands as processes; all are stopped when the test ends."""
    procs: list[Proc] = []

    def _start(args: list[str], home: Path, **extra: str) -> Proc:
        proc = Proc(args, process_env(home, **extra), tmp_path / f"proc{len(procs)}.log")
        procs.append(proc)
        return proc

    yield _start
    for proc in procs:
        proc.stop(signal.SIGKILL if proc.popen.poll() is None else signal.SIGTERM)


class Http:
    """A tiny HTTP client over urllib: (status, headers, body bytes), never raising on 4xx/5xx."""

    def __init__(self, base: str) -> None:
        self.base = base

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None, timeout: float = 10):
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read()

    def json(self, method: str, path: str, payload=None, raw: bytes | None = None):
        body = raw if raw is not None else (None if payload is None else json.dumps(payload).encode())
        status, headers, data = self.request(method, path, body, {"Content-Type": "application/json"})
        return status, json.loads(data)


def serve_on(start, home: Path, **extra: str) -> Http:
    """Start ``ttvd serve`` on a free loopback port and return a client once it answers."""
    port = free_port()
    proc = start(["serve", "--port", str(port)], home, **extra)
    client = Http(f"http://127.0.0.1:{port}")
    wait_for(lambda: _answers(client), 20, proc)
    client.proc = proc
    return client


@pytest.fixture
def server(start, home):
    """``ttvd serve`` on a free loopback port, ready to answer."""
    return serve_on(start, home)


def _answers(client: Http) -> bool:
    try:
        return client.request("GET", "/api/v1/jobs", timeout=1)[0] == 200
    except OSError:
        return False


def wait_for(predicate, timeout: float, proc: Proc | None = None, interval: float = 0.1):
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


def frame_at(video: Path, seconds: float):
    """The decoded RGB frame at ``seconds`` as a numpy array (height, width, 3).

    The frame comes out as a lossless PNG, which carries its own size: no probe of the whole video.
    """
    import io

    import numpy as np
    from PIL import Image

    from ttvd.media import ffmpeg_exe

    png = subprocess.run([ffmpeg_exe(), "-v", "error", "-ss", f"{seconds:.3f}", "-i", str(video),
                          "-frames:v", "1", "-f", "image2pipe", "-c:v", "png", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
