"""Shared fixtures: a clean environment, a tiny-output home, the API in process, real processes on
loopback ports. Plain helpers live in ``helpers.py``; markers are described in setup.cfg."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from ttvd import config
from ttvd.api import create_app
from ttvd.spool import Spool

from helpers import PREFIXES, TINY, Proc, Wsgi, process_env, serve_on

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
