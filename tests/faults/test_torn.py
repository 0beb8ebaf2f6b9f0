"""Readers never see a partial state file, however fast it is rewritten."""
import json
import subprocess
import sys
import time

from ttvd.api import create_app
from ttvd.job import JobState, new_id

from helpers import Wsgi

WRITER = """
import sys, time
from pathlib import Path
from ttvd.job import JobState
from ttvd.spool import Spool
spool, state = Spool(Path(sys.argv[1])), JobState(sys.argv[2])
deadline, count = time.monotonic() + float(sys.argv[3]), 0
while time.monotonic() < deadline and count < 20000:
    count += 1
    state.progress = count % 101
    state.log("line %d " % count + "x" * (count % 500))  # the size changes on every rewrite
    spool.write_state(state)
print(count)
"""


def test_a_reader_hammering_a_state_file_never_sees_it_torn(spool, settings):
    client = Wsgi(create_app(settings.replace(rate_limit=0), spool))  # it reads as fast as it can
    job_id = new_id()
    spool.write_state(JobState(job_id))
    # Three writers replace the same file at once (each write is fsynced, so one alone is bounded
    # by the disk's fsync rate).
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(spool.home.root), job_id, "4"],
                                stdout=subprocess.PIPE, text=True) for _ in range(3)]
    path = spool.home.states / f"{job_id}.json"
    reads = torn = http_reads = 0
    progress_seen = set()
    deadline = time.monotonic() + 3.5
    while time.monotonic() < deadline and reads < 200000:
        for _ in range(20):
            reads += 1
            try:
                data = json.loads(path.read_bytes())
                progress_seen.add(data["progress"])
            except (ValueError, KeyError):
                torn += 1
        status, body = client.json("GET", f"/api/v1/status/{job_id}")  # and through the API
        assert status == 200 and set(body) >= {"status", "progress", "message", "created_at", "logs"}
        http_reads += 1
    rewrites = sum(int(writer.communicate(timeout=30)[0]) for writer in writers)
    print(f"\n{rewrites} rewrites in 4 s ({rewrites / 4:.0f}/s); {reads} direct reads and "
          f"{http_reads} API reads during them; {torn} torn")
    assert torn == 0
    assert rewrites > 400  # a hundred and more rewrites a second, each fsynced
    assert len(progress_seen) > 10  # the reader really did see it change
    assert [p.name for p in spool.home.queue("tmp").iterdir()] == []
