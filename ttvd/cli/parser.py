"""The command line's grammar: the global flags, each command's arguments and the function that runs it."""
from __future__ import annotations

import argparse

from ttvd import __version__, config, options
from ttvd.cli import checks, jobs, render, service

HOME_HELP = "home directory with spool/, watch/, work/, output/ (default: $TTVD_HOME or the current directory)"
DEBUG_HELP = "show the traceback of a failure, and log at DEBUG level"


def parser() -> argparse.ArgumentParser:
    """The ``ttvd`` command line: its global flags and a sub-parser per command, each naming its function."""
    top = argparse.ArgumentParser(
        prog="ttvd", description="Text-to-video daemon: narrated, captioned MP4s from text, offline by default.")
    top.add_argument("--version", action="version", version=f"ttvd {__version__}")
    top.add_argument("--home", metavar="DIR", help=HOME_HELP)
    top.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    commands = top.add_subparsers(title="commands", metavar="COMMAND", required=True)

    serve_ = commands.add_parser("serve", help="serve the HTTP API (production WSGI server)",
                                 description="Serve the HTTP API under /api/v1 on a production WSGI server (waitress).")
    serve_.add_argument("--host", default=None, help="address to bind (default: $TTVD_HOST or 127.0.0.1)")
    serve_.add_argument("--port", type=_port, default=None, help="port to bind, 1-65535 (default: $TTVD_PORT or 5000)")
    serve_.add_argument("--insecure", action="store_true",
                        help="allow a non-loopback address without TTVD_API_TOKENS (when something else guards it)")
    serve_.set_defaults(func=service.serve)

    daemon_ = commands.add_parser("daemon", help="watch the spool and the watch folder and run jobs",
                                  description="Run queued jobs and turn *.txt files dropped into watch/ into jobs.")
    daemon_.add_argument("--burst", action="store_true", help="run what is queued, then exit")
    daemon_.set_defaults(func=service.daemon)

    submit_ = commands.add_parser("submit", help="queue a text file (or - for stdin) as a job; prints its id",
                                  description="Queue a job for the daemon; prints the job id.")
    submit_.add_argument("file", metavar="FILE|-", help="text file to narrate, or - to read standard input")
    submit_.add_argument("--wait", action="store_true", help="follow the job's progress until it ends")
    _option_arguments(submit_)
    submit_.set_defaults(func=jobs.submit)

    status_ = commands.add_parser("status", help="show one job's state, or a summary of the queue",
                                  description="Show a job's state as JSON; without an id, summarise the queue.")
    status_.add_argument("job_id", nargs="?", metavar="ID", help="job id")
    status_.set_defaults(func=jobs.status)

    jobs_ = commands.add_parser("jobs", help="list all jobs", description="List every job, oldest first.")
    jobs_.add_argument("--json", action="store_true", help="print the same JSON as GET /api/v1/jobs")
    jobs_.set_defaults(func=jobs.jobs)

    cancel_ = commands.add_parser("cancel", help="stop a queued or running job for good",
                                  description="Cancel a job: a queued one at once, a running one within seconds "
                                              "(its daemon stops the encoder and keeps no partial output).")
    cancel_.add_argument("job_id", metavar="ID", help="job id")
    cancel_.add_argument("--no-wait", action="store_true", help="return once the cancel is requested")
    cancel_.set_defaults(func=jobs.cancel)

    retry_ = commands.add_parser(
        "retry", help="queue a failed or cancelled job again (finished stages are reused)",
        description="Queue a failed or cancelled job again; the stages it finished are reused.")
    retry_.add_argument("job_id", metavar="ID", help="job id")
    retry_.add_argument("--wait", action="store_true", help="follow the job's progress until it ends")
    retry_.set_defaults(func=jobs.retry)

    delete_ = commands.add_parser("delete", help="delete a job and every file of it (cancelling it first)",
                                  description="Delete a job: cancel it if it runs, then remove its state, request, "
                                              "work folder, audio, video and side files.")
    delete_.add_argument("job_id", metavar="ID", help="job id")
    delete_.set_defaults(func=jobs.delete)

    wait_ = commands.add_parser("wait", help="follow a job until it ends; exit 0 if it completed",
                                description="Print a job's progress until it ends; the exit status is 0 when it "
                                            "completed, 1 when it failed or was cancelled, 124 on --timeout.")
    wait_.add_argument("job_id", metavar="ID", help="job id")
    wait_.add_argument("--timeout", type=float, default=None, metavar="SECONDS", help="give up after this long")
    wait_.set_defaults(func=jobs.wait)

    render_ = commands.add_parser("render", help="render a text file to an MP4 in-process (no daemon)",
                                  description="Run the whole pipeline in this process and write one MP4.")
    render_.add_argument("file", metavar="FILE|-", help="text file to narrate, or - to read standard input")
    render_.add_argument("-o", "--output", required=True, metavar="OUT.mp4", help="where to write the video")
    render_.add_argument("--engine", choices=options.ENGINES, help="render engine (default: $TTVD_ENGINE or ffmpeg)")
    _option_arguments(render_)
    render_.set_defaults(func=render.render)

    voices_ = commands.add_parser("voices", help="list the voices a job can use (`voice` option)",
                                  description="List every voice available now: eSpeak NG's, Piper's when installed, "
                                              "OpenAI's when OPENAI_API_KEY is set.")
    voices_.add_argument("--json", action="store_true", help="print the same JSON as GET /api/v1/voices")
    voices_.set_defaults(func=checks.voices)

    mcp_ = commands.add_parser("mcp", help="serve the MCP tools on stdin/stdout, for AI agents (the mcp extra)",
                               description="A Model Context Protocol server on standard input and output: tools to "
                                           "generate videos and follow them, for AI agents. Needs the extra: "
                                           "pip install 'ttvd[mcp]'; a daemon makes the videos.")
    mcp_.set_defaults(func=service.mcp)

    doctor_ = commands.add_parser("doctor", help="check what jobs need: each stage's backend, fonts, ffmpeg, the home, "
                                                 "disk space, a daemon",
                                  description="For each stage: the backend it will use, why, whether it answers (one "
                                              "request to each online service) and what a job does if it is down; "
                                              "then the fonts, ffmpeg and the encoder, the home and the cache, free "
                                              "disk space and a live daemon. One line each: ok, warn or FAILED, with "
                                              "what to do. Creates nothing. Exits 1 if a check fails.")
    doctor_.set_defaults(func=checks.doctor)

    install_ = commands.add_parser(
         "install-systemd", help="install the systemd units and the settings file (as root)",
         description="Copy ttvd-daemon.service, ttvd-api.service and ttvd.target into place, running this "
                     "installation's ttvd, and create the settings file from the example if it is missing.")
    install_.add_argument("--dest", default="/etc/systemd/system", metavar="DIR",
                          help="where the units go (default: /etc/systemd/system)")
    install_.add_argument("--env-file", default="/etc/ttvd/ttvd.env", metavar="FILE",
                          help="settings and keys read by the units; never overwritten (default: /etc/ttvd/ttvd.env)")
    install_.add_argument("--units", metavar="DIR", help="the shipped units (default: found with the installation)")
    install_.add_argument("--dry-run", action="store_true", help="show what would be done")
    install_.set_defaults(func=service.install_systemd)
    for command in commands.choices.values():  # `ttvd submit FILE --home DIR` works too; it wins over the global
        command.add_argument("--home", metavar="DIR", default=argparse.SUPPRESS, help=HOME_HELP)
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    return top



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
