"""The commands that run ttvd as a service: serve, daemon, mcp and install-systemd."""
from __future__ import annotations

import argparse
import errno
import sys
from pathlib import Path

from ttvd import config, install
from ttvd.cli.home import spool_of
from ttvd.errors import InputError


def serve(args: argparse.Namespace, settings: config.Settings) -> int:
    from ttvd import guard
    from ttvd.api import serve

    host, port = args.host or settings.host, args.port or settings.port
    if not args.insecure:
        guard.check_exposure(host, settings.api_tokens, insecure=False)  # refuse before creating a home
    spool = spool_of(settings, create=True)  # outside the try: a home we cannot write is not the socket's fault
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


def daemon(args: argparse.Namespace, settings: config.Settings) -> int:
    from ttvd.daemon import Daemon
    from ttvd.notify import Monitor

    spool = spool_of(settings, create=True)
    return Daemon(settings, spool, monitor=Monitor.for_daemon(spool.home, settings.stall_seconds)).run(burst=args.burst)


def mcp(args: argparse.Namespace, settings: config.Settings) -> int:
    try:
        from ttvd import mcp_server
    except ImportError as exc:
        if (exc.name or "").partition(".")[0] == "ttvd":
            raise
        print(f"ttvd: the MCP server needs the MCP SDK ({exc.name} cannot be imported); "
              "install the extra: pip install 'ttvd[mcp]'", file=sys.stderr)
        return 2
    spool_of(settings, create=True)  # a new home is made here, and said so on stderr (stdout is the protocol)
    mcp_server.serve(settings)
    return 0


def install_systemd(args: argparse.Namespace, settings: config.Settings) -> int:
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
