"""Many hosts on one spool, whose locks do not cross: one folder served by sshd on 127.0.0.1 and
mounted three times with sshfs (FUSE), a daemon per mount. A lock taken through one mount is not seen
through another (as between hosts on a network filesystem), so only the lease tells a live claim
from an abandoned one. Skipped, with the reason, where sshd, sshfs or FUSE mounts are not available."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from faults.faultkit import SLOW, SLOW_TEXT, encoders, queue
from ttvd.job import COMPLETED_MESSAGE, JobStatus
from ttvd.spool import Spool

from helpers import free_port, wait_for

pytestmark = pytest.mark.slow

SSHD = "/usr/sbin/sshd"
# TTVD_LEASE_SECONDS: renewed every 4 s; a dead host's job is taken back after 16 s. Shorter leases race a
# loaded machine: every renewal is an SFTP round trip through sshd, and sshfs keeps mtimes to the second.
LEASE = "16"
# No caching of attributes, names or directories: every stat asks the server (docs/many-hosts.md).
MOUNT_OPTIONS = "dir_cache=no,attr_timeout=0,entry_timeout=0,negative_timeout=0"


def _missing() -> str | None:
    for tool in ("sshfs", "ssh-keygen", "fusermount3"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install sshfs openssh-server)"
    if not os.path.exists(SSHD):
        return f"{SSHD} is not installed (apt-get install openssh-server)"
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse does not exist: FUSE mounts are not possible here"
    return None


class Shared:
    """A folder served over SFTP by a private sshd on a loopback port, mounted once per host."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.served = root / "served"
        self.served.mkdir(parents=True)
        self.mounts: list[Path] = []
        keys = root / "keys"
        keys.mkdir()
        for name in ("host", "user"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / name)], check=True)
        shutil.copy(keys / "user.pub", keys / "authorized_keys")
        self.key = keys / "user"
        self.port = free_port()
        config = root / "sshd_config"
        config.write_text(f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {keys / 'host'}\n"
                          f"AuthorizedKeysFile {keys / 'authorized_keys'}\nPasswordAuthentication no\n"
                          f"StrictModes no\nUsePAM no\nPidFile {root / 'sshd.pid'}\n"
                          "Subsystem sftp internal-sftp\n")
        try:
            os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation folder
        except OSError:
            pass
        self.sshd = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL,
                                     stderr=open(root / "sshd.log", "ab"))

    def mount(self) -> Path:
        """One more mount of the served folder; pytest.skip with sshfs's words when it cannot mount."""
        point = self.root / f"host{len(self.mounts)}"
        point.mkdir()
        args = ["sshfs", "-p", str(self.port), "-o", f"IdentityFile={self.key},BatchMode=yes,"
                "StrictHostKeyChecking=no,UserKnownHostsFile=/dev/null,LogLevel=ERROR," + MOUNT_OPTIONS,
                f"{os.environ.get('USER') or 'root'}@127.0.0.1:{self.served}", str(point)]
        deadline = time.monotonic() + 10
        while True:  # sshd may still be starting
            done = subprocess.run(args, capture_output=True, text=True, timeout=20)
            if done.returncode == 0:
                break
            if time.monotonic() > deadline or self.sshd.poll() is not None:
                pytest.skip(f"cannot mount with sshfs here: {done.stderr.strip() or done.returncode}; "
                            f"sshd: {(self.root / 'sshd.log').read_text()[-300:]}")
            time.sleep(0.3)
        self.mounts.append(point)
        return point

    def close(self) -> None:
        for point in self.mounts:
            subprocess.run(["fusermount3", "-u", "-z", str(point)], capture_output=True, timeout=20)
        self.sshd.terminate()
        self.sshd.wait(10)


@pytest.fixture
def shared(tmp_path):
    reason = _missing()
    if reason:
        pytest.skip(reason)
    where = Shared(tmp_path / "shared")
    try:
        yield where
    finally:
        where.close()


def test_locks_do_not_cross_the_mounts(shared):
    """The premise: the fault this file is about is really there."""
    import fcntl
    one, two = shared.mount(), shared.mount()
    (one / "lock").write_text("")
    with open(one / "lock") as first, open(two / "lock") as second:
        fcntl.flock(first, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(second, fcntl.LOCK_EX | fcntl.LOCK_NB)  # granted: the two mounts do not share locks


def _starts(procs) -> Counter:
    starts: Counter = Counter()
    for proc in procs:
        starts.update(re.findall(r"job (\S+): Processing started", proc.output()))
    return starts


def test_three_hosts_thirty_jobs_each_run_exactly_once(shared, start):
    homes = [shared.mount() for _ in range(3)]
    spool = Spool(shared.served).ensure()
    daemons = [start(["daemon"], home, TTVD_LEASE_SECONDS=LEASE) for home in homes]
    ids = [spool.submit(f"Tale number {n}. The end.", "cli").job_id for n in range(30)]

    def all_done():
        states = [spool.read_state(job_id) for job_id in ids]
        return all(s and s.status in (JobStatus.COMPLETED, JobStatus.FAILED) for s in states) and states

    states = wait_for(all_done, 300, daemons[0])
    time.sleep(2)  # rescans after the last job: a live claim wrongly taken back would show now
    assert [proc.stop() for proc in daemons] == [0, 0, 0]
    for state in states:
        assert state.status is JobStatus.COMPLETED, state.logs
        assert state.attempts == 1, (state.job_id, state.attempts, state.logs)
        assert sum(line.startswith("Processing started") for line in state.logs) == 1, state.logs
        assert state.logs.count(COMPLETED_MESSAGE) == 1
    starts = _starts(daemons)
    assert starts == Counter({job_id: 1 for job_id in ids}), [j for j, n in starts.items() if n > 1]
    assert queue(shared.served, "done") == sorted(f"{job_id}.json" for job_id in ids)
    assert queue(shared.served, "active") == queue(shared.served, "incoming") == []
    assert list((shared.served / "spool" / "active").iterdir()) == []  # no owner record left behind


def test_a_host_killed_mid_job_has_its_job_taken_over_after_the_lease(shared, start):
    homes = [shared.mount() for _ in range(3)]
    spool = Spool(shared.served).ensure()
    first = start(["daemon"], homes[0], TTVD_LEASE_SECONDS=LEASE, **SLOW)
    job_id = spool.submit(SLOW_TEXT, "cli").job_id
    wait_for(lambda: (s := spool.read_state(job_id)) and s.status is JobStatus.PROCESSING and s.progress >= 20,
             120, first)
    others = [start(["daemon"], home, TTVD_LEASE_SECONDS=LEASE, **SLOW) for home in homes[1:]]
    killed_at = time.monotonic()
    first.stop(signal.SIGKILL)
    done = wait_for(lambda: (s := spool.read_state(job_id)) and s.status.finished and s, 300, others[0])
    finished_after = time.monotonic() - killed_at
    for proc in others:
        assert proc.stop() == 0
    assert done.status is JobStatus.COMPLETED, done.logs
    assert done.attempts == 2, done.logs  # the killed start and the one that finished
    starts = _starts([first, *others])
    assert starts[job_id] == 2, starts
    takers = [proc for proc in others if f"job {job_id}: Processing started" in proc.output()]
    assert len(takers) == 1  # taken over by exactly one of the other hosts
    assert finished_after >= float(LEASE) - 1  # not before the lease ran out: its lock could not tell
    assert queue(shared.served, "done") == [f"{job_id}.json"]
    assert encoders(shared.served) == [] and all(encoders(home) == [] for home in homes)


def test_a_frozen_host_has_its_job_taken_over_and_writes_nothing_after(shared, start):
    """SIGSTOP stands for a host that hangs (a stuck mount, a paused VM): its lock is invisible from the
    other mounts anyway, so the lease decides; the job completes while the owner is still stopped."""
    homes = [shared.mount() for _ in range(2)]
    spool = Spool(shared.served).ensure()
    owner = start(["daemon"], homes[0], TTVD_LEASE_SECONDS=LEASE, **SLOW)
    job_id = spool.submit(SLOW_TEXT, "cli").job_id
    wait_for(lambda: (s := spool.read_state(job_id)) and s.status is JobStatus.PROCESSING and s.progress >= 20,
             120, owner)
    other = start(["daemon"], homes[1], TTVD_LEASE_SECONDS=LEASE, **SLOW)
    owner.popen.send_signal(signal.SIGSTOP)
    try:
        done = wait_for(lambda: (s := spool.read_state(job_id)) and s.status.finished and s, 300, other)
        finished = spool.home.job(job_id).state.read_bytes()
        assert os.waitpid(owner.popen.pid, os.WNOHANG) == (0, 0)  # still there, and still stopped
    finally:
        owner.popen.send_signal(signal.SIGCONT)
    wait_for(lambda: "the claim was taken over by another daemon" in owner.output(), 60, owner)
    time.sleep(3)  # a renewal and a cancel poll: anything the old owner would write, it writes now
    assert spool.home.job(job_id).state.read_bytes() == finished, "the old owner wrote after losing the job"
    assert owner.stop() == 0 and other.stop() == 0
    assert done.status is JobStatus.COMPLETED and done.attempts == 2, done.logs
    assert _starts([owner, other])[job_id] == 2
    assert queue(shared.served, "done") == [f"{job_id}.json"]
    assert queue(shared.served, "active") == queue(shared.served, "incoming") == []
