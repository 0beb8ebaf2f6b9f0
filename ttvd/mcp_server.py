"""``ttvd mcp``: a Model Context Protocol server on standard input and output, for AI agents.

It reads and writes the home through the same spool calls as the CLI (``Spool.submit``,
``Spool.read_state``, ``control.cancel``); a daemon on that home makes the videos. The MCP SDK
(the ``mcp`` extra) is imported here only, and the CLI imports this module only for ``ttvd mcp``.
Each parameter's allowed values come from ``ttvd.options``, so the tools' JSON schemas and the
checks cannot drift apart; a value is checked by ``options.validate``, as for the API and the CLI.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field, WithJsonSchema

from ttvd import __version__, atomic, config, control, daemons, options
from ttvd.config import Settings
from ttvd.errors import TtvdError
from ttvd.guard import check_caps
from ttvd.job import JobState, JobStatus
from ttvd.spool import MAX_VOICES_BYTES, BadState, Spool
from ttvd.text import clean_text

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

LOG_TAIL = 10          # the last lines of a job's log that get_status shows
DEFAULT_LIMIT = 20     # list_jobs: how many jobs by default
MAX_LIMIT = 500
STATUSES = tuple(status.value for status in JobStatus)
POLL_HINT = "poll get_status with this job_id every few seconds until status is completed, failed or cancelled"

INSTRUCTIONS = f"""\
ttvd turns a text (a story, a script, an article) into a narrated, captioned MP4 video, offline.
Flow: optionally list_voices to choose a voice; generate_video(text, ...) returns a job_id at once;
then {POLL_HINT}. When completed, output_file is the absolute path of the MP4 on this machine.
A ttvd daemon must be running on the same home to make videos; queued jobs wait until one runs.
cancel_job stops a queued or running job; list_jobs shows recent jobs, newest first."""


def _enum(names: Any) -> WithJsonSchema:
    """The JSON schema of a parameter that takes one of ``names`` (checked by ``options.validate``)."""
    return WithJsonSchema({"type": "string", "enum": list(names)})


def _integer(low: int, high: int, **extra: Any) -> WithJsonSchema:
    return WithJsonSchema({"type": "integer", "minimum": low, "maximum": high, **extra})


def _default(option: str) -> str:
    """How a job option's description ends: the daemon's setting that gives its default, as shipped."""
    setting = config.describe(f"TTVD_{option.upper()}")
    return f"Default: the daemon's {setting.name} ({setting.default or 'empty'})."


# The annotations are read by the SDK from this module's globals (they are strings here), so they live
# at module level. The job options a tool call may give; each is left out (None) for the daemon's setting.
Text = Annotated[str, Field(description="The story, script or article to narrate, as plain text in any language.")]
Voice = Annotated[str | None, Field(
    description="A voice id from list_voices, or auto: the best voice for the text's language. " + _default("voice"))]
Language = Annotated[str | None, Field(
    description="The text's language as a code such as en, fr or pt-br, or auto to detect it from the text. "
                + _default("language"))]
Captions = Annotated[str | None, _enum(options.CAPTION_PRESETS), Field(
    description="How captions look: karaoke (each word turns amber as it is spoken), highlight (the spoken "
                "word on an amber box), word (one to three large words at a time), classic (sentence lines on "
                "a dark box), none (no captions). " + _default("captions"))]
CaptionPosition = Annotated[str | None, _enum(options.CAPTION_POSITIONS), Field(
    description="Where captions sit, always inside the short-video apps' safe area. " + _default("caption_position"))]
Music = Annotated[str | None, WithJsonSchema({"type": "string", "examples": ["auto", "none", *options.MUSIC_MOODS]}),
                  Field(description=f"The music bed: none, auto (a mood read from the text), a mood "
                                    f"({', '.join(options.MUSIC_MOODS)}) or the name of a file in the daemon's "
                                    "music folder. " + _default("music"))]
MusicVolume = Annotated[int | None, _integer(*options.MUSIC_VOLUME), Field(
    description="The music bed's level in percent, before it is lowered under the voice. " + _default("music_volume"))]
Transition = Annotated[str | None, _enum(options.TRANSITIONS), Field(
    description="The transition between background clips. " + _default("transition"))]
Aspect = Annotated[str | None, _enum(options.ASPECTS), Field(
    description="The frame's shape: 9:16 vertical (TikTok, Reels, Shorts), 16:9 landscape, 1:1 square. "
                + _default("aspect"))]
Title = Annotated[str | None, WithJsonSchema({"type": "string", "maxLength": options.MAX_TITLE_CHARS}), Field(
    description=f"A title card shown at the start: one line of at most {options.MAX_TITLE_CHARS} characters; "
                "empty for none. " + _default("title"))]
Height = Annotated[int | None, _integer(*options.HEIGHTS, multipleOf=2), Field(
    description="The video's height in pixels, even (1920 for a Full HD vertical video); the width follows "
                "from aspect. " + _default("height"))]
StatusFilter = Annotated[str | None, _enum(STATUSES), Field(
    description="Only jobs with this status. Default: every job.")]
JobId = Annotated[str, Field(description="The job_id that generate_video returned (or list_jobs shows).")]


def build(settings: Settings, spool: Spool) -> MCPServer[Any]:
    """The MCP server and its tools, over ``spool``."""
    server: MCPServer[Any] = MCPServer("ttvd", title="ttvd: text to video", version=__version__,
                                       instructions=INSTRUCTIONS)

    def tool(description: str | None = None, **hints: Any) -> Callable[[F], F]:
        """Register a tool, described by ``description`` or its docstring (on one line), with ``hints``."""
        def register(fn: F) -> F:
            server.add_tool(fn, description=description or " ".join((fn.__doc__ or "").split()),
                            annotations=ToolAnnotations(open_world_hint=False, **hints))
            return fn
        return register

    @tool(description=(
        "Queue a text to become a narrated, captioned MP4 video, and return its job_id at once (the video "
        f"takes from seconds to minutes). The text may be up to {settings.max_text_chars} characters long. "
        "Then " + POLL_HINT + "; output_file then holds the video's path. "
        "Every option is optional: leave it out to use the daemon's default. A value outside its allowed "
        "values is refused with a message naming them."),
        title="Generate a video", read_only_hint=False, destructive_hint=False, idempotent_hint=False)
    def generate_video(
            text: Text,
            voice: Voice = None, language: Language = None, captions: Captions = None,
            caption_position: CaptionPosition = None, music: Music = None, music_volume: MusicVolume = None,
            transition: Transition = None, aspect: Aspect = None, title: Title = None,
            height: Height = None) -> dict[str, Any]:
        given = {"voice": voice, "language": language, "captions": captions, "caption_position": caption_position,
                 "music": music, "music_volume": music_volume, "transition": transition, "aspect": aspect,
                 "title": title, "height": height}
        with _tool_errors():
            chosen = options.validate({name: value for name, value in given.items() if value is not None})
            check_caps(chosen, settings)  # an agent may be steered by text it read: it gets the API's caps
            state = spool.submit(clean_text(text, settings.max_text_chars), "mcp", chosen)
        message = f"Video generation queued; {POLL_HINT}."
        if not _daemon_running(spool):
            message += " No ttvd daemon seems to run on this home: the job waits until one starts (`ttvd daemon`)."
        return {"job_id": state.job_id, "status": state.status.value, "message": message}

    @tool(title="Job status", read_only_hint=True)
    def get_status(job_id: JobId) -> dict[str, Any]:
        """A job's state: status (queued, processing, completed, failed, cancelled), progress in percent, the
        current stage and message, error (why it failed), output_file (the MP4's absolute path, once
        completed) and the last lines of its log. Poll every few seconds while status is queued or processing.
        """
        state = _state(spool, job_id)
        return {**_summary(spool, state), "stage": state.stage, "error": state.error,
                "updated_at": state.updated_at, "options": dict(state.options),
                "logs": state.logs[-LOG_TAIL:], "next": _next_step(state)}

    @tool(title="List jobs", read_only_hint=True)
    def list_jobs(status: StatusFilter = None,
                  limit: Annotated[int, Field(ge=1, le=MAX_LIMIT, description="At most this many jobs.")]
                  = DEFAULT_LIMIT) -> dict[str, Any]:
        """Recent jobs, newest first: job_id, status, progress, message, created_at (Unix seconds) and
        output_file when completed. Call get_status for one job's details."""
        if status is not None and status not in STATUSES:
            raise ToolError(f"status must be one of {', '.join(STATUSES)}")
        found = [state for state in spool.states() if status is None or state.status.value == status]
        return {"jobs": [_summary(spool, state) for state in reversed(found[-limit:])], "total": len(found)}

    @tool(title="Cancel a job", read_only_hint=False, destructive_hint=True)
    def cancel_job(job_id: JobId) -> dict[str, Any]:
        """Stop a queued or running job for good: a queued one is cancelled at once, a running one within
        seconds (no partial video is kept). A job that already finished cannot be cancelled. If the answer's
        status is not yet cancelled, poll get_status until it is."""
        _state(spool, job_id)
        with _tool_errors():
            state = control.cancel(spool, job_id, settings)
        if state.status is JobStatus.CANCELLED:
            message = "Job cancelled"
        else:
            message = "Cancel requested; the daemon running the job stops it within seconds; poll get_status"
        return {"job_id": job_id, "status": state.status.value, "message": message}

    @tool(title="List voices", read_only_hint=True)
    def list_voices(language: Annotated[str | None, Field(
            description="Only voices for this language code (en, fr, pt-br; a prefix matches: en gives "
                        "en-us and en-gb), plus the voices that speak any language. Default: every voice.")]
            = None) -> dict[str, Any]:
        """The voices a job can use: id (pass it as generate_video's voice), name, language, backend, and
        whether it works offline. Voices of language mul speak any language."""
        from ttvd.voices import ANY_LANGUAGE

        found = _voices(settings, spool)
        if language:
            wanted = language.lower()
            found["voices"] = [voice for voice in found["voices"] if voice["language"] == ANY_LANGUAGE
                               or voice["language"].lower().startswith(wanted)]
        return found

    return server


def serve(settings: Settings) -> None:
    """Serve the MCP tools over standard input and output until the client closes them."""
    spool = Spool(settings.home).ensure()
    log.info("MCP server on stdio for the home %s", spool.home.root)
    build(settings, spool).run("stdio")


@contextmanager
def _tool_errors() -> Iterator[None]:
    """ttvd's own errors, whose text is fit for a user, become tool errors the agent reads."""
    try:
        yield
    except TtvdError as exc:
        raise ToolError(str(exc)) from exc


def _state(spool: Spool, job_id: str) -> JobState:
    try:
        state = spool.read_state(job_id)
    except BadState as exc:
        raise ToolError(f"Job {job_id!r}: {exc}; a daemon sets it aside and fails the job") from None
    if state is None:
        raise ToolError(f"No job with id {job_id!r}; list_jobs shows the known jobs")
    return state


def _summary(spool: Spool, state: JobState) -> dict[str, Any]:
    """What list_jobs shows of a job; ``output_file`` is absolute, and only there once the video is."""
    summary = {"job_id": state.job_id, "status": state.status.value, "progress": state.progress,
               "message": state.message, "created_at": state.created_at}
    if state.status is JobStatus.COMPLETED and state.output_file:
        summary["output_file"] = str(spool.home.root.resolve() / state.output_file)
    return summary


def _next_step(state: JobState) -> str:
    """What an agent does next with a job in this state."""
    if state.status is JobStatus.COMPLETED:
        return "The video is ready at output_file."
    if state.status is JobStatus.FAILED:
        return "The job failed; error says why. Fix the text or options and call generate_video again."
    if state.status is JobStatus.CANCELLED:
        return "The job was cancelled; call generate_video to make it again."
    return "Call get_status again in a few seconds."


def _daemon_running(spool: Spool) -> bool:
    return any(beat["state"] == "ok" for beat in daemons.read_all(spool.home))


def _voices(settings: Settings, spool: Spool) -> dict[str, Any]:
    """The catalogue the daemon published at start (what jobs can use); without one, built here as
    ``ttvd voices`` does."""
    try:
        return dict(json.loads(atomic.read_regular(spool.home.voices, MAX_VOICES_BYTES)))
    except (OSError, ValueError):
        from ttvd import voices  # loads eSpeak NG: only when no daemon published the catalogue

        return voices.listing(voices.catalogue(settings))
