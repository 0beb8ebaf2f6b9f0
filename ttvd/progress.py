"""A job's progress for a person: one bar redrawn in place on a terminal, plain lines anywhere else.

On a terminal (and not under journald) the bar shows the stage, the percent, the time since the job
began and, while the video is encoded, an ETA from the encoder's speed so far. Piped or journald
output gets a line per stage (and per ten percent), in the ``" 20% Generating audio..."`` shape
scripts already read. The bar is plain ASCII and ``\\r``, no escape codes, so any terminal draws it.
"""
from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import TextIO

from ttvd.job import JobState, JobStatus

BAR_WIDTH = 24
MIN_BAR = 10
ETA_STAGE = "render"  # the one stage whose progress is the encoder's, so its speed predicts the rest
ENDED = ("done", "failed", "cancelled")  # the labels of a job that is over: no ETA
_UNKNOWN = "--:--"


def on_terminal(stream: TextIO) -> bool:
    """True when ``stream`` is a terminal a bar can be redrawn on: a tty, not the journal, not TERM=dumb."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        return False
    return tty and os.environ.get("TERM") != "dumb" and not _is_journal(stream)


def _is_journal(stream: TextIO) -> bool:
    """True when systemd connected ``stream`` to the journal ($JOURNAL_STREAM names it)."""
    try:
        device, inode = (int(part) for part in os.environ.get("JOURNAL_STREAM", "").split(":"))
        st = os.fstat(stream.fileno())
    except (ValueError, OSError, AttributeError):
        return False
    return (st.st_dev, st.st_ino) == (device, inode)


def clock_text(seconds: float) -> str:
    """``m:ss``, or ``h:mm:ss`` from an hour on."""
    minutes, secs = divmod(max(0, int(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def stage_of(state: JobState) -> str:
    """What a job is doing, in one word: its stage while it runs, else its status."""
    if state.status is JobStatus.PROCESSING:
        return state.stage or "starting"
    return "done" if state.status is JobStatus.COMPLETED else state.status.value


class Progress:
    """Shows one job's progress on ``stream``; use it as a context manager so the last line is ended.

    ``interactive`` (default: ``on_terminal(stream)``) chooses the bar over plain lines. ``clock`` and
    ``started`` give the elapsed time (the clock is injected, so tests need no sleeps). ``tick``, in
    seconds, redraws the bar from a thread while nothing reports, so the clock never looks stuck.
    """

    def __init__(self, stream: TextIO, interactive: bool | None = None, clock: Callable[[], float] = time.monotonic,
                 started: float | None = None, tick: float | None = None, columns: int | None = None) -> None:
        self.stream = stream
        self.interactive = on_terminal(stream) if interactive is None else interactive
        self.clock = clock
        self.started = clock() if started is None else started
        self.tick_seconds = tick
        self.columns = columns
        self.stage: str | None = None
        self.percent = 0
        self.message = ""
        self._stage_at, self._stage_from = self.started, 0  # when the stage was first seen, at what percent
        self._eta: tuple[float, float] | None = None  # (seconds left, when estimated)
        self._shown: tuple[int, str] | None = None  # the last plain line's decile and message
        self._drawn = 0   # characters of the bar now on screen; 0 when none
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._handlers: list[tuple[logging.StreamHandler, TextIO]] = []

    # -- what a job reports ---------------------------------------------------------------------

    def update(self, stage: str | None, percent: int, message: str) -> None:
        """The job is at ``percent`` of ``stage``, saying ``message``."""
        with self._lock:
            now = self.clock()
            if stage != self.stage:
                self._stage_at, self._stage_from, self._eta = now, percent, None
            self.stage, self.percent, self.message = stage, percent, message
            if stage == ETA_STAGE:
                self._estimate(now)
            if self.interactive:
                self._draw()
            elif (percent // 10, message) != self._shown:  # each stage has its own message
                self._shown = (percent // 10, message)
                self._write(f"{percent:3d}% {message}\n")

    def show(self, state: JobState) -> None:
        """``update`` from a job's state file; the elapsed time counts from the job's creation."""
        self.started = float(state.created_at)
        self.update(stage_of(state), state.progress, state.message)

    def note(self, line: str) -> None:
        """A line of its own (credits, a warning), printed above the bar."""
        with self._lock:
            self._clear()
            self._write(line + "\n")
            self._redraw()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Lets other code print lines to the stream: the bar is cleared first and drawn again after."""
        with self._lock:
            self._clear()
            try:
                yield
            finally:
                self._redraw()

    def tick(self) -> None:
        """Redraw the bar for the time that passed (nothing happens without a bar)."""
        with self._lock:
            self._redraw()

    def finish(self, line: str | None = None) -> None:
        """End the bar's line (the bar stays on screen), then print ``line`` unless just shown."""
        with self._lock:
            if self._drawn:
                self._draw()
                self._write("\n")
                self._drawn = 0
            if line is not None and (self.interactive or self._shown is None or self._shown[1] != line):
                self._write(line + "\n")

    # -- the bar --------------------------------------------------------------------------------

    def line(self, width: int | None = None) -> str:
        """The bar as it would be drawn now, in at most ``width`` characters: the bar narrows to leave
        the message room, down to ``MIN_BAR``; then the message is cut."""
        now = self.clock()
        eta = ""
        if self.stage not in ENDED:
            left = None if self._eta is None else self._eta[0] - (now - self._eta[1])
            eta = f"  ETA {_UNKNOWN if left is None else clock_text(left)}"
        head = f"{self.stage or 'queued':<9}{self.percent:3d}% "
        timing, tail = f" {clock_text(now - self.started)}{eta}", f"  {self.message}"
        size = BAR_WIDTH
        if width is not None:
            room = width - len(head) - len("[]") - len(timing)
            size = max(MIN_BAR, min(BAR_WIDTH, room - len(tail) if room - len(tail) >= MIN_BAR else room))
        filled = round(size * max(0, min(100, self.percent)) / 100)
        text = f"{head}[{'#' * filled}{'.' * (size - filled)}]{timing}{tail}"
        return text if width is None else text[:width]

    def _estimate(self, now: float) -> None:
        """Seconds left in the render at the speed it went since it was first seen (its percent runs 90..99,
        and 100 is its end)."""
        came, spent = self.percent - self._stage_from, now - self._stage_at
        if came > 0 and spent > 0 and self.percent < 100:
            self._eta = ((100 - self.percent) * spent / came, now)

    def _draw(self) -> None:
        text = self.line((self.columns or _columns(self.stream)) - 1)  # not the last column: it would wrap
        self._write("\r" + text + " " * max(0, self._drawn - len(text)))
        self._drawn = len(text)

    def _redraw(self) -> None:
        if self.interactive and self.stage is not None:
            self._draw()

    def _clear(self) -> None:
        if self._drawn:
            self._write("\r" + " " * self._drawn + "\r")
            self._drawn = 0

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            pass  # a closed pipe or terminal must not fail the job being shown

    # -- context: ticking, and log lines printed above the bar ------------------------------------

    def __enter__(self) -> Progress:
        if self.interactive:
            above = _Above(self)
            for handler in logging.getLogger().handlers:
                if isinstance(handler, logging.StreamHandler) and handler.stream is self.stream:
                    self._handlers.append((handler, handler.stream))
                    handler.setStream(above)  # a write/flush object is all a StreamHandler uses
            if self.tick_seconds:
                self._ticker = threading.Thread(target=self._tick_loop, name="ttvd-progress", daemon=True)
                self._ticker.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        self.finish()
        for handler, stream in self._handlers:
            handler.setStream(stream)
        self._handlers.clear()

    def _tick_loop(self) -> None:
        assert self.tick_seconds
        while not self._stop.wait(self.tick_seconds):
            self.tick()


class _Above:
    """A stream for a logging handler: each record is written on a line above the bar."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def write(self, text: str) -> int:
        with self.progress._lock:
            self.progress._clear()
            self.progress._write(text)
            if text.endswith("\n"):
                self.progress._redraw()
        return len(text)

    def flush(self) -> None:
        pass


def _columns(stream: TextIO) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (OSError, ValueError, AttributeError):
        return 80
