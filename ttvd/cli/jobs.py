"""The job commands: submit, status, jobs, wait, cancel, retry, delete; and reading a job's text and options."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from ttvd import config, daemons, options
from ttvd.cli.home import say_if_no_daemon, spool_of
from ttvd.errors import ConfigError, InputError
from ttvd.job import JobStatus
from ttvd.progress import Progress
from ttvd.spool import BadState, Spool
from ttvd.text import decode_text

NO_DAEMON_REPEAT_SECONDS = 10.0  # how often a waiting command repeats that no daemon serves the home


def read_input(name: str, settings: config.Settings) -> str:
    """The text of the file ``name`` (``-``: standard input), decoded and checked as the API checks a text."""
    if name == "-":
        data = sys.stdin.buffer.read()
    else:
        try:
            data = Path(name).read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read {name}: {exc.strerror}") from None
    return decode_text(data, settings.max_text_chars, None if name == "-" else name)


def job_options(pairs: list[str], **extra: str | None) -> dict[str, object]:
    """The job options given as KEY=VALUE arguments, checked by the same rules as the API's."""
    given: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--option {pair!r} is not KEY=VALUE")
        given[key.strip()] = value
    given.update({key: value for key, value in extra.items() if value is not None})
    return options.validate(given)


def submit(args: argparse.Namespace, settings: config.Settings) -> int:
    text, chosen = read_input(args.file, settings), job_options(args.option)  # refused before any folder
    spool = spool_of(settings, create=True)
    state = spool.submit(text, "cli", chosen)
    print(state.job_id, flush=True)
    if args.wait:
        return follow(spool, state.job_id)  # says so too while no daemon serves the home
    say_if_no_daemon(spool.home)
    return 0


def cancel(args: argparse.Namespace, settings: config.Settings) -> int:
    from ttvd import control

    spool = spool_of(settings).ensure()  # a home already: complete it, for the cancel request
    state = control.cancel(spool, args.job_id, settings)
    if state.status is JobStatus.CANCELLED:
        print(f"{args.job_id} cancelled")
        return 0
    print(f"{args.job_id}: cancel requested; its daemon stops it within seconds", file=sys.stderr, flush=True)
    if args.no_wait:
        return 0
    follow(spool, args.job_id)
    state = spool.read_state(args.job_id) or state
    print(f"{args.job_id} {state.status.value}")
    return 0 if state.status is JobStatus.CANCELLED else 1


def retry(args: argparse.Namespace, settings: config.Settings) -> int:
    from ttvd import control

    spool = spool_of(settings).ensure()
    control.retry(spool, args.job_id)
    print(f"{args.job_id} queued again", flush=True)
    return follow(spool, args.job_id) if args.wait else 0


def delete(args: argparse.Namespace, settings: config.Settings) -> int:
    from ttvd import control

    control.delete(spool_of(settings).ensure(), args.job_id, settings=settings)
    print(f"{args.job_id} deleted")
    return 0


def wait(args: argparse.Namespace, settings: config.Settings) -> int:
    return follow(spool_of(settings), args.job_id, timeout=args.timeout)


def follow(spool: Spool, job_id: str, interval: float = 0.5, timeout: float | None = None) -> int:
    """Show the job's progress until it ends (``ttvd.progress``); 0 when it completed, 1 when it failed or
    was cancelled, 124 when ``timeout`` ran out, 130 on Ctrl-C (which stops following, not the job)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    look_for_daemon = 0.0
    with Progress(sys.stderr, clock=time.time) as bar:
        try:
            while True:
                state = spool.read_state(job_id)
                if state is None:
                    raise InputError(f"job {job_id} not found")
                bar.show(state)
                if state.status is JobStatus.COMPLETED:
                    bar.finish()
                    print(spool.home.root / (state.output_file or ""))
                    return 0
                if state.status.finished:
                    bar.finish(state.message)
                    return 1
                if deadline is not None and time.monotonic() > deadline:
                    bar.finish(f"ttvd: job {job_id} still {state.status.value} after {timeout:g} s")
                    return 124
                if time.monotonic() >= look_for_daemon:
                    with bar.paused():
                        say_if_no_daemon(spool.home)
                    look_for_daemon = time.monotonic() + NO_DAEMON_REPEAT_SECONDS
                time.sleep(interval)
        except KeyboardInterrupt:
            bar.finish(f"stopped following; the job goes on — follow it again with: ttvd wait {job_id}")
            return 130


def status(args: argparse.Namespace, settings: config.Settings) -> int:
    spool = spool_of(settings)
    if args.job_id is None:
        print(json.dumps(summary(spool), indent=2), flush=True)
        say_if_no_daemon(spool.home)
        return 0
    try:
        state = spool.read_state(args.job_id)
    except BadState as exc:
        print(f"ttvd: job {args.job_id!r}: {exc}", file=sys.stderr)
        return 1
    if state is None:
        print(f"ttvd: job {args.job_id!r} not found", file=sys.stderr)
        return 1
    print(json.dumps(state.to_dict(), indent=2, ensure_ascii=False))
    return 0


def summary(spool: Spool) -> dict:
    """Queue depth, the jobs being run and how far they are, and each daemon's last heartbeat."""
    counts = {status.value: 0 for status in JobStatus}
    for state in spool.states():
        counts[state.status.value] += 1
    active = spool.active_ids()
    running = []
    for job_id in active:
        try:
            current = spool.read_state(job_id)
        except BadState:
            continue  # spool.states() above logged it
        if current is not None:
            running.append({"job_id": job_id, "progress": current.progress, "message": current.message,
                            "attempts": current.attempts})
    from ttvd.retention import disk_used

    disk = os.statvfs(spool.home.root)
    return {"home": str(spool.home.root), "queued": len(spool.queued_ids()), "active": active,
            "running": running, "jobs": counts, "daemons": daemons.read_all(spool.home),
            "disk": {"used_bytes": disk_used(spool.home.root), "free_bytes": disk.f_bavail * disk.f_frsize}}


def jobs(args: argparse.Namespace, settings: config.Settings) -> int:
    states = list(spool_of(settings).states())
    if args.json:
        print(json.dumps({"jobs": {s.job_id: s.jobs_view() for s in states}}, indent=2, ensure_ascii=False))
        return 0
    for state in states:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(state.created_at))
        origin = f"  (from {state.origin})" if state.origin else ""  # a watched file's name: find its video
        print(f"{state.job_id}  {state.status.value:<10} {state.progress:3d}%  {created}  {state.message}{origin}")
    return 0
