"""Progress for a person: one bar redrawn in place on a terminal (stage, percent, elapsed, ETA), plain
lines when piped; Ctrl-C while following a job stops the following, not the job. Unit tests on a fake
terminal with an injected clock, then real processes under a pseudo-terminal and through a pipe."""
from __future__ import annotations

import io
import logging
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ttvd import daemons
from ttvd.cli import jobs as cli_jobs
from ttvd.home import Home
from ttvd.job import STAGES, JobState, JobStatus
from ttvd.progress import Progress, clock_text, on_terminal, stage_of
from ttvd.spool import Spool

from helpers import process_env, wait_for

STORY = ("The night train left the station at dawn. It carried seven sleepy passengers north, past fields "
         "white with frost. By noon the river shone below the bridge, and the city rose out of the haze.")


class FakeTerminal(io.StringIO):
    """A text stream that says it is (or is not) a terminal."""

    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


class Clock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def run_stages(progress: Progress, clock: Clock) -> None:
    """Report a whole job: each stage a second apart, the render 90..99 over ten seconds, then done."""
    for stage in STAGES:
        progress.update(stage.name, stage.progress, stage.message)
        clock.now += 1
    for percent in range(91, 100):
        clock.now += 1
        progress.update("render", percent, "Rendering video...")
    progress.update("done", 100, "Video generation completed")


# -- the reporter ------------------------------------------------------------------------------------

def test_piped_output_is_one_plain_line_per_stage_and_per_ten_percent():
    stream, clock = FakeTerminal(tty=False), Clock()
    with Progress(stream, clock=clock) as progress:
        assert not progress.interactive
        run_stages(progress, clock)
    assert stream.getvalue().splitlines() == [
        " 20% Generating audio...", " 40% Generating captions...", " 60% Generating video search queries...",
        " 80% Fetching background videos...", " 90% Rendering video...", "100% Video generation completed"]
    assert "\r" not in stream.getvalue()


def test_a_terminal_gets_one_bar_redrawn_in_place():
    stream, clock = FakeTerminal(tty=True), Clock()
    progress = Progress(stream, clock=clock, columns=200)
    assert progress.interactive
    run_stages(progress, clock)
    out = stream.getvalue()
    assert "\n" not in out  # every draw replaced the last one
    draws = out.split("\r")[1:]
    assert len(draws) == 5 + 9 + 1
    assert draws[0].startswith("speech    20% [#####...................] 0:00  ETA --:--  Generating audio...")
    assert re.match(r"render\s+95% \[#+\.*\] 0:10  ETA 0:06  Rendering video\.\.\.", draws[4 + 5])
    assert draws[-1].startswith("done     100% [########################] 0:14  Video generation completed")
    progress.finish()
    assert stream.getvalue().endswith("completed\n")
    progress.finish()  # once only
    assert stream.getvalue().count("\n") == 1


def test_the_eta_comes_from_the_render_speed_and_counts_down_between_reports():
    stream, clock = FakeTerminal(tty=True), Clock(100.0)
    progress = Progress(stream, clock=clock, columns=200)
    progress.update("footage", 80, "Fetching background videos...")
    clock.now = 110
    progress.update("render", 90, "Rendering video...")
    assert "ETA --:--" in progress.line()  # nothing encoded yet: no speed to go by
    clock.now = 130
    progress.update("render", 92, "Rendering video...")  # 2 points in 20 s: 8 more take 80 s
    assert "0:30  ETA 1:20" in progress.line()
    clock.now = 150
    progress.tick()
    assert stream.getvalue().split("\r")[-1].startswith("render    92% [######################..] 0:50  ETA 1:00")
    clock.now = 300
    assert "ETA 0:00" in progress.line()  # late: never negative


def test_the_bar_fits_the_terminal_and_a_shorter_draw_blanks_the_longer_one():
    stream = FakeTerminal(tty=True)
    progress = Progress(stream, clock=Clock(), columns=40)
    progress.update("queries", 60, "Generating video search queries...")
    progress.update("done", 100, "ok")
    first, second = stream.getvalue().split("\r")[1:]
    assert len(first) == 39 and len(second) == 39  # never the last column, which would wrap
    assert second.rstrip().endswith("ok")


def test_notes_and_log_records_print_above_the_bar_and_the_handler_is_restored(monkeypatch):
    stream = FakeTerminal(tty=True)
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [handler])
    with Progress(stream, clock=Clock(), columns=100) as progress:
        progress.update("speech", 20, "Generating audio...")
        logging.getLogger("ttvd.test").warning("a warning for the user")
        progress.note("     footage by Ann: https://example.com/1")
    assert handler.stream is stream
    lines = stream.getvalue().split("\n")
    assert lines[0].endswith("\ra warning for the user") and "speech" in lines[0]
    assert lines[1].endswith("\r     footage by Ann: https://example.com/1")
    assert lines[2].lstrip("\r").startswith("speech    20%") and lines[3] == ""


def test_plain_lines_do_not_repeat_when_only_the_label_changes():
    stream = FakeTerminal(tty=False)
    progress = Progress(stream, clock=Clock())
    progress.show(JobState("a"))
    progress.show(JobState("a", status=JobStatus.PROCESSING))  # claimed: "starting", same message
    assert stream.getvalue() == "  0% Job queued\n"


def test_plain_finish_prints_a_last_line_only_when_it_was_not_just_shown():
    stream = FakeTerminal(tty=False)
    progress = Progress(stream, clock=Clock())
    progress.update("failed", 40, "Failed at captions: no words")
    progress.finish("Failed at captions: no words")
    progress.finish("stopped following")
    assert stream.getvalue() == " 40% Failed at captions: no words\nstopped following\n"


def test_a_terminal_is_a_tty_not_the_journal_and_not_dumb(monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    assert not on_terminal(FakeTerminal(tty=False))
    master, slave = pty.openpty()
    with os.fdopen(slave, "w") as tty:
        assert on_terminal(tty)
        st = os.fstat(slave)
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
        assert not on_terminal(tty)
        monkeypatch.delenv("JOURNAL_STREAM")
        monkeypatch.setenv("TERM", "dumb")
        assert not on_terminal(tty)
    os.close(master)


def test_clock_text_and_the_stage_of_a_state():
    assert [clock_text(s) for s in (0, 59.9, 61, 3600 + 62, -5)] == ["0:00", "0:59", "1:01", "1:01:02", "0:00"]
    assert stage_of(JobState("a")) == "queued"
    assert stage_of(JobState("a", status=JobStatus.PROCESSING)) == "starting"
    assert stage_of(JobState("a", status=JobStatus.PROCESSING, stage="footage")) == "footage"
    assert stage_of(JobState("a", status=JobStatus.COMPLETED, stage="done")) == "done"
    assert stage_of(JobState("a", status=JobStatus.FAILED, stage="speech")) == "failed"


# -- following a job (cli_jobs.follow) -------------------------------------------------------------------

class ScriptedSpool:
    """A spool whose job state changes at each read, as a daemon would change it; then Ctrl-C if asked."""

    def __init__(self, root: Path, states: list[JobState], interrupt: bool = False) -> None:
        self.home = Home(root)
        self.states = states
        self.interrupt = interrupt

    def read_state(self, job_id: str) -> JobState:
        if not self.states and self.interrupt:
            raise KeyboardInterrupt
        return self.states.pop(0) if len(self.states) > 1 or self.interrupt else self.states[0]


def states(*steps: tuple[JobStatus, str | None, int, str]) -> list[JobState]:
    return [JobState("j" * 32, status=status, stage=stage, progress=percent, message=message,
                     created_at=int(time.time()), output_file="output/video_x.mp4")
            for status, stage, percent, message in steps]


def test_follow_on_a_terminal_draws_the_bar_and_prints_the_video_path(tmp_path, monkeypatch, capsys):
    terminal = FakeTerminal(tty=True)
    monkeypatch.setattr(sys, "stderr", terminal)
    spool = ScriptedSpool(tmp_path, states(
        (JobStatus.QUEUED, None, 0, "Job queued"), (JobStatus.PROCESSING, "speech", 20, "Generating audio..."),
        (JobStatus.PROCESSING, "render", 93, "Rendering video..."),
        (JobStatus.COMPLETED, "done", 100, "Video generation completed")))
    assert cli_jobs.follow(spool, "j" * 32, interval=0) == 0
    out = terminal.getvalue()
    assert re.search(r"\rqueued\s+0% \[\.+\] \d:\d\d  ETA --:--  Job queued", out)
    assert re.search(r"\rspeech\s+20% .* Generating audio\.\.\.", out)
    assert re.search(r"\rdone\s+100% \[#+\] \d:\d\d  Video generation completed\s*\n", out)
    assert capsys.readouterr().out == f"{tmp_path / 'output/video_x.mp4'}\n"


def test_follow_reports_a_failure_in_full_and_exits_1(tmp_path, monkeypatch):
    terminal = FakeTerminal(tty=True)
    monkeypatch.setattr(sys, "stderr", terminal)
    reason = "Failed at speech: OpenAI speech failed after 4 attempts: cannot connect; " + "x" * 100
    spool = ScriptedSpool(tmp_path, states((JobStatus.FAILED, "speech", 20, reason)))
    assert cli_jobs.follow(spool, "j" * 32, interval=0) == 1
    assert terminal.getvalue().endswith(f"\n{reason}\n")  # whole, below the bar it would not fit in


def test_ctrl_c_stops_following_not_the_job(tmp_path, monkeypatch):
    terminal = FakeTerminal(tty=True)
    monkeypatch.setattr(sys, "stderr", terminal)
    spool = ScriptedSpool(tmp_path, states((JobStatus.PROCESSING, "render", 91, "Rendering video...")),
                          interrupt=True)
    assert cli_jobs.follow(spool, "j" * 32, interval=0) == 130
    assert terminal.getvalue().endswith(
        f"\nstopped following; the job goes on — follow it again with: ttvd wait {'j' * 32}\n")


# -- real processes ----------------------------------------------------------------------------------

def run_on_terminal(args: list[str], env: dict[str, str], timeout: float = 120) -> tuple[int, str, str]:
    """Run ``python -m ttvd ARGS`` with standard error on a pseudo-terminal: (status, terminal, stdout)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "ttvd", *args], env={**env, "TERM": "xterm"},
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    seen = bytearray()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every writer of the terminal closed it
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    out = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))[0]
    return proc.returncode, seen.decode(errors="replace").replace("\r\n", "\n"), out.decode()


@pytest.mark.slow
def test_render_on_a_terminal_redraws_one_bar_with_the_stage_and_an_eta(home, tmp_path):
    story = tmp_path / "story.txt"
    story.write_text(STORY)
    status, terminal, out = run_on_terminal(["render", str(story), "-o", str(tmp_path / "v.mp4")],
                                            process_env(home))
    assert status == 0, terminal[-3000:]
    assert out.strip() == str(tmp_path / "v.mp4")
    redraws = terminal.count("\r")
    assert redraws >= 6, terminal
    assert re.search(r"\rspeech\s+20% \[#*\.*\] \d:\d\d  ETA --:--  Generating audio", terminal)
    assert re.search(r"\rrender\s+9\d% \[#*\.*\] \d:\d\d  ETA ", terminal)
    assert re.search(r"\rdone\s+100% \[#+\] \d:\d\d  Video generation completed in [\d.]+ s", terminal)
    # the bar's own line, and the log lines printed above it (INFO: the voice chosen), nothing more
    assert terminal.count("\n") <= 4, terminal
    assert "Generating captions...\n" not in terminal


@pytest.mark.slow
def test_render_piped_gives_plain_lines(home, tmp_path):
    story = tmp_path / "story.txt"
    story.write_text(STORY)
    run = subprocess.run([sys.executable, "-m", "ttvd", "render", str(story), "-o", str(tmp_path / "v.mp4")],
                         env=process_env(home), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "\r" not in run.stderr
    lines = [line for line in run.stderr.splitlines() if "%" in line[:5]]
    assert [line.split("%")[0].strip() for line in lines] == ["20", "40", "60", "80", "90", "100"]
    assert lines[-1].startswith("100% Video generation completed in ")


@pytest.mark.slow
def test_submit_wait_on_a_terminal_follows_the_daemon_with_the_bar(start, home, tmp_path):
    story = tmp_path / "story.txt"
    story.write_text(STORY)
    daemon = start(["daemon"], home)
    wait_for(lambda: any(d["state"] == "ok" for d in daemons.read_all(Home(home))), 30, daemon)
    status, terminal, out = run_on_terminal(["submit", str(story), "--wait"], process_env(home))
    assert status == 0, terminal[-3000:]
    job_id, video = out.split()
    assert video == str(home / "output" / f"video_{job_id}.mp4") and Path(video).exists()
    assert re.search(r"\r(queued|starting|speech|captions|queries|footage|render)\s+\d+% \[", terminal)
    assert re.search(r"\rdone\s+100% \[#+\] \d:\d\d  Video generation completed", terminal)
    assert terminal.count("\n") <= 3, terminal


@pytest.mark.slow
@pytest.mark.parametrize("command", ["wait", "submit"])
def test_ctrl_c_while_following_leaves_the_job_queued(start, home, tmp_path, command):
    spool = Spool(home).ensure()
    story = tmp_path / "story.txt"
    story.write_text(STORY)
    if command == "wait":
        job_id = spool.submit(STORY, "cli").job_id
        proc = start(["wait", job_id], home)
    else:
        proc = start(["submit", str(story), "--wait"], home)
    deadline = time.monotonic() + 30
    while "Job queued" not in proc.output() and time.monotonic() < deadline:
        time.sleep(0.1)
    job_id = spool.queued_ids()[0]
    proc.popen.send_signal(signal.SIGINT)
    assert proc.popen.wait(30) == 130
    assert f"stopped following; the job goes on — follow it again with: ttvd wait {job_id}" in proc.output()
    state = spool.read_state(job_id)
    assert state is not None and state.status is JobStatus.QUEUED and spool.queued_ids() == [job_id]
