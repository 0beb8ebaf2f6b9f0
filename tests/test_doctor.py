"""`ttvd doctor` checks what breaks jobs, one line each with what to do; a backend the user named
fails the job when its service is down instead of silently becoming the offline one."""
from __future__ import annotations

import re
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import pytest

from ttvd import config, daemons, pipeline
from ttvd.backends import Choice, doctor, falls_back
from ttvd.errors import StageError
from ttvd.home import Home
from ttvd.pipeline.plan import resolve
from ttvd.spool import Spool

from helpers import TINY, free_port, process_env
from standins.fixtures import make_job, online_env

STORY = "The ocean was calm at dawn, and the waves rolled in slowly."
LINE = r"^{stage}\s+{backend}\s+{verdict}\s+"


def doctor_run(home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ttvd", "doctor"], env=process_env(home, **env),
                          capture_output=True, text=True, timeout=120)


def line(output: str, stage: str) -> str:
    found = [row for row in output.splitlines() if row.split(" ", 1)[0] == stage]
    assert len(found) == 1, output
    return found[0]


def load(home: Path, **env: str) -> config.Settings:
    return config.load({}, TTVD_HOME=str(home), **{**TINY, **env})


# -- the command -------------------------------------------------------------------------------------

@pytest.mark.slow
def test_doctor_checks_everything_a_job_needs_in_a_fresh_home(home):
    Spool(home).ensure()
    done = doctor_run(home)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for stage, backend in [("speech", "espeak"), ("captions", "speech"), ("queries", "keywords"),
                           ("footage", "local"), ("fonts", "libass"), ("ffmpeg", "ffmpeg"),
                           ("encoder", "libx264"), ("home", "folder"), ("cache", "folder"), ("disk", "space"),
                           ("daemon", "spool")]:
        assert re.match(LINE.format(stage=stage, backend=backend, verdict="(ok|warn)"), line(out, stage)), out
    assert re.match(r"^ffmpeg\s+ffmpeg\s+ok\s+the binary of imageio-ffmpeg; ffmpeg version \S+ runs",
                    line(out, "ffmpeg"))
    assert line(out, "encoder").endswith("TTVD_ENCODER=libx264; encodes a test clip")
    assert line(out, "home").endswith(f"{home}; writable")
    assert line(out, "cache").endswith(f"{home / 'cache'} (under the home); created when first needed")
    assert "queued jobs wait until one starts: ttvd daemon" in line(out, "daemon")
    assert re.search(r"^\d+ problem\(s\) and \d+ warning\(s\)|^every check passed", out, re.M)
    assert not (home / "cache").exists()


@pytest.mark.slow
def test_a_missing_caption_font_is_a_problem_line_and_exit_1(home, tmp_path):
    Spool(home).ensure()
    missing = tmp_path / "nope" / "Caption.ttf"
    done = doctor_run(home, TTVD_FONT=str(missing))
    assert done.returncode == 1, done.stdout + done.stderr
    fonts = line(done.stdout, "fonts")
    assert re.match(LINE.format(stage="fonts", backend="libass", verdict="FAILED"), fonts)
    assert f"TTVD_FONT={missing!s}" in fonts and "is not a readable font file" in fonts
    assert fonts.endswith("set TTVD_FONT to a TTF or OTF file, or unset it for the bundled font")
    assert "1 problem(s)" in done.stdout


@pytest.mark.slow
def test_a_missing_home_is_reported_and_not_created(tmp_path):
    home = tmp_path / "not" / "yet"
    done = doctor_run(home)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.match(LINE.format(stage="home", backend="folder", verdict="warn") + re.escape(str(home)) +
                    "; does not exist yet", line(done.stdout, "home"))
    assert not (tmp_path / "not").exists()


# -- single checks -----------------------------------------------------------------------------------

def test_a_file_that_is_not_a_font_fails_the_font_check(home, tmp_path):
    fake = tmp_path / "fake.ttf"
    fake.write_text("not a font")
    check = doctor._fonts(load(home, TTVD_FONT=str(fake)))
    assert check.verdict == "FAILED" and "cannot read font" in check.detail


def test_a_home_that_is_a_file_fails(tmp_path):
    path = tmp_path / "home"
    path.write_text("")
    check = doctor._home(load(path))
    assert check.verdict == "FAILED" and "is a file, not a folder" in check.detail


def test_an_unusable_cache_matters_only_when_footage_is_downloaded(home):
    (home / "blocked").write_text("")
    cache = home / "blocked" / "cache"
    local = doctor._cache(load(home, TTVD_CACHE_DIR=str(cache)))
    assert local.verdict == "warn" and "unused while footage is local" in local.detail
    pexels = doctor._cache(load(home, TTVD_CACHE_DIR=str(cache), PEXELS_API_KEY="k"))
    assert pexels.verdict == "FAILED" and "Pexels footage cannot be downloaded" in pexels.detail


def test_low_disk_space_is_a_warning(home, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(doctor.shutil, "disk_usage", lambda path: usage(10**10, 10**10 - 3 * 10**8, 3 * 10**8))
    check = doctor._disk(load(home))
    assert check.verdict == "warn" and check.reason.startswith("0.3 GB free") and "free some space" in check.detail


def test_a_live_daemon_is_named(home):
    beat = daemons.DaemonFile(Home(home))
    beat.write("Idle", None, 0)
    try:
        check = doctor._daemon(load(home))
    finally:
        beat.remove()
    assert check.verdict == "ok" and check.reason == "1 alive" and f"{beat.host}-{beat.pid}" in check.detail


def test_an_unusable_hardware_encoder_is_a_warning_with_the_fallback(home):
    check = doctor._encoder(load(home, TTVD_ENCODER="h264_nvenc"))
    if check.verdict == "ok":
        pytest.skip("this machine encodes with NVENC")
    assert check.verdict == "warn" and "jobs encode with libx264 instead" in check.detail


# -- the fallback rule -------------------------------------------------------------------------------

@pytest.mark.parametrize("fallback, forced, expected", [
    ("auto", False, True), ("auto", True, False), ("offline", True, True), ("offline", False, True),
    ("never", False, False), ("never", True, False)])
def test_who_falls_back(home, fallback, forced, expected):
    choice = Choice("speech", "openai", "why", forced=forced)
    assert falls_back(choice, load(home, TTVD_FALLBACK=fallback)) is expected
    assert not falls_back(Choice("speech", "espeak", "why"), load(home, TTVD_FALLBACK="offline"))


def test_a_named_speech_backend_that_is_down_fails_the_job(home, openai_standin):
    openai_standin.faults(speech={"status": 503, "times": -1})
    job = make_job(home, STORY, online_env(openai_standin, TTVD_SPEECH="openai", TTVD_FOOTAGE="local"))
    with pytest.raises(StageError) as failure:
        pipeline.run(job)
    assert failure.value.stage == "speech"
    assert str(failure.value).startswith("OpenAI speech failed after 3 attempts: HTTP 503; not falling back to "
                                         "espeak because TTVD_SPEECH=openai (TTVD_FALLBACK=offline allows it)")
    assert "using espeak instead" not in job.reporter.text()


def test_a_backend_named_by_the_jobs_options_fails_too(home, openai_standin):
    openai_standin.faults(speech={"status": 503, "times": -1})
    job = make_job(home, STORY, online_env(openai_standin, TTVD_FOOTAGE="local"), {"speech": "openai"})
    with pytest.raises(StageError, match="because the job's options ask for openai"):
        pipeline.run(job)


def test_fallback_offline_lets_a_named_backend_fall_back(home, openai_standin):
    openai_standin.faults(speech={"status": 503, "times": -1})
    job = make_job(home, STORY, online_env(openai_standin, TTVD_SPEECH="openai", TTVD_FALLBACK="offline"))
    speech = pipeline._speech(job, resolve(job.settings, job.options))
    assert speech.engine == "espeak" and "using espeak instead" in job.reporter.text()


def test_fallback_never_fails_even_a_backend_auto_chose(home):
    unreachable = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens: connection refused
    job = make_job(home, STORY, {**online_env(), "OPENAI_API_KEY": "sk-test-0123456789abcdef",
                                 "OPENAI_BASE_URL": unreachable, "TTVD_SPEECH": "espeak",
                                 "TTVD_FALLBACK": "never"})
    with pytest.raises(StageError) as failure:
        pipeline.run(job)
    assert failure.value.stage == "queries"
    assert f"cannot connect to {unreachable}" in str(failure.value)
    assert "not falling back to keywords because TTVD_FALLBACK=never" in str(failure.value)


def test_named_pexels_that_is_down_fails_the_footage_stage(home, pexels_standin):
    pexels_standin.faults(search={"status": 502, "times": -1})
    job = make_job(home, STORY, online_env(pexels=pexels_standin, TTVD_FOOTAGE="pexels"))
    with pytest.raises(StageError) as failure:
        pipeline.run(job)
    assert failure.value.stage == "footage"
    assert "not falling back to local because TTVD_FOOTAGE=pexels" in str(failure.value)


def test_doctor_says_whether_jobs_fall_back_while_a_service_is_down(home, openai_standin):
    Spool(home).ensure()
    openai_standin.faults(models={"status": 503, "times": -1})
    auto = doctor_run(home, **online_env(openai_standin, TTVD_FOOTAGE="local"))
    assert auto.returncode == 1
    assert re.match(LINE.format(stage="speech", backend="openai", verdict="FAILED") + "OPENAI_API_KEY is set; "
                    "OpenAI model list failed after 1 attempt: HTTP 503; while it is down, jobs fall back to "
                    "espeak$", line(auto.stdout, "speech"))
    assert line(auto.stdout, "queries").endswith("while it is down, jobs fall back to keywords")
    named = doctor_run(home, **online_env(openai_standin, TTVD_SPEECH="openai", TTVD_FOOTAGE="local"))
    assert line(named.stdout, "speech").endswith(
        "while it is down, jobs fail at this stage: TTVD_SPEECH=openai names it "
        "(TTVD_FALLBACK=offline lets them use espeak)")
    openai_standin.faults(models={"status": 401, "times": -1})
    rejected = doctor_run(home, **online_env(openai_standin, TTVD_FOOTAGE="local"))
    assert line(rejected.stdout, "speech").endswith(
        "OpenAI rejected the API key (HTTP 401); jobs fail at this stage until this is fixed")
