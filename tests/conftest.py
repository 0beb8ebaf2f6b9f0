"""Shared fixtures: a clean environment, a tiny-output home, the API in process, real processes on
loopback ports. Plain helpers live in ``helpers.py``; markers are described in setup.cfg."""
from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ttvd import config
from ttvd.api import create_app
from ttvd.media import ffmpeg_exe
from ttvd.spool import Spool

from helpers import PREFIXES, TINY, Proc, Wsgi, process_env, serve_on
from standins.fixtures import footage_files, openai_standin, pexels_standin  # noqa: F401 (fixtures for every test)

# A test that asks for one of these fixtures gets the marker: it starts real `ttvd` processes (slow)
# or talks to a stand-in of an online service (online). Other tests are marked where they are.
MARKED_BY_FIXTURE = {"start": "slow", "server": "slow", "openai_standin": "online", "pexels_standin": "online"}


def pytest_collection_modifyitems(items):
    for item in items:
        for fixture in set(MARKED_BY_FIXTURE).intersection(getattr(item, "fixturenames", ())):
            item.add_marker(MARKED_BY_FIXTURE[fixture])


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch):
    """No setting or key from the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith(PREFIXES):
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


@pytest.fixture
def client(settings, spool) -> Wsgi:
    """The API's WSGI app over this test's home, called in process: (status, headers, body) like ``server``."""
    return Wsgi(create_app(settings, spool))


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


@pytest.fixture
def server(start, home):
    """``ttvd serve`` on a free loopback port, ready to answer."""
    return serve_on(start, home)


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sources")
    still = folder / "still, it's [1]:a;b.jpg"  # every character a filtergraph treats specially
    gradient = np.linspace(10, 60, 400, dtype=np.uint8)
    Image.fromarray(np.dstack([np.tile(gradient, (300, 1))] * 3)).save(still)  # dark, landscape
    video = folder / "clip, [2]:x'y;z.mp4"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=s=320x240:r=25:d=4,lutyuv=y=val/5", "-c:v", "libx264", "-preset", "ultrafast",
                    "-pix_fmt", "yuv420p", str(video)], check=True)
    audio = folder / "voice.wav"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "sine=frequency=300:sample_rate=22050:duration=4", str(audio)], check=True)
    return {"still": still, "video": video, "audio": audio}
