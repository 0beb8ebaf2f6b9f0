"""The command line as a newcomer meets it: a missing daemon, a wrong home, a bad port or path each get
one line that says what to do; reads create no folder; nothing prints a traceback unless --debug asks."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from ttvd import daemons
from ttvd.cli import jobs as cli_jobs
from ttvd.spool import Spool

from helpers import process_env

NOT_A_HOME = "is not a ttvd home (no spool/ folder); pass --home DIR or set TTVD_HOME"
AS_ROOT = "runs as root, which ignores permission bits; the read-only filesystem test covers this case"


def ttvd(cwd: Path, *args: str, home: Path | None = None, text: str = "") -> subprocess.CompletedProcess[str]:
    """``python -m ttvd ARGS`` run in ``cwd`` as a user would: no TTVD_HOME unless ``home`` is given."""
    env = process_env(home or cwd)
    if home is None:
        del env["TTVD_HOME"]
    done = subprocess.run([sys.executable, "-m", "ttvd", *args], cwd=cwd, env=env, input=text,
                          capture_output=True, text=True, timeout=60)
    if "--debug" not in args:
        assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


def no_daemon(home: Path) -> str:
    return (f"ttvd: no daemon is running on home {home}; start one with: ttvd --home {home} daemon "
            "(or systemctl start ttvd.target)")


def error_lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    """Standard error without the log lines (they carry a timestamp and a level)."""
    return [line for line in done.stderr.splitlines() if not line[:4].isdigit()]


@pytest.fixture
def cwd(tmp_path) -> Path:
    """An empty folder that is not a ttvd home, where the user stands."""
    path = tmp_path / "somewhere"
    path.mkdir()
    return path


@pytest.fixture
def a_file(tmp_path) -> Path:
    path = tmp_path / "notes.txt"
    path.write_text("not a folder\n")
    return path


@pytest.fixture
def read_only_fs(tmp_path):
    """An empty read-only tmpfs (refused even to root); skipped where mounting is not permitted."""
    mount = tmp_path / "read-only"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(mount)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip() or result.returncode}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def write_beat(home: Path, pid: int, age: float) -> None:
    """A daemon status file as ``ttvd.daemons`` writes it, its heartbeat ``age`` seconds old."""
    folder = home / "spool" / "daemons"
    folder.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname()
    beat = {"host": host, "pid": pid, **daemons._here(),  # this boot and PID namespace: its pid is asked
            "started_at": time.time() - 300, "heartbeat_at": time.time() - age,
            "status": "Idle", "job_id": None, "jobs_run": 0}
    (folder / f"{host}-{pid}.json").write_text(json.dumps(beat))


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# -- no daemon serving the home ----------------------------------------------------------------------

def test_first_submit_creates_the_home_says_so_and_says_no_daemon_runs(cwd):
    first = ttvd(cwd, "submit", "-", text="Hello there.")
    assert first.returncode == 0, first.stderr
    job_id = first.stdout.strip()
    assert Spool(cwd).queued_ids() == [job_id]
    assert error_lines(first) == [f"ttvd: created a new ttvd home in {cwd}", no_daemon(cwd)]

    second = ttvd(cwd, "submit", "-", text="And again.")
    assert error_lines(second) == [no_daemon(cwd)], "the home is created once"

    status = ttvd(cwd, "status")
    assert status.returncode == 0 and json.loads(status.stdout)["queued"] == 2
    assert error_lines(status) == [no_daemon(cwd)]


@pytest.mark.parametrize("age, live, says", [
    (1, True, False),     # a fresh heartbeat from a live process: a daemon serves the home
    (600, True, True),    # stale: hung, or on a host we cannot see
    (1, False, True),     # fresh, but its process is gone
])
def test_no_daemon_is_judged_as_health_judges_it(cwd, age, live, says):
    write_beat(cwd, os.getpid() if live else dead_pid(), age)
    done = ttvd(cwd, "submit", "-", text="Hello there.")
    assert done.returncode == 0
    assert (no_daemon(cwd) in done.stderr) is says, done.stderr


def test_wait_says_no_daemon_while_it_waits(cwd):
    job_id = Spool(cwd).ensure().submit("Hello there.", "cli").job_id
    done = ttvd(cwd, "wait", job_id, "--timeout", "0.5")
    assert done.returncode == 124
    assert done.stderr.count(no_daemon(cwd)) == 1


class FakeClock:
    """``time`` for ``ttvd.cli_jobs``: sleeping moves the clock on at once."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.parametrize("daemon_alive, said", [(False, 4), (True, 0)])
def test_following_repeats_no_daemon_every_ten_seconds_not_every_poll(home, capsys, monkeypatch,
                                                                      daemon_alive, said):
    spool = Spool(home).ensure()
    job_id = spool.submit("Hello there.", "cli").job_id
    if daemon_alive:
        write_beat(home, os.getpid(), 1)
    monkeypatch.setattr(cli_jobs, "time", FakeClock())
    assert cli_jobs.follow(spool, job_id, interval=0.5, timeout=35) == 124  # 72 polls, at 0, 10, 20 and 30 s
    assert capsys.readouterr().err.count(no_daemon(home)) == said


def test_submit_says_nothing_when_a_real_daemon_runs(start, home):
    daemon = start(["daemon"], home)
    deadline = time.monotonic() + 30
    while not list((home / "spool" / "daemons").glob("*.json")):
        assert daemon.popen.poll() is None and time.monotonic() < deadline, daemon.output()
        time.sleep(0.1)
    done = ttvd(home, "submit", "-", text="Hello there.")
    assert done.returncode == 0 and "no daemon" not in done.stderr


# -- read-only commands create nothing ---------------------------------------------------------------

JOB = uuid.uuid4().hex


@pytest.mark.parametrize("args", [["status"], ["status", JOB], ["jobs"], ["jobs", "--json"], ["wait", JOB],
                                  ["cancel", JOB], ["retry", JOB], ["delete", JOB]])
def test_reads_outside_a_home_create_nothing_and_name_the_fix(cwd, args):
    done = ttvd(cwd, *args)
    assert done.returncode == 2
    assert done.stderr == f"ttvd: {cwd} {NOT_A_HOME}\n" and done.stdout == ""
    assert list(cwd.iterdir()) == []


def test_voices_needs_no_home_and_creates_nothing(cwd):
    done = ttvd(cwd, "voices")
    assert done.returncode == 0 and "espeak" in done.stdout
    assert list(cwd.iterdir()) == []


def test_a_missing_home_is_not_created_by_a_read(cwd):
    missing = cwd / "typo"
    done = ttvd(cwd, "--home", str(missing), "jobs")
    assert done.returncode == 2 and done.stderr == f"ttvd: {missing} {NOT_A_HOME}\n"
    assert not missing.exists()


# -- --home after the command name -------------------------------------------------------------------

def test_home_after_the_command_works_and_wins(cwd, tmp_path):
    home = tmp_path / "srv"
    done = ttvd(cwd, "submit", "-", "--home", str(home), text="Hello there.")
    assert done.returncode == 0 and Spool(home).queued_ids() == [done.stdout.strip()]
    assert list(cwd.iterdir()) == []

    listed = ttvd(cwd, "--home", str(cwd / "elsewhere"), "jobs", "--home", str(home))
    assert listed.returncode == 0 and done.stdout.strip() in listed.stdout
    assert ttvd(cwd, "--home", str(home), "jobs").stdout == listed.stdout


# -- one line, never a traceback ---------------------------------------------------------------------

@pytest.mark.parametrize("command", [["submit", "-"], ["serve", "--port", "1"], ["daemon", "--burst"]])
def test_a_home_that_is_a_file_or_under_one_is_named_in_one_line(cwd, a_file, command):
    for home, why in ((a_file, "it is a file, not a folder"),
                      (a_file / "home", "a part of its path is a file, not a folder")):
        done = ttvd(cwd, "--home", str(home), *command, text="Hello there.")
        assert done.returncode == 1
        assert error_lines(done) == [f"ttvd: cannot create a ttvd home ({home}): {why}; "
                                     "pass --home DIR naming a folder you can write"]
    assert list(cwd.iterdir()) == []


def test_reads_on_a_file_say_it_is_not_a_home(cwd, a_file):
    done = ttvd(cwd, "--home", str(a_file), "status")
    assert done.returncode == 2
    assert done.stderr == (f"ttvd: {a_file} is not a ttvd home (a file, not a folder); "
                           "pass --home DIR or set TTVD_HOME\n")


def test_serve_on_a_read_only_filesystem_names_the_home_not_the_socket(cwd, read_only_fs):
    done = ttvd(cwd, "--home", str(read_only_fs), "serve", "--port", "1")
    assert done.returncode == 1
    assert error_lines(done) == [f"ttvd: cannot create a ttvd home ({read_only_fs}): Read-only file system "
                                 f"({read_only_fs / 'spool'}); pass --home DIR naming a folder you can write"]


@pytest.mark.skipif(os.geteuid() == 0, reason=AS_ROOT)
def test_a_home_without_write_permission_is_named(cwd, tmp_path):
    home = tmp_path / "locked"
    home.mkdir(mode=0o555)
    try:
        for command in (["submit", "-"], ["serve", "--port", "1"]):
            done = ttvd(cwd, "--home", str(home), *command, text="Hello there.")
            assert done.returncode == 1
            assert error_lines(done) == [f"ttvd: cannot create a ttvd home ({home}): Permission denied "
                                         f"({home / 'spool'}); pass --home DIR naming a folder you can write"]
    finally:
        home.chmod(0o755)


def test_render_refuses_an_unwritable_output_before_any_work(cwd, a_file, tmp_path):
    cases = [(a_file / "clip.mp4", f"not a folder ({a_file})"),
             (a_file / "deeper" / "clip.mp4", f"not a folder ({a_file})")]
    for output, why in cases:
        done = ttvd(cwd, "render", "-", "-o", str(output), text="Hello there.")
        # this one line is all it wrote: a render that had begun would have printed its first stage
        assert done.returncode == 2
        assert done.stderr == (f"ttvd: cannot write the video ({output}): {why}; "
                               "choose -o in a folder you can write\n")
    folder = ttvd(cwd, "render", "-", "-o", str(tmp_path), text="Hello there.")
    assert folder.returncode == 2
    assert folder.stderr == f"ttvd: -o names a folder ({tmp_path}): give a file name, such as {tmp_path}/video.mp4\n"
    assert list(cwd.iterdir()) == []


def test_render_into_a_read_only_filesystem_is_refused_before_any_work(cwd, read_only_fs):
    output = read_only_fs / "clip.mp4"
    done = ttvd(cwd, "render", "-", "-o", str(output), text="Hello there.")
    assert done.returncode == 2
    assert done.stderr == (f"ttvd: cannot write the video ({output}): Read-only file system ({read_only_fs}); "
                           "choose -o in a folder you can write\n")


@pytest.mark.skipif(os.geteuid() == 0, reason=AS_ROOT)
def test_render_into_a_folder_without_write_permission_is_refused(cwd, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    try:
        done = ttvd(cwd, "render", "-", "-o", str(locked / "clip.mp4"), text="Hello there.")
        assert done.returncode == 2 and f"Permission denied ({locked})" in done.stderr
    finally:
        locked.chmod(0o755)


@pytest.mark.parametrize("args", [["jobs", "--json"], ["jobs"], ["status"]])
def test_a_reader_that_goes_away_ends_the_command_quietly(home, args):
    """``ttvd jobs | head``: no traceback, nothing on standard error, the status of a SIGPIPE (128 + 13)."""
    Spool(home).ensure().submit("Hello there.", "cli")
    proc = subprocess.Popen([sys.executable, "-m", "ttvd", *args], env=process_env(home),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # before it writes anything
    stderr = proc.stderr.read()
    assert proc.wait(60) == 141 and stderr == b""


def test_debug_shows_the_traceback_and_the_line(cwd):
    for args in (["--debug", "status"], ["status", "--debug"]):
        done = ttvd(cwd, *args)
        assert done.returncode == 2 and "Traceback (most recent call last)" in done.stderr
        assert done.stderr.endswith(f"ttvd: {cwd} {NOT_A_HOME}\n")
    assert list(cwd.iterdir()) == []


# -- ports ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("port", ["80000", "-1", "abc", "0", "1.5"])
def test_a_port_outside_1_to_65535_is_refused_before_anything(cwd, port):
    done = ttvd(cwd, "serve", "--port", port)
    assert done.returncode == 2
    assert f"argument --port: {port!r} is not a port: give a number from 1 to 65535" in done.stderr
    assert list(cwd.iterdir()) == []


def test_a_port_in_use_is_named_with_what_to_do(home):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = ttvd(home, "serve", "--port", str(port), home=home)
    assert done.returncode == 1
    assert (f"ttvd: cannot listen on 127.0.0.1:{port} (Address already in use): another program uses this "
            "port; choose another with --port N (or TTVD_PORT)") in done.stderr
