"""Daemons in containers: every one may be PID 1 on a host of the same name. Each has its own status
file (named by an id made at start), and one from another PID namespace is judged by its heartbeat,
never by asking this namespace about its pid."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from ttvd import daemons
from ttvd.daemons import DaemonFile
from ttvd.home import Home

from helpers import process_env, wait_for


def in_own_pid_namespace(home, log):
    """``ttvd daemon`` as PID 1 of a new PID namespace (as in a container), in its own process group."""
    command = ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-m", "ttvd", "daemon"]
    return subprocess.Popen(command, env=process_env(home), stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def namespaces_work() -> str:
    try:
        result = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", "echo $$"],
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unshare cannot run: {exc}"
    if result.returncode != 0 or result.stdout.strip() != "1":
        return f"unshare --pid cannot make a PID namespace here: {result.stderr.strip()[:200]}"
    return ""


def test_two_daemons_that_are_both_pid_1_are_both_listed_and_alive(home, tmp_path):
    reason = namespaces_work()
    if reason:
        pytest.skip(reason)
    procs = []
    try:
        for n in range(2):
            with open(tmp_path / f"daemon{n}.log", "ab") as log:
                procs.append(in_own_pid_namespace(home, log))
        beats = wait_for(lambda: (found := daemons.read_all(Home(home))) and len(found) == 2 and found,
                         60, interval=0.2)
        assert [b["pid"] for b in beats] == [1, 1] and len({b["id"] for b in beats}) == 2
        assert {b["host"] for b in beats} == {socket.gethostname()}
        assert len({b["pid_ns"] for b in beats} | {os.readlink("/proc/self/ns/pid")}) == 3
        assert [b["state"] for b in beats] == ["ok", "ok"]  # not "gone" by a PID 1 asked about here
        assert len(daemons.alive(beats)) == 2
        status = subprocess.run([sys.executable, "-m", "ttvd", "status"], env=process_env(home),
                                capture_output=True, text=True, timeout=60)
        listed = json.loads(status.stdout)["daemons"]
        assert sorted(b["id"] for b in listed) == sorted(b["id"] for b in beats)

        os.killpg(procs[0].pid, signal.SIGTERM)  # a clean stop removes that daemon's file only
        assert procs[0].wait(30) == 0
        left = daemons.read_all(Home(home))
        assert [b["id"] for b in left] == [b["id"] for b in beats if b["id"] in {x["id"] for x in left}]
        assert len(left) == 1 and left[0]["state"] == "ok"
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for n in range(len(procs)):
            print((tmp_path / f"daemon{n}.log").read_text(errors="replace")[-2000:])


def test_files_from_other_pid_namespaces_are_judged_by_their_heartbeat(home):
    host, dead = socket.gethostname(), _dead_pid()
    mine = DaemonFile(Home(home))
    mine.write("Waiting for jobs", None, 0)
    gone = DaemonFile(Home(home), pid=dead)  # this host, boot and namespace: the pid decides
    gone.write("Waiting for jobs", None, 0)
    containers = [DaemonFile(Home(home), pid=1), DaemonFile(Home(home), pid=1), DaemonFile(Home(home), pid=dead)]
    for n, other in enumerate(containers):
        other.write("Waiting for jobs", None, n)
        _rewrite(other, pid_ns="pid:[1234567]")  # written in another PID namespace
    old_format = DaemonFile(Home(home), pid=dead)  # a file without the namespace fields
    old_format.write("Waiting for jobs", None, 0)
    _rewrite(old_format, pid_ns=None, boot_id=None)

    beats = {b["id"]: b for b in daemons.read_all(Home(home))}
    assert len(beats) == 6 and all(b["host"] == host for b in beats.values())
    assert beats[mine.id]["state"] == "ok" and beats[gone.id]["state"] == "gone"
    assert [beats[c.id]["state"] for c in containers] == ["ok", "ok", "ok"]  # fresh heartbeats
    assert beats[old_format.id]["state"] == "ok"
    later = {b["id"]: b for b in daemons.read_all(Home(home), now=time.time() + 600)}
    assert [later[c.id]["state"] for c in containers] == ["stale", "stale", "stale"]
    assert later[gone.id]["state"] == "gone"


def _rewrite(daemon_file: DaemonFile, **fields) -> None:
    content = json.loads(daemon_file.path.read_bytes())
    for key, value in fields.items():
        if value is None:
            content.pop(key, None)
        else:
            content[key] = value
    daemon_file.path.write_text(json.dumps(content))


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid
