"""Three daemons on one home share the queue: every job is claimed, run and recorded exactly once."""
import re
from collections import Counter

from faults.faultkit import encoders, queue
from ttvd.job import COMPLETED_MESSAGE, JobStatus
from ttvd.spool import Spool

from helpers import wait_for


def test_three_daemons_thirty_jobs_each_processed_exactly_once(start, home):
    spool = Spool(home).ensure()
    daemons = [start(["daemon"], home) for _ in range(3)]
    ids = [spool.submit(f"Tale number {n}. The end.", "cli").job_id for n in range(30)]

    def all_done():
        states = [spool.read_state(job_id) for job_id in ids]
        return all(s.status in (JobStatus.COMPLETED, JobStatus.FAILED) for s in states) and states

    states = wait_for(all_done, 240, daemons[0])
    codes = [proc.stop() for proc in daemons]
    assert codes == [0, 0, 0]

    for state in states:
        assert state.status is JobStatus.COMPLETED, state.logs
        assert state.attempts == 1
        assert sum(line.startswith("Processing started") for line in state.logs) == 1
        assert state.logs.count(COMPLETED_MESSAGE) == 1
    assert queue(home, "done") == sorted(f"{job_id}.json" for job_id in ids)
    assert queue(home, "active") == queue(home, "incoming") == queue(home, "corrupt") == []

    starts = Counter()
    per_daemon = []
    for proc in daemons:
        mine = re.findall(r"job (\S+): Processing started", proc.output())
        per_daemon.append(len(mine))
        starts.update(mine)
    assert starts == Counter({job_id: 1 for job_id in ids})  # each claimed by exactly one daemon
    assert sum(per_daemon) == 30 and min(per_daemon) > 0, per_daemon  # and the work was shared
    assert encoders(home) == []
