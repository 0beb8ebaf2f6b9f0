"""Readers never see a partial state file, however fast it is rewritten."""
import json
import subprocess
import sys
import time

from ttvd.api import create_app
from ttvd.job import JobState, new_id

from helpers import Wsgi

MINIMUM, SEEN = 150, 20  # rewrites each writer makes at least; distinct states the reader must see

# Counted, not timed: each writer rewrites until it has made MINIMUM rewrites and the reader has left the
# stop file, so how fast the machine is only changes how long the test takes.
WRITER = """
import sys
from pathlib import Path
from ttvd.job import JobState
from ttvd.spool import Spool
spool, state, stop, minimum = Spool(Path(sys.argv[1])), JobState(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
count = 0
while (count < minimum or not stop.exists()) and count < 20000:
    count += 1
    state.progress = count % 101
    state.log("line %d " % count + "x" * (count % 500))  # the size changes on every rewrite
    spool.write_state(state)
print(count)
"""


def test_a_reader_hammering_a_state_file_never_sees_it_torn(spool, settings, tmp_path):
    client = Wsgi(create_app(settings.replace(rate_limit=0), spool))  # it reads as fast as it can
    job_id = new_id()
    spool.write_state(JobState(job_id))
    stop = tmp_path / "stop"
    # Three writers replace the same file at once (each write is fsynced, so one alone is bounded
    # by the disk's fsync rate).
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(spool.home.root), job_id, str(stop), str(MINIMUM)],
                                stdout=subprocess.PIPE, text=True) for _ in range(3)]
    path = spool.home.states / f"{job_id}.json"
    reads = torn = http_reads = 0
    progress_seen = set()
    deadline = time.monotonic() + 300  # fails a writer that hangs; not a speed bound
    try:
        while any(writer.poll() is None for writer in writers):
            assert time.monotonic() < deadline, "the writers did not finish"
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
            if len(progress_seen) >= SEEN:  # the reader saw it change while it was rewritten: enough
                stop.touch()
    finally:
        stop.touch()
    rewrites = [int(writer.communicate(timeout=30)[0]) for writer in writers]
    print(f"\n{sum(rewrites)} rewrites; {reads} direct reads and {http_reads} API reads during them; {torn} torn")
    assert torn == 0
    assert min(rewrites) >= MINIMUM  # all three writers really wrote, over one another
    assert len(progress_seen) >= SEEN, progress_seen  # and the reader really did see it change
    assert [p.name for p in spool.home.queue("tmp").iterdir()] == []
