"""The home a command works in: found or made, refused when it is not one, and whether a daemon serves it."""
from __future__ import annotations

import errno
import shlex
import sys
from pathlib import Path

from ttvd import config, daemons
from ttvd.errors import ConfigError, TtvdError
from ttvd.home import Home
from ttvd.spool import Spool


def spool_of(settings: config.Settings, create: bool = False) -> Spool:
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


def say_if_no_daemon(home: Home) -> None:
    """Tell the user, on standard error, when no live daemon serves ``home``: their job would wait forever."""
    if daemons.alive(daemons.read_all(home)):
        return
    print(f"ttvd: no daemon is running on home {home.root}; start one with: "
          f"ttvd --home {shlex.quote(str(home.root))} daemon (or systemctl start ttvd.target)",
          file=sys.stderr, flush=True)
