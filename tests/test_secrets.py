"""No key reaches a log, a state file, an error message or any file, even from a service that echoes it.

The stand-ins quote the key they were given in every error body, as OpenAI's 401 and the proxies in
front of compatible servers do; asked to, they also echo it in a response header and in the URL of a
redirect. Each test runs jobs against them, then scans everything ttvd wrote or said for the key, and
for any third of it in a row: a copy cut short or partly masked still gives that much away.
"""
from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from ttvd import pipeline
from ttvd.errors import TtvdError

from helpers import process_env, serve_on, wait_for
from standins import StandIn, start_openai, start_pexels
from standins.fixtures import FAST_RETRIES, make_job

# Per service, a key shaped like one (the scrubber's pattern alone would catch it) and one that is not
# (only scrubbing the configured key can), like what a local OpenAI-compatible server accepts.
KEYS = {
    "key-shaped": ("sk-proj-Wq3Lx9SEKRITopenaiMiddle7Hn2Vb5Kd8Zt",
                   "Wq3Lx9Rt4Yp6SEKRITpexelsMiddleZa1Xc2Vb3Nm4Kd5Jf6Hg7Qw8Er9T"),
    "plain": ("vllm-Wq3Lx-SEKRIT.openai-7Hn2", "px-Wq3Lx-SEKRIT.pexels-7Hn2"),
}
TEXT = "The ocean was calm at dawn. Deep in the forest, old trees whispered."
ROUTES = {"openai": ("speech", "transcribe", "chat", "models"), "pexels": ("search", "files")}
# each stage named explicitly, so a failure fails the job instead of falling back
OPENAI_ONLY = {"speech": "openai", "timing": "openai", "queries": "openai", "footage": "local"}
OFFLINE = {"speech": "espeak", "timing": "speech", "queries": "keywords", "footage": "local"}


def fragments(key: str) -> list[str]:
    """Every run of a third of the key's characters: a copy cut short or partly masked shows one."""
    size = len(key) // 3
    return [key[at:at + size] for at in range(len(key) - size + 1)]


def leaks(keys: tuple[str, ...], texts: dict[str, str], roots: tuple[Path, ...] = ()) -> list[str]:
    """Where a third of any key appears: ``texts`` by name, files under ``roots`` by path, each once."""
    wanted = [f for key in keys for f in fragments(key)]
    found = []
    for name, text in texts.items():
        at = min((text.find(f) for f in wanted if f in text), default=-1)
        if at >= 0:
            found.append(f"{name}: ...{text[max(0, at - 80):at + 40]}...")
    files = {path for root in roots for path in root.rglob("*") if path.is_file()}
    found += [f"file {path}" for path in sorted(files) if any(f.encode() in path.read_bytes() for f in wanted)]
    return found


class Services:
    """An OpenAI and a Pexels stand-in that accept ``keys``; ``reset`` clears their faults and echoes."""

    def __init__(self, tmp: Path, files: Path, keys: tuple[str, str]) -> None:
        self.keys = keys
        self.openai = start_openai(tmp, key=keys[0])
        try:
            self.pexels = start_pexels(tmp, files, key=keys[1])
        except BaseException:
            self.openai.stop()
            raise

    def env(self, **extra: str) -> dict[str, str]:
        return {**FAST_RETRIES, "OPENAI_API_KEY": self.keys[0], "OPENAI_BASE_URL": self.openai.url,
                "PEXELS_API_KEY": self.keys[1], "PEXELS_API_URL": self.pexels.url, **extra}

    def reset(self) -> None:
        for name, server in self.servers():
            server.faults(**{route: {"times": 0} for route in ROUTES[name]})
            server.echo(header=False, redirect=False)

    def servers(self) -> list[tuple[str, StandIn]]:
        return [("openai", self.openai), ("pexels", self.pexels)]

    def stop(self) -> None:
        self.openai.stop()
        self.pexels.stop()


@pytest.fixture(scope="module", params=list(KEYS))
def services(request, tmp_path_factory, footage_files):
    running = Services(tmp_path_factory.mktemp("standins"), footage_files, KEYS[request.param])
    yield running
    running.stop()


@pytest.fixture
def fresh(services):
    services.reset()
    return services


def _run(home: Path, services: Services, options: dict) -> tuple[str, pipeline.Job]:
    """Run a job in process; its error message, or "" when it made its video."""
    job = make_job(home, TEXT, services.env(), options)
    try:
        pipeline.run(job)
    except TtvdError as exc:
        return str(exc), job
    return "", job


def _said(caplog, capfd, error: str, job: pipeline.Job) -> dict[str, str]:
    out, err = capfd.readouterr()
    return {"error message": error, "job log": job.reporter.text(), "credits": json.dumps(job.reporter.credited),
            "python log": caplog.text, "stdout": out, "stderr": err}


# -- in process: one failing service at a time, every log record at DEBUG ------------------------------

CASES = {  # name: (options, {route: fault}, the job fails)
    "speech 400 quoting the key": (OPENAI_ONLY, {"speech": {"status": 400}}, True),
    "speech 401": (OPENAI_ONLY, {"speech": {"status": 401}}, True),
    "speech 429 quoting the header": (OPENAI_ONLY, {"speech": {"status": 429, "retry_after": "0"}}, True),
    "speech 500 quoting the header, auto falls back": ({**OFFLINE, "speech": "auto"},
                                                       {"speech": {"status": 500}}, False),
    "transcription 400": (OPENAI_ONLY, {"transcribe": {"status": 400}}, True),
    "transcription 401": (OPENAI_ONLY, {"transcribe": {"status": 401}}, True),
    "chat 400": (OPENAI_ONLY, {"chat": {"status": 400}}, True),
    "chat 503": (OPENAI_ONLY, {"chat": {"status": 503}}, True),
    "Pexels search 400 quoting the key": ({**OFFLINE, "footage": "pexels"}, {"search": {"status": 400}}, True),
    "Pexels search 401": ({**OFFLINE, "footage": "pexels"}, {"search": {"status": 401}}, True),
    "Pexels search 429, auto falls back": ({**OFFLINE, "footage": "auto"},
                                           {"search": {"status": 429, "retry_after": "0"}}, False),
}


@pytest.mark.online
@pytest.mark.parametrize("case", list(CASES))
def test_a_key_the_service_echoes_in_an_error_is_written_nowhere(home, fresh, case, caplog, capfd):
    options, faults, fails = CASES[case]
    for name, server in fresh.servers():
        server.faults(**{route: {**fault, "times": -1} for route, fault in faults.items() if route in ROUTES[name]})
    caplog.set_level(logging.DEBUG)
    error, job = _run(home, fresh, options)
    assert bool(error) == fails, error or job.reporter.text()
    assert not leaks(fresh.keys, _said(caplog, capfd, error, job), (home,))


@pytest.mark.online
def test_a_key_echoed_anywhere_in_a_long_error_body_is_written_nowhere(home, fresh, caplog, capfd):
    """Wherever the key falls in the body, also across the length an error message is cut to."""
    caplog.set_level(logging.DEBUG)
    openai_job = make_job(home, TEXT, fresh.env(), {**OFFLINE, "queries": "openai"})
    pexels_job = make_job(home, TEXT, fresh.env(), {**OFFLINE, "footage": "pexels"})
    said: dict[str, str] = {}
    for pad in range(0, 400, 12):  # the same job again and again: it resumes at the stage that fails
        fresh.openai.faults(chat={"status": 400, "times": 1, "pad": pad})
        fresh.pexels.faults(search={"status": 400, "times": 1, "pad": pad})
        for job in (openai_job, pexels_job):
            with pytest.raises(TtvdError) as failure:
                pipeline.run(job)
            said[f"error message, {pad} characters in"] = str(failure.value)
    assert "refused the request (HTTP 400)" in said["error message, 0 characters in"]
    said.update(_said(caplog, capfd, "", openai_job), **{"pexels job log": pexels_job.reporter.text()})
    assert not leaks(fresh.keys, said, (home,))


@pytest.mark.online
@pytest.mark.slow
def test_a_key_echoed_in_a_header_and_a_redirect_url_is_written_nowhere(home, fresh, caplog, capfd):
    """Every online stage succeeds, each request first redirected to a URL carrying the key."""
    for _, server in fresh.servers():
        server.echo(header=True, redirect=True)
    caplog.set_level(logging.DEBUG)
    error, job = _run(home, fresh, {"speech": "openai", "timing": "openai", "queries": "openai",
                                    "footage": "pexels"})
    assert not error
    redirected = {r["route"] for _, server in fresh.servers() for r in server.log()["requests"]
                  if r["query"].get("api_key")}
    assert redirected == {"speech", "transcribe", "chat", "search"}  # each followed its redirect
    assert not leaks(fresh.keys, _said(caplog, capfd, error, job), (home,))


# -- real processes: the API server and the daemon, then everything they wrote ----------------------------

@pytest.mark.online
@pytest.mark.slow
def test_no_key_reaches_the_daemon_the_api_the_cli_or_the_home(home, start, tmp_path, footage_files):
    """Jobs through ``ttvd serve`` and ``ttvd daemon --burst`` (at DEBUG), then status, jobs and doctor."""
    running = Services(tmp_path, footage_files, KEYS["plain"])
    try:
        _daemon_round_trip(home, start, running)
    finally:
        running.stop()


# Each round: echo in a header and a redirect?, {route: fault}, {label: a job's options}. The jobs that
# fail are labelled with the stage they fail at.
ROUNDS = [
    (True, {}, {"all online": {"speech": "openai", "timing": "openai", "queries": "openai", "footage": "pexels"}}),
    (False, {"speech": {"status": 400}, "transcribe": {"status": 401}, "chat": {"status": 429, "retry_after": "0"},
             "models": {"status": 400}, "search": {"status": 400}},
     {"speech": {"speech": "openai"}, "captions": {"speech": "espeak", "timing": "openai"},
      "queries": {"speech": "espeak", "queries": "openai"},
      "footage": {"speech": "espeak", "queries": "keywords", "footage": "pexels"}}),
]


def _daemon_round_trip(home: Path, start, services: Services) -> None:
    env = services.env(TTVD_LOG_LEVEL="DEBUG", TTVD_KEEP_WORK="1")
    api = serve_on(start, home, **env)  # one environment file for both, as systemd's units share one
    said: dict[str, str] = {}
    jobs = {}
    for round_, (echo, faults, wanted) in enumerate(ROUNDS):
        services.reset()
        for name, server in services.servers():
            server.echo(header=echo, redirect=echo)
            server.faults(**{route: {**fault, "times": -1} for route, fault in faults.items() if route in ROUTES[name]})
        for label, options in wanted.items():
            status, body = api.json("POST", "/api/v1/generate", {"text": TEXT, "options": options})
            assert status == 202, body
            jobs[label] = body["job_id"]
        daemon = start(["daemon", "--burst"], home, **env)
        wait_for(lambda: daemon.popen.poll() is not None, 240, interval=0.2)
        said[f"daemon stderr, round {round_}"] = daemon.output()
    for label, job_id in jobs.items():
        status, state = api.json("GET", f"/api/v1/status/{job_id}")
        if label == "all online":
            assert state["status"] == "completed" and state["credits"], state
        else:
            assert (state["status"], state["stage"]) == ("failed", label), state
        said[f"GET status of {label}"] = json.dumps(state)
        said[f"ttvd status {label}"] = _cli(home, env, "status", job_id)
    assert "refused the request (HTTP 400)" in said["GET status of speech"]
    for path in ("/api/v1/jobs", "/api/v1/health", "/api/v1/voices"):
        said[f"GET {path}"] = api.request("GET", path)[2].decode()
    said["ttvd jobs"] = _cli(home, env, "jobs")
    said["ttvd doctor"] = _cli(home, env, "doctor")  # its live checks meet the 400s that quote the key
    assert "refused the request (HTTP 400)" in said["ttvd doctor"]
    said["API server stderr"] = api.proc.output()
    assert not leaks(services.keys, said, (home,))


def _cli(home: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "ttvd", *args], env=process_env(home, **env),
                          capture_output=True, text=True, timeout=120)
    return done.stdout + done.stderr
