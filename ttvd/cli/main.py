"""``ttvd``: parse the command line, load the settings, run the command, and turn a failure into one line."""
from __future__ import annotations

import errno
import logging
import os
import sys
import traceback
from pathlib import Path

from ttvd import config
from ttvd.cli.parser import parser
from ttvd.errors import ConfigError, InputError, TtvdError

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
    args = parser().parse_args(argv)
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
