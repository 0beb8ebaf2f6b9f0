"""The systemd units: they verify, score well on hardening, and their command lines really run.

``systemd-analyze verify`` checks that ExecStart's binary exists, and the shipped units name
``/opt/ttvd/venv/bin/ttvd``. So the checks run on what ``ttvd install-systemd`` writes for this
checkout's virtual environment: the same text with that one path changed, which is also exactly what
an operator gets.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from test_notify import NotifySocket

from ttvd import config, install

from helpers import PREFIXES, TINY, Http, free_port, wait_for

UNITS_DIR = Path(__file__).parent.parent / "systemd"
SERVICES = ("ttvd-daemon.service", "ttvd-api.service")
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None,
                                   reason="systemd-analyze is not installed (.ci/run installs systemd)")


@pytest.fixture
def installed(tmp_path) -> Path:
    """The units as ``ttvd install-systemd`` installs them, into a temporary directory."""
    dest = tmp_path / "units"
    result = subprocess.run([sys.executable, "-m", "ttvd", "install-systemd", "--dest", str(dest),
                             "--env-file", str(tmp_path / "etc" / "ttvd.env")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return dest


def directives(unit: Path, section: str = "Service") -> list[tuple[str, str]]:
    """(key, value) pairs of one section, in order."""
    found, current = [], None
    for line in unit.read_text().splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
        elif current == section and line and not line.startswith(("#", ";")) and "=" in line:
            key, value = line.split("=", 1)
            found.append((key.strip(), value.strip()))
    return found


def read_env_file(path: Path) -> dict[str, str]:
    """NAME=value lines as systemd reads an EnvironmentFile= (comments and blanks skipped)."""
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";")):
            key, value = line.split("=", 1)
            env[key.strip()] = value.strip()
    return env


# -- install-systemd --------------------------------------------------------------------------------

@pytest.mark.slow
def test_install_points_units_at_this_installation_and_keeps_the_env_file(installed, tmp_path):
    exe = str(Path(sys.executable).parent / "ttvd")
    for name in install.UNITS:
        text = (installed / name).read_text()
        assert install.SHIPPED_EXEC not in text
        shipped = (UNITS_DIR / name).read_text()
        assert text == install.render_unit(shipped, exe, str(tmp_path / "etc" / "ttvd.env"))
    assert f"ExecStart={exe} daemon" in (installed / "ttvd-daemon.service").read_text()
    env_file = tmp_path / "etc" / "ttvd.env"
    assert env_file.stat().st_mode & 0o777 == 0o600
    env_file.write_text("TTVD_PORT=6000\n")
    subprocess.run([sys.executable, "-m", "ttvd", "install-systemd", "--dest", str(installed),
                    "--env-file", str(env_file)], check=True, capture_output=True, timeout=60)
    assert env_file.read_text() == "TTVD_PORT=6000\n", "the operator's settings are never overwritten"


def test_env_example_holds_only_valid_settings():
    env = read_env_file(UNITS_DIR / "ttvd.env.example")
    for name in env:
        config.describe(name)  # KeyError for a name ttvd does not know
    commented = re.findall(r"^#([A-Z][A-Z0-9_]+)=", (UNITS_DIR / "ttvd.env.example").read_text(), re.M)
    for name in commented:
        config.describe(name)
    settings = config.load(env)
    assert settings.host == "127.0.0.1", "the API binds loopback by default; a reverse proxy faces the world"


def test_units_share_one_home_and_the_target_manages_both():
    for name in SERVICES:
        service = dict(directives(UNITS_DIR / name))
        assert service["StateDirectory"] == "ttvd"
        assert ("Environment", "TTVD_HOME=/var/lib/ttvd") in directives(UNITS_DIR / name)
        assert service["User"] == service["Group"] == "ttvd"
        assert service["Type"] == "notify" and service["Restart"] == "on-failure"
        assert dict(directives(UNITS_DIR / name, "Unit"))["PartOf"] == "ttvd.target"
    target = dict(directives(UNITS_DIR / "ttvd.target", "Unit"))
    assert set(target["Wants"].split()) == set(SERVICES)


def test_stop_timeout_leaves_room_for_the_graceful_stop():
    service = dict(directives(UNITS_DIR / "ttvd-daemon.service"))
    grace = float(read_env_file(UNITS_DIR / "ttvd.env.example")["TTVD_STOP_GRACE_SECONDS"])
    assert service["KillMode"] == "mixed"
    assert _seconds(service["TimeoutStopSec"]) >= grace + 15
    assert _seconds(service["WatchdogSec"]) > 0


def _seconds(value: str) -> float:
    number, unit = re.fullmatch(r"(\d+)(s|min)?", value).groups()
    return float(number) * (60 if unit == "min" else 1)


# -- systemd-analyze --------------------------------------------------------------------------------

@pytest.mark.slow
@needs_analyze
def test_units_verify(installed):
    result = subprocess.run([ANALYZE, "verify", *(str(installed / name) for name in install.UNITS)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ttvd" not in result.stderr, f"warnings about our units:\n{result.stderr}"


@pytest.mark.slow
@needs_analyze
@pytest.mark.parametrize("name", SERVICES)
def test_units_score_ok_on_hardening(installed, name, capsys):
    result = subprocess.run([ANALYZE, "security", "--offline=true", "--no-pager", str(installed / name)],
                            capture_output=True, text=True, timeout=120)
    match = re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)", result.stdout)
    assert match, result.stdout + result.stderr
    score, verdict = float(match.group(1)), match.group(2)
    with capsys.disabled():
        print(f"\nsystemd-analyze security: {name} {score} {verdict}")
    assert score < 2.0, f"{name} scores {score} {verdict}; was 1.2 or better:\n{result.stdout}"


# -- the units' own command lines -------------------------------------------------------------------

def unit_command(unit: Path, home: Path, **overrides: str) -> tuple[list[str], dict[str, str]]:
    """ExecStart and the environment systemd would give it: Environment=, then EnvironmentFile=."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIXES)}
    argv = None
    for key, value in directives(unit):
        if key == "Environment":
            name, _, val = value.partition("=")
            env[name] = val
        elif key == "EnvironmentFile":
            env.update(read_env_file(Path(value.lstrip("-"))))
        elif key == "ExecStart":
            argv = shlex.split(value)
    env.update(TTVD_HOME=str(home), **overrides)
    return argv, env


@pytest.mark.slow
def test_unit_commands_start_answer_and_run_a_job(installed, home, tmp_path):
    """Both ExecStart lines, with the example settings file, run against a temporary home."""
    notify = {name: NotifySocket(str(tmp_path / f"{name}.sock")) for name in SERVICES}
    port = free_port()
    procs = {}
    try:
        for name in SERVICES:
            argv, env = unit_command(installed / name, home, TTVD_PORT=str(port), **TINY)
            env["NOTIFY_SOCKET"] = notify[name].address
            procs[name] = subprocess.Popen(argv, env=env, cwd=home, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                           stderr=open(tmp_path / f"{name}.log", "wb"))
        for name in SERVICES:
            wait_for(lambda: "READY=1" in notify[name].lines() or procs[name].poll() is not None, 30)
            assert procs[name].poll() is None, (tmp_path / f"{name}.log").read_text()
        client = Http(f"http://127.0.0.1:{port}")
        status, body = client.json("POST", "/api/v1/generate", {"text": "Service test. It runs."})
        assert status == 202
        job = body["job_id"]
        wait_for(lambda: client.json("GET", f"/api/v1/status/{job}")[1]["status"] == "completed", 60)
        for name, proc in procs.items():
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0, (tmp_path / f"{name}.log").read_text()
            assert "STOPPING=1" in notify[name].lines()
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for sock in notify.values():
            sock.close()


# -- MemoryDenyWriteExecute=yes ---------------------------------------------------------------------

_PR_SET_MDWE, _PR_MDWE_REFUSE_EXEC_GAIN = 65, 1
_MDWE_THEN_EXEC = f"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl({_PR_SET_MDWE}, {_PR_MDWE_REFUSE_EXEC_GAIN}, 0, 0, 0) != 0:
    sys.exit(77)
os.execv(sys.argv[1], sys.argv[1:])
"""


@pytest.mark.slow
def test_pipeline_runs_with_write_execute_memory_refused(tmp_path):
    """The kernel's own W^X switch (what MemoryDenyWriteExecute= enforces) with a real render under it:
    eSpeak NG's ctypes callbacks and the ffmpeg child must work without writable+executable memory."""
    story = tmp_path / "story.txt"
    story.write_text("Memory that is written is never executed. The video still renders.")
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIXES)}
    env.update(TINY)
    result = subprocess.run([sys.executable, "-c", _MDWE_THEN_EXEC, sys.executable, "-m", "ttvd", "render",
                             str(story), "-o", str(tmp_path / "out.mp4")],
                            env=env, capture_output=True, text=True, timeout=120)
    if result.returncode == 77:
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3+)")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out.mp4").stat().st_size > 1000


def test_write_execute_memory_is_really_refused_under_the_switch():
    probe = "import mmap; mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)"
    result = subprocess.run([sys.executable, "-c", _MDWE_THEN_EXEC, sys.executable, "-c", probe],
                            capture_output=True, text=True, timeout=60)
    if result.returncode == 77:
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3+)")
    assert "PermissionError" in result.stderr


# -- logging under the journal ----------------------------------------------------------------------

@pytest.mark.slow
def test_log_lines_under_the_journal_carry_a_priority_and_no_timestamp(home, tmp_path):
    """With $JOURNAL_STREAM naming our stderr, each line is ``<6>INFO logger: message`` for journald."""
    story = tmp_path / "story.txt"
    story.write_text("One line for the journal.")
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIXES)}
    for journal in (True, False):
        err = tmp_path / f"stderr-{journal}.log"
        with open(err, "wb") as handle:
            st = os.fstat(handle.fileno())
            env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}" if journal else "1:1"
            subprocess.run([sys.executable, "-m", "ttvd", "--home", str(home), "submit", str(story)],
                           env=env, stdout=subprocess.DEVNULL, stderr=handle, check=True, timeout=60)
        # the first log line (a new home is first announced in one plain "ttvd: ..." line)
        line = next(line for line in err.read_text().splitlines() if "ttvd.spool" in line)
        if journal:
            assert re.fullmatch(r"<6>INFO ttvd\.spool: job \S+ queued \(source cli\)", line), line
        else:
            assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ INFO ttvd\.spool: job ", line), line


def test_the_template_unit_is_the_daemon_unit_with_an_instance():
    shipped = (UNITS_DIR / install.TEMPLATE).read_text()
    assert shipped == install.template_unit((UNITS_DIR / "ttvd-daemon.service").read_text()), \
        "run `make docs` after changing ttvd-daemon.service"
    assert "SyslogIdentifier=ttvd-daemon-%i" in shipped and "Description=ttvd text-to-video daemon %i" in shipped
    assert dict(directives(UNITS_DIR / install.TEMPLATE, "Install")) == {"WantedBy": "ttvd.target"}


def test_env_example_lists_every_setting():
    text = (UNITS_DIR / "ttvd.env.example").read_text()
    assert text[text.index(config.ENV_START):].split("\n", 1)[1].startswith(config.env_listing()), \
        "run `make docs` after changing a setting"
    assert set(re.findall(r"^#?([A-Z][A-Z0-9_]+)=", text, re.M)) == {s.name for s in config.SETTINGS}
