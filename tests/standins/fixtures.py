"""Fixtures for tests that talk to the stand-ins: import them into a test module to use them."""
from __future__ import annotations

from pathlib import Path

import pytest

from ttvd import config, pipeline
from ttvd.job import new_id

from helpers import TINY, Recorder
from standins import OPENAI_KEY, PEXELS_KEY, start_openai, start_pexels

FAST_RETRIES = {"TTVD_HTTP_RETRIES": "2", "TTVD_RETRY_BACKOFF": "0.01", "TTVD_RETRY_MAX_WAIT": "0.2",
                "TTVD_HTTP_TIMEOUT": "5"}


@pytest.fixture(scope="session")
def footage_files(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pexels-files")


@pytest.fixture
def openai_standin(tmp_path):
    server = start_openai(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def pexels_standin(tmp_path, footage_files):
    server = start_pexels(tmp_path, footage_files)
    yield server
    server.stop()


def online_env(openai=None, pexels=None, **extra: str) -> dict[str, str]:
    """Settings pointing at the stand-ins that are given, with fast retries."""
    env = dict(FAST_RETRIES)
    if openai is not None:
        env.update(OPENAI_API_KEY=OPENAI_KEY, OPENAI_BASE_URL=openai.url)
    if pexels is not None:
        env.update(PEXELS_API_KEY=PEXELS_KEY, PEXELS_API_URL=pexels.url)
    env.update(extra)
    return env


def make_job(home: Path, text: str, env: dict[str, str], options: dict | None = None) -> pipeline.Job:
    settings = config.load({}, TTVD_HOME=str(home), **{**TINY, **env})
    job_id = new_id()
    work = home / "work" / job_id
    (home / "output").mkdir(parents=True, exist_ok=True)
    return pipeline.Job(job_id, text, settings, work, home / "output" / f"audio_{job_id}.wav",
                        home / "output" / f"video_{job_id}.mp4", Recorder(), options or {})


def files_containing(root: Path, needle: bytes) -> list[Path]:
    """Every file under ``root`` whose bytes contain ``needle``."""
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]
