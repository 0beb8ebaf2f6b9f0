"""The ``ttvd`` command: serve the API, run the daemon, submit and inspect jobs, render one-off."""
from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import shlex
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

from ttvd import __version__, config, daemons, install, options
from ttvd.errors import ConfigError, InputError, TtvdError
from ttvd.home import Home
from ttvd.job import STAGE_BY_NAME, JobStatus, new_id
from ttvd.progress import Progress
from ttvd.spool import BadState, Spool
from ttvd.text import decode_text

log = logging.getLogger("ttvd")

# Each command imports its heavy parts (the API server, the daemon, the pipeline with numpy and the
# render engines) inside its own function, so `ttvd status` or `ttvd jobs` answer at once.

NO_DAEMON_REPEAT_SECONDS = 10.0  # how often a waiting command repeats that no daemon serves the home
SIGPIPE_STATUS = 128 + 13  # what a shell reports for a process killed by SIGPIPE, as `cat | head` gives
# What to do about an OS error, by errno; the one line a user reads instead of a traceback.
OS_ADVICE = {
    errno.EACCES: "check its owner and permissions, or choose another home with --home DIR",
    errno.EPERM: "check its owner and permissions, or choose another home with --home DIR",
    errno.EROFS: "the filesystem is read-only; choose a home on a writable one with --home DIR",
    errno.ENOTDIR: "a part of this path is a file, not a folder; choose another path",
    errno.EISDIR: "this is a folder; give the path of a file",
    errno.ENOENT: "check that the path exists",
    errno.ENOSPC: "the disk is full; free some space",
}


def main(argv: list[str] | None = None) -> int:
    """Run one command; every failure is one line on standard error (the traceback too with --debug).

    Exit status: 0 done, 1 failed, 2 usage (a bad argument, setting, option or input), 130 on Ctrl-C,
    141 when the reader of standard output went away (``ttvd jobs | head``, as ``cat`` would), and
    ``ttvd wait``'s 124 on --timeout.
    """
    args = _parser().parse_args(argv)
    try:
        overrides = {"TTVD_HOME": str(Path(args.home).resolve())} if args.home else {}
        settings = config.load(None, **overrides)
    except (ConfigError, OSError) as exc:
        return _fail(exc, args.debug)
    _setup_logging("DEBUG" if args.debug else settings.log_level)
    try:
        status: int = args.func(args, settings)
        sys.stdout.flush()  # here, so a reader that went away is noticed inside this try
        return status
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return SIGPIPE_STATUS
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the top of the command: no traceback reaches the user
        return _fail(exc, args.debug)


def _fail(exc: Exception, debug: bool) -> int:
    """Say what failed in one line; 2 for a usage error, 1 for the rest."""
    known = isinstance(exc, (TtvdError, OSError))
    if debug or (not known and _stderr_is_journal()):  # a bug in a service: its operator needs where
        traceback.print_exception(exc, file=sys.stderr)
    if isinstance(exc, TtvdError):
        line = str(exc)
    elif isinstance(exc, OSError):
        line = _os_error_line(exc)
    else:
        line = f"unexpected error: {type(exc).__name__}: {exc}; run again with --debug to see where, and report it"
    print(f"ttvd: {line}", file=sys.stderr, flush=True)
    return 2 if isinstance(exc, (InputError, ConfigError)) else 1


def _os_error_line(exc: OSError) -> str:
    """``<what> (<path>): <what to do>`` for an error the operating system gave."""
    what = exc.strerror or str(exc) or type(exc).__name__
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{what}{where}: {OS_ADVICE.get(exc.errno or 0, 'run again with --debug for details')}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ttvd", description="Text-to-video daemon: narrated, captioned MP4s from text, offline by default.")
    parser.add_argument("--version", action="version", version=f"ttvd {__version__}")
    parser.add_argument("--home", metavar="DIR", help=HOME_HELP)
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    serve = commands.add_parser("serve", help="serve the HTTP API (production WSGI server)",
                                description="Serve the HTTP API under /api/v1 on a production WSGI server (waitress).")
    serve.add_argument("--host", default=None, help="address to bind (default: $TTVD_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=None, help="port to bind, 1-65535 (default: $TTVD_PORT or 5000)")
    serve.add_argument("--insecure", action="store_true",
                       help="allow a non-loopback address without TTVD_API_TOKENS (when something else guards it)")
    serve.set_defaults(func=_serve)

    daemon = commands.add_parser("daemon", help="watch the spool and the watch folder and run jobs",
                                 description="Run queued jobs and turn *.txt files dropped into watch/ into jobs.")
    daemon.add_argument("--burst", action="store_true", help="run what is queued, then exit")
    daemon.set_defaults(func=_daemon)

    submit = commands.add_parser("submit", help="queue a text file (or - for stdin) as a job; prints its id",
                                 description="Queue a job for the daemon; prints the job id.")
    submit.add_argument("file", metavar="FILE|-", help="text file to narrate, or - to read standard input")
    submit.add_argument("--wait", action="store_true", help="follow the job's progress until it ends")
    _option_arguments(submit)
    submit.set_defaults(func=_submit)

    status = commands.add_parser("status", help="show one job's state, or a summary of the queue",
                                 description="Show a job's state as JSON; without an id, summarise the queue.")
    status.add_argument("job_id", nargs="?", metavar="ID", help="job id")
    status.set_defaults(func=_status)

    jobs = commands.add_parser("jobs", help="list all jobs", description="List every job, oldest first.")
    jobs.add_argument("--json", action="store_true", help="print the same JSON as GET /api/v1/jobs")
    jobs.set_defaults(func=_jobs)

    cancel = commands.add_parser("cancel", help="stop a queued or running job for good",
                                 description="Cancel a job: a queued one at once, a running one within seconds "
                                             "(its daemon stops the encoder and keeps no partial output).")
    cancel.add_argument("job_id", metavar="ID", help="job id")
    cancel.add_argument("--no-wait", action="store_true", help="return once the cancel is requested")
    cancel.set_defaults(func=_cancel)

    retry = commands.add_parser("retry", help="queue a failed or cancelled job again (finished stages are reused)",
                                description="Queue a failed or cancelled job again; the stages it finished are reused.")
    retry.add_argument("job_id", metavar="ID", help="job id")
    retry.add_argument("--wait", action="store_true", help="follow the job's progress until it ends")
    retry.set_defaults(func=_retry)

    delete = commands.add_parser("delete", help="delete a job and every file of it (cancelling it first)",
                                 description="Delete a job: cancel it if it runs, then remove its state, request, "
                                             "work folder, audio, video and side files.")
    delete.add_argument("job_id", metavar="ID", help="job id")
    delete.set_defaults(func=_delete)

    wait = commands.add_parser("wait", help="follow a job until it ends; exit 0 if it completed",
                               description="Print a job's progress until it ends; the exit status is 0 when it "
                                           "completed, 1 when it failed or was cancelled, 124 on --timeout.")
    wait.add_argument("job_id", metavar="ID", help="job id")
    wait.add_argument("--timeout", type=float, default=None, metavar="SECONDS", help="give up after this long")
    wait.set_defaults(func=_wait)

    render = commands.add_parser("render", help="render a text file to an MP4 in-process (no daemon)",
                                 description="Run the whole pipeline in this process and write one MP4.")
    render.add_argument("file", metavar="FILE|-", help="text file to narrate, or - to read standard input")
    render.add_argument("-o", "--output", required=True, metavar="OUT.mp4", help="where to write the video")
    render.add_argument("--engine", choices=options.ENGINES, help="render engine (default: $TTVD_ENGINE or ffmpeg)")
    _option_arguments(render)
    render.set_defaults(func=_render)

    voices = commands.add_parser("voices", help="list the voices a job can use (`voice` option)",
                                 description="List every voice available now: eSpeak NG's, Piper's when installed, "
                                             "OpenAI's when OPENAI_API_KEY is set.")
    voices.add_argument("--json", action="store_true", help="print the same JSON as GET /api/v1/voices")
    voices.set_defaults(func=_voices)

    mcp = commands.add_parser("mcp", help="serve the MCP tools on stdin/stdout, for AI agents (the mcp extra)",
                              description="A Model Context Protocol server on standard input and output: tools to "
                                          "generate videos and follow them, for AI agents. Needs the extra: "
                                          "pip install 'ttvd[mcp]'; a daemon makes the videos.")
    mcp.set_defaults(func=_mcp)

    doctor = commands.add_parser("doctor", help="check what jobs need: each stage's backend, fonts, ffmpeg, the home, "
                                                "disk space, a daemon",
                                 description="For each stage: the backend it will use, why, whether it answers (one "
                                             "request to each online service) and what a job does if it is down; "
                                             "then the fonts, ffmpeg and the encoder, the home and the cache, free "
                                             "disk space and a live daemon. One line each: ok, warn or FAILED, with "
                                             "what to do. Creates nothing. Exits 1 if a check fails.")
    doctor.set_defaults(func=_doctor)

    install = commands.add_parser(
        "install-systemd", help="install the systemd units and the settings file (as root)",
        description="Copy ttvd-daemon.service, ttvd-api.service and ttvd.target into place, running this "
                    "installation's ttvd, and create the settings file from the example if it is missing.")
    install.add_argument("--dest", default="/etc/systemd/system", metavar="DIR",
                         help="where the units go (default: /etc/systemd/system)")
    install.add_argument("--env-file", default="/etc/ttvd/ttvd.env", metavar="FILE",
                         help="settings and keys read by the units; never overwritten (default: /etc/ttvd/ttvd.env)")
    install.add_argument("--units", metavar="DIR", help="the shipped units (default: found with the installation)")
    install.add_argument("--dry-run", action="store_true", help="show what would be done")
    install.set_defaults(func=_install_systemd)
    for command in commands.choices.values():  # `ttvd submit FILE --home DIR` works too; it wins over the global
        command.add_argument("--home", metavar="DIR", default=argparse.SUPPRESS, help=HOME_HELP)
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    return parser


HOME_HELP = "home directory with spool/, watch/, work/, output/ (default: $TTVD_HOME or the current directory)"
DEBUG_HELP = "show the traceback of a failure, and log at DEBUG level"


def _port(value: str) -> int:
    """A --port value, checked as TTVD_PORT is."""
    try:
        port: int = config.describe("TTVD_PORT").parse(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port: give a number from 1 to 65535") from None
    return port


def _option_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--option", "-O", action="append", default=[], metavar="KEY=VALUE",
                         help="a job option, as in the API's options (repeatable): voice, language, captions, "
                              "caption_position, music, music_volume, transition, title, aspect, height, ...")


def _job_options(pairs: list[str], **extra: str | None) -> dict[str, object]:
    """The job options given as KEY=VALUE arguments, checked by the same rules as the API's."""
    given: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--option {pair!r} is not KEY=VALUE")
        given[key.strip()] = value
    given.update({key: value for key, value in extra.items() if value is not None})
    return options.validate(given)


def _setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if _stderr_is_journal():
        handler.setFormatter(_JournalFormatter("%(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])


def _stderr_is_journal() -> bool:
    """True when systemd connected standard error to the journal ($JOURNAL_STREAM names it)."""
    try:
        device, inode = (int(part) for part in os.environ.get("JOURNAL_STREAM", "").split(":"))
        st = os.fstat(sys.stderr.fileno())
    except (ValueError, OSError):
        return False
    return (st.st_dev, st.st_ino) == (device, inode)


class _JournalFormatter(logging.Formatter):
    """No timestamp (the journal adds its own); a ``<N>`` prefix the journal turns into the priority."""

    PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}

    def format(self, record: logging.LogRecord) -> str:
        return f"<{self.PRIORITY.get(record.levelno, 6)}>{super().format(record)}"


def _read_input(name: str, settings: config.Settings) -> str:
    if name == "-":
        data = sys.stdin.buffer.read()
    else:
        try:
            data = Path(name).read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read {name}: {exc.strerror}") from None
    return decode_text(data, settings.max_text_chars, None if name == "-" else name)


def _spool(settings: config.Settings, create: bool = False) -> Spool:
    """The home's spool. Only ``create`` (serve, daemon, submit) makes a missing home, and says so; the
    other commands refuse a folder that is not a home, so a mistyped --home leaves no folders behind."""
    home = Home(settings.home)
    if not create:
        if not home.spool.is_dir():
            raise ConfigError(_not_a_home(home.root))
        return Spool(home)
    fresh = not home.spool.is_dir()
    try:
        spool = Spool(home).ensure()
    except OSError as exc:
        raise TtvdError(f"cannot create a ttvd home ({home.root}): {_why_not_a_home(home.root, exc)}; "
                        "pass --home DIR naming a folder you can write") from exc
    if fresh:
        print(f"ttvd: created a new ttvd home in {home.root}", file=sys.stderr, flush=True)
    return spool


def _why_not_a_home(root: Path, exc: OSError) -> str:
    if root.exists() and not root.is_dir():
        return "it is a file, not a folder"
    if exc.errno == errno.ENOTDIR:
        return "a part of its path is a file, not a folder"
    return f"{exc.strerror or exc} ({exc.filename or root})"


def _not_a_home(root: Path) -> str:
    why = "a file, not a folder" if root.exists() and not root.is_dir() else "no spool/ folder"
    return f"{root} is not a ttvd home ({why}); pass --home DIR or set TTVD_HOME"


def _say_if_no_daemon(home: Home) -> None:
    """Tell the user, on standard error, when no live daemon serves ``home``: their job would wait forever."""
    if daemons.alive(daemons.read_all(home)):
        return
    print(f"ttvd: no daemon is running on home {home.root}; start one with: "
          f"ttvd --home {shlex.quote(str(home.root))} daemon (or systemctl start ttvd.target)",
          file=sys.stderr, flush=True)


def _serve(args: argparse.Namespace, settings: config.Settings) -> int:
    from ttvd import guard
    from ttvd.api import serve

    host, port = args.host or settings.host, args.port or settings.port
    if not args.insecure:
        guard.check_exposure(host, settings.api_tokens, insecure=False)  # refuse before creating a home
    spool = _spool(settings, create=True)  # outside the try: a home we cannot write is not the socket's fault
    try:
        serve(settings, spool, host, port, insecure=args.insecure)
    except OSError as exc:
        print(f"ttvd: cannot listen on {host}:{port} ({exc.strerror or exc}): {_listen_advice(exc)}",
              file=sys.stderr)
        return 1
    return 0


def _listen_advice(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "another program uses this port; choose another with --port N (or TTVD_PORT)"
    if exc.errno == errno.EACCES:
        return "ports below 1024 need root; choose one above 1023 with --port N"
    return "check --host and --port (or TTVD_HOST and TTVD_PORT)"


def _daemon(args: argparse.Namespace, settings: config.Settings) -> int:
    from ttvd.daemon import Daemon
    from ttvd.notify import Monitor

    spool = _spool(settings, create=True)
    return Daemon(settings, spool, monitor=Monitor.for_daemon(spool.home, settings.stall_seconds)).run(burst=args.burst)


def _submit(args: argparse.Namespace, settings: config.Settings) -> int:
    text, chosen = _read_input(args.file, settings), _job_options(args.option)  # refused before any folder
    spool = _spool(settings, create=True)
    state = spool.submit(text, "cli", chosen)
    print(state.job_id, flush=True)
    if args.wait:
        return _follow(spool, state.job_id)  # says so too while no daemon serves the home
    _say_if_no_daemon(spool.home)
    return 0


def _cancel(args: argparse.Namespace, settings: config.Settings) -> int:
    from ttvd import control

    spool = _spool(settings).ensure()  # a home already: complete it, for the cancel request
    state = control.cancel(spool, args.job_id, settings)
    if state.status is JobStatus.CANCELLED:
        print(f"{args.job_id} cancelled")
        return 0
    print(f"{args.job_id}: cancel requested; its daemon stops it within seconds", file=sys.stderr, flush=True)
    if args.no_wait:
        return 0
    _follow(spool, args.job_id)
    state = spool.read_state(args.job_id) or state
    print(f"{args.job_id} {state.status.value}")
    return 0 if state.status is JobStatus.CANCELLED else 1


def _retry(args: argparse.Namespace, settings: config.Settings) -> int:
    from ttvd import control

    spool = _spool(settings).ensure()
    control.retry(spool, args.job_id)
    print(f"{args.job_id} queued again", flush=True)
    return _follow(spool, args.job_id) if args.wait else 0


def _delete(args: argparse.Namespace, settings: config.Settings) -> int:
    from ttvd import control

    control.delete(_spool(settings).ensure(), args.job_id, settings=settings)
    print(f"{args.job_id} deleted")
    return 0


def _wait(args: argparse.Namespace, settings: config.Settings) -> int:
    return _follow(_spool(settings), args.job_id, timeout=args.timeout)


def _follow(spool: Spool, job_id: str, interval: float = 0.5, timeout: float | None = None) -> int:
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
                        _say_if_no_daemon(spool.home)
                    look_for_daemon = time.monotonic() + NO_DAEMON_REPEAT_SECONDS
                time.sleep(interval)
        except KeyboardInterrupt:
            bar.finish(f"stopped following; the job goes on — follow it again with: ttvd wait {job_id}")
            return 130


def _status(args: argparse.Namespace, settings: config.Settings) -> int:
    spool = _spool(settings)
    if args.job_id is None:
        print(json.dumps(_summary(spool), indent=2), flush=True)
        _say_if_no_daemon(spool.home)
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


def _summary(spool: Spool) -> dict:
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


def _jobs(args: argparse.Namespace, settings: config.Settings) -> int:
    states = list(_spool(settings).states())
    if args.json:
        print(json.dumps({"jobs": {s.job_id: s.jobs_view() for s in states}}, indent=2, ensure_ascii=False))
        return 0
    for state in states:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(state.created_at))
        origin = f"  (from {state.origin})" if state.origin else ""  # a watched file's name: find its video
        print(f"{state.job_id}  {state.status.value:<10} {state.progress:3d}%  {created}  {state.message}{origin}")
    return 0


def _install_systemd(args: argparse.Namespace, settings: config.Settings) -> int:
    plan = install.Plan(Path(args.units) if args.units else install.find_units(), Path(args.dest),
                        Path(args.env_file), install.this_ttvd())
    for warning in plan.warnings():
        print(f"ttvd: warning: {warning}", file=sys.stderr)
    for step in plan.steps():
        print(("would " if args.dry_run else "") + step)
    if args.dry_run:
        return 0
    try:
        plan.apply()
    except PermissionError as exc:
        raise InputError(f"cannot write {exc.filename}: run as root (or choose --dest/--env-file)") from None
    print("next: systemctl daemon-reload && systemctl enable --now ttvd.target")
    return 0


class _PrintReporter:
    """Progress of an in-process render, on standard error: a bar on a terminal, else a line per stage."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar

    def stage_started(self, stage: str) -> None:
        info = STAGE_BY_NAME[stage]
        self.bar.update(stage, info.progress, info.message)

    def stage_finished(self, stage: str) -> None:
        pass

    def progress(self, percent: int) -> None:
        self.bar.update("render", percent, STAGE_BY_NAME["render"].message)

    def log(self, line: str) -> None:
        log.debug(line)

    def credits(self, entries: list[dict]) -> None:
        for entry in entries:
            self.bar.note(f"     footage by {entry['author']}: {entry['page']}")


def _voices(args: argparse.Namespace, settings: config.Settings) -> int:
    from ttvd import voices

    found = voices.catalogue(settings)
    if args.json:
        print(json.dumps(voices.listing(found), indent=2, ensure_ascii=False))
        return 0
    print(f"{'id':<24} {'language':<16} {'backend':<7} {'works':<8} name")
    for voice in found:
        print(f"{voice.id:<24} {voice.language:<16} {voice.backend:<7} "
              f"{'offline' if voice.offline else 'online':<8} {voice.name}")
    return 0


def _mcp(args: argparse.Namespace, settings: config.Settings) -> int:
    try:
        from ttvd import mcp_server
    except ImportError as exc:
        if (exc.name or "").partition(".")[0] == "ttvd":
            raise
        print(f"ttvd: the MCP server needs the MCP SDK ({exc.name} cannot be imported); "
              "install the extra: pip install 'ttvd[mcp]'", file=sys.stderr)
        return 2
    _spool(settings, create=True)  # a new home is made here, and said so on stderr (stdout is the protocol)
    mcp_server.serve(settings)
    return 0


def _doctor(args: argparse.Namespace, settings: config.Settings) -> int:
    from ttvd.backends.doctor import run_checks

    checks = run_checks(settings)
    for check in checks:
        print(f"{check.stage:<9} {check.backend:<9} {check.verdict:<7} {check.reason}; {check.detail}")
    print("job option defaults (a job's options override them; --option KEY=VALUE on the command line):")
    for name in (*options.LOOK_OPTIONS, *options.RENDER_OPTIONS):
        setting = config.describe(f"TTVD_{name.upper()}")
        print(f"  {name:<17} {getattr(settings, name)!s:<10} from {setting.name}")
    failed = sum(not check.ok for check in checks)
    warned = sum(check.ok and check.warning for check in checks)
    print(f"{failed} problem(s) and {warned} warning(s): see the FAILED and warn lines above"
          if failed or warned else "every check passed")
    return 1 if failed else 0


def _check_output(output: Path) -> None:
    """Refuse, before any work, a video path that could not be written; a missing folder is made."""
    if output.is_dir():
        raise ConfigError(f"-o names a folder ({output}): give a file name, such as {output / 'video.mp4'}")
    folder = output.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        if exc.errno in (errno.EEXIST, errno.ENOTDIR):  # a file stands where a folder should be
            why, where = "not a folder", next(path for path in (folder, *folder.parents) if path.exists())
        else:
            why, where = exc.strerror or str(exc), Path(exc.filename or folder)
        where = folder if where.parent == folder else where  # our probe file: name the folder
        raise ConfigError(f"cannot write the video ({output}): {why} ({where}); "
                          "choose -o in a folder you can write") from None


def _render(args: argparse.Namespace, settings: config.Settings) -> int:
    from ttvd import pipeline
    from ttvd.pipeline import subtitles

    text = _read_input(args.file, settings)
    chosen = _job_options(args.option, engine=args.engine)
    output = Path(args.output).resolve()
    _check_output(output)
    started = time.monotonic()
    with Progress(sys.stderr, clock=time.monotonic, tick=1.0) as bar, \
            tempfile.TemporaryDirectory(prefix="ttvd-render-") as tmp:
        work = Path(tmp)
        job = pipeline.Job(new_id(), text, settings, work / "work", work / "audio.wav",
                           work / "video.mp4", _PrintReporter(bar), chosen)
        pipeline.run(job)
        subtitles.move(job.output, output)  # captions as SRT and WebVTT, word timings as JSON
        shutil.move(str(job.output), output)
        bar.update("done", 100, f"Video generation completed in {time.monotonic() - started:.1f} s")
    print(output)
    return 0
