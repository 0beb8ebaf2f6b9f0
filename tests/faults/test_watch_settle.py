"""A watched file whose writer opened it before the daemon restarted, and then paused for longer than
the settle time, is not taken half-written: the new daemon sees the open writer too."""
import json
import time

from faults.faultkit import queue
from ttvd import daemons
from ttvd.home import Home

from helpers import wait_for

FIRST, REST = "The keeper climbed the stairs. ", "He lit the lamp, and the ships came home."


def ready(home):
    return any(b["state"] == "ok" for b in daemons.read_all(Home(home)))


def requests(home):
    found = []
    for name in ("incoming", "active", "done", "failed"):
        found += [json.loads(p.read_bytes()) for p in (home / "spool" / name).glob("*.json")]
    return found


def test_a_paused_writer_from_before_a_restart_keeps_its_file_until_it_closes_it(start, home):
    settle = {"TTVD_WATCH_SETTLE_SECONDS": "0.5"}
    before = start(["daemon"], home, **settle)
    wait_for(lambda: ready(home), 60, before)
    path = home / "watch" / "story.txt"
    with open(path, "w") as writer:
        writer.write(FIRST)
        writer.flush()
        time.sleep(1.5)  # the first daemon heard the write and waits for the close
        assert before.stop() == 0 and requests(home) == []
        after = start(["daemon"], home, **settle)
        wait_for(lambda: ready(home), 60, after)
        time.sleep(3)  # the writer pauses: six settle times without a change, the file still open
        assert requests(home) == [] and path.exists(), "a half-written file was taken"
        writer.write(REST)
    [request] = wait_for(lambda: requests(home), 30, after)
    assert request["text"] == FIRST + REST and request["origin"] == "story.txt"
    assert queue(home, "tmp") == [] or all(n.startswith(".") for n in queue(home, "tmp"))
    assert after.stop() == 0
