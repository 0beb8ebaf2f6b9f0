"""The file watcher can fail: missed events are made up by the periodic rescan, and a watcher
that dies is restarted, or the daemon exits non-zero for its supervisor to restart it."""
from ttvd.job import JobStatus
from ttvd.spool import Spool

from helpers import wait_for


def test_a_deaf_watcher_misses_every_event_and_the_rescan_still_finds_every_file(start, home):
    spool = Spool(home).ensure()
    daemon = start(["daemon"], home, TTVD_FAULTS="watch:deaf")
    wait_for(lambda: "daemon ready" in daemon.output(), 20, daemon)
    for n in range(5):
        (spool.home.watch / f"tale{n}.txt").write_text(f"Tale number {n}, dropped while nobody listened.")
    states = wait_for(lambda: (s := list(spool.states())) and len(s) == 5 and
                      all(x.status is JobStatus.COMPLETED for x in s) and s, 120, daemon)
    assert daemon.stop() == 0
    assert sorted(s.origin for s in states) == [f"tale{n}.txt" for n in range(5)]


def test_a_dying_watcher_is_restarted_then_the_daemon_exits_non_zero(start, home):
    spool = Spool(home).ensure()
    daemon = start(["daemon"], home, TTVD_FAULTS="watch:die")
    wait_for(lambda: "daemon ready" in daemon.output(), 20, daemon)
    for n in range(20):  # every event kills the watcher again
        (spool.home.watch / f"tale{n}.txt").write_text(f"Tale number {n}.")
        if daemon.popen.poll() is not None:
            break
        wait_for(lambda: daemon.output().count("file watcher died") > min(n, 3) or
                 daemon.popen.poll() is not None, 20)
    assert daemon.popen.wait(30) == 1
    log = daemon.output()
    assert log.count("the file watcher died; restarting it") == 3
    assert "the file watcher died 4 times; exiting" in log
