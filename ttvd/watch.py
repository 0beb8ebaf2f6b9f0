"""The watch folder: every ``*.txt`` (any case: ``STORY.TXT`` too) dropped into ``watch/`` becomes one job.

A file is taken once it has stopped changing (same size and mtime for the settle time) and no
writer still has it open: inotify's close-after-write tells of writers since the daemon started, and
``/proc`` of those that opened it before (a restart forgets inotify's news). Its size and mtime are
checked once more just before it is read. Files present at start-up or moved in are found by the same
scan. Writers on other hosts are seen by neither: for them the settle time alone decides, so a writer
that pauses longer than that should write elsewhere and ``mv`` the file in.

A taken file is moved to ``watch/processed/<id>.txt``; one that cannot be a job (empty, binary, too
large, no text encoding fits) to ``watch/failed/<id>.txt`` with a failed job saying why. The original
is never deleted. The job's ``origin`` keeps the file's name (``ttvd jobs`` shows it), and its logs say
which encoding the file was read in when it was not UTF-8.
"""
from __future__ import annotations

import errno
import logging
import os
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ttvd import faults
from ttvd.claim import claim
from ttvd.errors import InputError, NoSpaceError
from ttvd.spool import Spool
from ttvd.text import DecodedText, NotText

if TYPE_CHECKING:
    from watchdog.observers.api import BaseObserver

log = logging.getLogger(__name__)

STILL_WRITING_LIMIT = 600.0  # a file held open this long without change is taken anyway
MAX_RESTARTS = 3  # a file watcher that dies more often than this ends the daemon (exit status 1)


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    since: float
    open_for_write: bool = False


class WatchFolder:
    """Finds complete ``*.txt`` files in ``watch/`` and submits them; steppable with injected time."""

    def __init__(self, spool: Spool, settle: float, validate: Callable[[bytes], str],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.spool = spool
        self.folder = spool.home.watch
        self.settle = settle
        self.validate = validate
        self.clock = clock
        self._seen: dict[str, _Seen] = {}
        self._skipped: set[str] = set()  # entries that are not regular files, logged once, never pending
        self._lock = threading.Lock()
        for kept in (spool.home.watch_processed, spool.home.watch_failed):
            kept.mkdir(parents=True, exist_ok=True)

    def note_event(self, name: str, writing: bool) -> None:
        """Called from the observer thread: a file was written to (or closed after writing)."""
        with self._lock:
            seen = self._seen.get(name)
            if seen is not None:
                seen.open_for_write = writing
            elif writing:
                self._seen[name] = _Seen(-1, -1, self.clock(), open_for_write=True)

    def scan(self) -> list[str]:
        """Look at every candidate file; submit those that are complete. Returns the new job ids."""
        now = self.clock()
        names = set()
        submitted = []
        for entry in self._entries():
            names.add(entry.name)
            job_id = self._consider(entry, now)
            if job_id:
                submitted.append(job_id)
        with self._lock:
            for name in list(self._seen):
                if name not in names:
                    del self._seen[name]
            self._skipped &= names
        return submitted

    def pending(self) -> int:
        """How many files are seen but not yet taken (still settling or being written)."""
        with self._lock:
            return len(self._seen)

    def _entries(self) -> list[os.DirEntry]:
        try:
            entries = list(os.scandir(self.folder))
        except FileNotFoundError:
            self.folder.mkdir(parents=True, exist_ok=True)
            return []
        return [e for e in entries if wanted(e.name)]

    def _consider(self, entry: os.DirEntry, now: float) -> str | None:
        try:
            info = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            return None
        if not stat.S_ISREG(info.st_mode):
            self._skip_once(entry.name, "it is not a regular file")
            return None
        with self._lock:
            seen = self._seen.get(entry.name)
            if seen is None or (seen.size, seen.mtime_ns) != (info.st_size, info.st_mtime_ns):
                writing = seen.open_for_write if seen else False
                self._seen[entry.name] = _Seen(info.st_size, info.st_mtime_ns, now, writing)
                return None
            still = now - seen.since
            if still < self.settle or (seen.open_for_write and still < STILL_WRITING_LIMIT):
                return None
        # inotify only tells of writes since this daemon started; a writer that opened the file before
        # a restart and paused is found in /proc, and the file must not have moved since it was judged.
        if still < STILL_WRITING_LIMIT and open_for_writing(info):
            return None
        if not _unchanged(self.folder / entry.name, info):
            return None  # the next scan records the change and starts the quiet period again
        with self._lock:
            self._seen.pop(entry.name, None)
        return self._take(entry.name)

    def _skip_once(self, name: str, reason: str) -> None:
        with self._lock:
            if name not in self._skipped:
                log.warning("watch folder: skipping %r: %s", name, reason)
                self._skipped.add(name)

    def _take(self, name: str) -> str | None:
        path = self.folder / name
        try:
            data = _read_regular(path)
        except FileNotFoundError:
            return None
        except OSError as exc:  # swapped for a symlink, a FIFO or a directory since it was looked at
            log.warning("watch folder: skipping %r: %s", _display(name), exc.strerror or exc)
            return None
        shown = _display(name)
        try:
            try:
                text = self.validate(data)
            except InputError as exc:
                state = self.spool.reject(_refusal(shown, exc), "watch", origin=shown)
                self._move(path, "failed", state.job_id)
                return state.job_id
            state = self.spool.submit(text, "watch", origin=shown)
        except NoSpaceError as exc:
            log.warning("watch folder: %r stays until there is space: %s", shown, exc)
            return None
        self._move(path, "processed", state.job_id)  # first: whatever follows, the file is not taken twice
        if isinstance(text, DecodedText) and text.encoding != "utf-8":
            log.info("job %s: read %s as %s", state.job_id, shown, text.encoding)
            self._note(state.job_id, f"read {shown} as {text.encoding}")
        return state.job_id

    def _note(self, job_id: str, line: str) -> None:
        """Add ``line`` to a just-queued job's logs, holding its claim so that no daemon writes the state meanwhile."""
        taken = claim(self.spool, job_id)
        if taken is None:
            return  # a daemon runs it already; the line is in this daemon's log only
        try:
            state = self.spool.read_state(job_id)
            if state is not None:
                state.log(line)
                self.spool.write_state(state)
        except (NoSpaceError, OSError, ValueError) as exc:  # the job stands without the line (ValueError: a bad state)
            log.warning("job %s: could not add %r to its logs: %s", job_id, line, exc)
        finally:
            taken.release()

    def _move(self, path: Path, sub: str, job_id: str) -> None:
        target = self.folder / sub / f"{job_id}.txt"
        try:
            os.rename(path, target)
        except FileNotFoundError:
            log.warning("job %s: watched file %r vanished before it could be kept", job_id, path.name)
            return
        log.info("job %s: watched file %r kept as watch/%s/%s", job_id, _display(path.name), sub, target.name)


def open_for_writing(info: os.stat_result) -> bool:
    """True when a process of this host that we may look at holds the file of ``info`` open for writing.

    Writers on other hosts, or of other users when the daemon is not root, are not seen: there the
    quiet period alone decides, which is why a drop should be written elsewhere and moved in.
    """
    for pid in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if pid.isdigit() and _writes(pid, info):
            return True
    return False


def _writes(pid: str, info: os.stat_result) -> bool:
    try:
        fds = list(os.scandir(f"/proc/{pid}/fd"))
    except OSError:
        return False  # gone, or not ours to look at
    for fd in fds:
        try:
            target = os.stat(fd.path)
            if (target.st_dev, target.st_ino) != (info.st_dev, info.st_ino):
                continue
            with open(f"/proc/{pid}/fdinfo/{fd.name}", encoding="ascii") as handle:
                flags = next((int(line.split()[1], 8) for line in handle if line.startswith("flags:")), 0)
        except (OSError, ValueError, IndexError):
            continue
        if flags & (os.O_WRONLY | os.O_RDWR):
            return True
    return False


def _unchanged(path: Path, info: os.stat_result) -> bool:
    """True when ``path`` is still the file of ``info``, with the same size and mtime."""
    try:
        now = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return (now.st_ino, now.st_size, now.st_mtime_ns) == (info.st_ino, info.st_size, info.st_mtime_ns)


def wanted(name: str) -> bool:
    """True for a name the watch folder takes: ``*.txt`` in any case, not hidden."""
    return name.lower().endswith(".txt") and not name.startswith(".")


def _refusal(shown: str, exc: InputError) -> str:
    """Why the file named ``shown`` is no job, naming it (in the conversion hint too)."""
    return str(exc.named(shown)) if isinstance(exc, NotText) else f"{shown}: {exc}"


def _read_regular(path: Path, limit: int = 64 * 1024 * 1024) -> bytes:
    """The bytes of ``path`` if it is a regular file (no symlink followed, no FIFO waited on)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        return handle.read(limit)


def _display(name: str) -> str:
    """A file name as printable text, whatever bytes it holds."""
    text = os.fsencode(name).decode("utf-8", "replace")
    return "".join(ch if ch.isprintable() else "?" for ch in text)


class Watcher:
    """The file watcher of a running daemon, restarted when it dies (rescans cover what it missed)."""

    def __init__(self, watch: WatchFolder, spool: Spool, wake: threading.Event) -> None:
        self._start = lambda: start_observer(watch, spool, wake)
        self._wake = wake
        self._observer = self._start()
        self.restarts = 0

    def alive(self) -> bool:
        return bool(self._observer.is_alive())

    def keep_alive(self) -> bool:
        """Restart a dead watcher; False once it has died more than MAX_RESTARTS times."""
        if self.alive():
            return True
        self.restarts += 1
        if self.restarts > MAX_RESTARTS:
            log.error("the file watcher died %d times; exiting so the supervisor restarts the daemon",
                      self.restarts)
            return False
        log.error("the file watcher died; restarting it (rescans cover what it missed)")
        self._observer = self._start()
        self._wake.set()
        return True

    def stop(self) -> None:
        self._observer.stop()


def start_observer(watch: WatchFolder, spool: Spool, wake: threading.Event) -> BaseObserver:
    """A watchdog observer that tells ``watch`` about writes and wakes the daemon on any change."""
    # Imported here: only a running daemon's loop watches; burst runs and the API never load watchdog.
    from watchdog.events import FileSystemEvent, FileSystemEventHandler
    from watchdog.observers import Observer

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event: FileSystemEvent) -> None:
            if faults.active("watch:die"):
                raise RuntimeError("injected fault: the file watcher dies")
            if event.is_directory or faults.active("watch:deaf"):
                return
            kind = event.event_type
            path = os.fsdecode(event.dest_path if kind == "moved" else event.src_path)
            name = os.path.basename(path)
            if os.path.dirname(path) == str(watch.folder) and wanted(name):
                if kind == "modified":  # a write; "created" alone may be a file moved in
                    watch.note_event(name, writing=True)
                elif kind == "closed":
                    watch.note_event(name, writing=False)
            if kind in ("created", "moved", "closed"):
                wake.set()

    observer = Observer()
    handler = Handler()
    observer.schedule(handler, str(watch.folder), recursive=False)
    observer.schedule(handler, str(spool.home.queue("incoming")), recursive=False)
    observer.daemon = True
    observer.start()
    return observer
