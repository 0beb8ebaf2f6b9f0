"""The pipeline: speech -> captions -> queries -> footage -> render, each stage cached in ``work/<id>/``.

It knows nothing of HTTP or of the spool: it is handed a Job (what to make, where, how to report)
and returns the finished video's path. A restarted job resumes at its first unfinished stage.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, TypeVar

from ttvd import render
from ttvd.config import Settings
from ttvd.errors import Cancelled, StageError, TtvdError
from ttvd.job import STAGE_BY_NAME
from ttvd.media import FfmpegError
from ttvd import backends
from ttvd.backends.service import ServiceUnavailable
from ttvd.pipeline.captions import make_captions
from ttvd.pipeline.footage import footage_credits, plan_footage
from ttvd.pipeline.queries import make_passages
from ttvd.render import options as render_options
from ttvd.render.fonts import find_font
from ttvd.timeline import Caption, Clip, Passage, Speech, Style, Timeline

log = logging.getLogger(__name__)
T = TypeVar("T")


class Reporter(Protocol):
    def stage_started(self, stage: str) -> None: ...
    def stage_finished(self, stage: str) -> None: ...
    def progress(self, percent: int) -> None: ...
    def log(self, line: str) -> None: ...
    def credits(self, entries: list[dict[str, Any]]) -> None: ...


@dataclass
class Job:
    job_id: str
    text: str
    settings: Settings
    work: Path
    audio: Path
    output: Path
    reporter: Reporter
    options: dict[str, Any] = field(default_factory=dict)
    cancel: threading.Event = field(default_factory=threading.Event)

    def stage(self, name: str, compute: Callable[[], T], decode: Callable[[Any], T]) -> T:
        """Run a stage, or load its cached result when a previous attempt finished it."""
        cache = self.work / f"{name}.json"
        if self.cancel.is_set():
            raise Cancelled(f"job stopped before the {name} stage")
        self.reporter.stage_started(name)
        if cache.exists():
            result = decode(json.loads(cache.read_text(encoding="utf-8")))
            self.reporter.log(f"Reusing the {name} result of an earlier attempt")
        else:
            try:
                result = compute()
            except (StageError, Cancelled):
                raise
            except TtvdError as exc:
                raise StageError(name, str(exc)) from exc
            _save(cache, result)
        self.reporter.stage_finished(name)
        return result


def run(job: Job) -> Path:
    """Make the video for ``job`` and return its path."""
    job.work.mkdir(parents=True, exist_ok=True)
    speech = job.stage("speech", lambda: _speech(job), Speech.from_dict)
    captions = job.stage("captions", lambda: _captions(job, speech),
                         lambda data: [Caption.from_dict(c) for c in data])
    passages = job.stage("queries", lambda: _queries(job, speech, captions),
                         lambda data: [Passage(**p) for p in data])
    clips = job.stage("footage", lambda: _footage(job, passages),
                      lambda data: [Clip(**c) for c in data])
    job.stage("render", lambda: _render(job, speech, captions, clips), lambda data: data)
    return job.output


def _speech(job: Job) -> Speech:
    def speak(name: str, backend: Callable) -> Speech:
        speech = backend(job.text, job.audio, job.settings)
        speech.engine = name
        return speech

    return _with_fallback(job, backends.choose("speech", job.settings, job.options), speak)


def _captions(job: Job, speech: Speech) -> list[Caption]:
    choice = backends.choose("captions", job.settings, job.options, speech.engine)
    words = _with_fallback(job, choice, lambda name, backend: backend(speech, job.settings))
    return make_captions(words, style_for(job.settings, job.options).max_line_chars, speech.duration)


def _queries(job: Job, speech: Speech, captions: list[Caption]) -> list[Passage]:
    passages = make_passages(captions, speech.duration)
    choice = backends.choose("queries", job.settings, job.options)
    for passage, queries in zip(passages, _with_fallback(
            job, choice, lambda name, backend: backend(passages, job.settings))):
        passage.queries = queries
    return passages


def _footage(job: Job, passages: list[Passage]) -> list[Clip]:
    choice = backends.choose("footage", job.settings, job.options)
    _log_choice(job, choice)
    names = [backends.STAGES["footage"].offline] + ([choice.name] if choice.online else [])
    chosen = render_options.effective(job.settings, job.options)  # footage fits the job's own output size
    settings = job.settings.replace(aspect=chosen["aspect"], height=chosen["height"])
    sources = [backends.resolve("footage", name)(settings, job.job_id) for name in names]
    clips = plan_footage(passages, sources, job.job_id, job.reporter.log)
    job.reporter.credits(footage_credits(clips))
    return clips


def _log_choice(job: Job, choice: backends.Choice) -> None:
    """Say which backend a stage uses and why, unless it is the offline default nobody asked to change."""
    if not choice.default:
        job.reporter.log(f"{choice.stage.capitalize()} from {choice.name}: {choice.reason}")


def _with_fallback(job: Job, choice: backends.Choice, call: Callable[[str, Callable], T]) -> T:
    """Run ``choice``'s backend; if its service stays unavailable, the stage's offline one, with a log line."""
    _log_choice(job, choice)
    try:
        return call(choice.name, backends.resolve(choice.stage, choice.name))
    except ServiceUnavailable as exc:
        offline = backends.STAGES[choice.stage].offline
        if choice.name == offline:
            raise
        log.warning("job %s: %s; %s falls back to %s", job.job_id, exc, choice.stage, offline)
        job.reporter.log(f"{exc}; using {offline} instead")
        return call(offline, backends.resolve(choice.stage, offline))


def _render(job: Job, speech: Speech, captions: list[Caption], clips: list[Clip]) -> dict[str, Any]:
    chosen = render_options.effective(job.settings, job.options)
    width, height = render_options.size(chosen["aspect"], chosen["height"])
    timeline = Timeline(speech.audio, speech.duration, width, height, chosen["fps"], clips, captions,
                        style_for(job.settings, job.options),
                        encoder={"codec": chosen["encoder"], "preset": chosen["preset"], "crf": chosen["crf"]})
    _save(job.work / "timeline.json", timeline)
    job.reporter.log(f"Rendering {width}x{height} at {chosen['fps']} fps with the {chosen['engine']} engine "
                     f"({chosen['encoder']}, {chosen['preset']}, CRF {chosen['crf']})")
    partial = job.output.with_name(f".{job.output.name}.part")
    stage = STAGE_BY_NAME["render"]
    last = [stage.progress]

    def on_progress(fraction: float) -> None:
        percent = stage.progress + min(9, int(fraction * 10))
        if percent > last[0]:
            last[0] = percent
            job.reporter.progress(percent)

    try:
        render.engine(chosen["engine"])(timeline, partial, job.work, on_progress, job.cancel)
        os.replace(partial, job.output)
    except InterruptedError as exc:
        raise Cancelled("rendering was stopped") from exc
    except FfmpegError as exc:
        log.error("job %s: ffmpeg failed:\n%s", job.job_id, exc.stderr.strip()[-2000:])
        raise StageError("render", str(exc)) from exc
    except OSError as exc:
        if exc.errno is not None:  # a real OS error (a full disk): the daemon's to handle
            raise
        # moviepy reports its ffmpeg's failures as OSError without an errno
        log.error("job %s: %s engine failed: %s", job.job_id, chosen["engine"], exc)
        raise StageError("render", f"{chosen['engine']} engine failed: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return {"output": str(job.output), "duration": speech.duration}


def style_for(settings: Settings, options: dict[str, Any] | None = None) -> Style:
    """Caption style for the job's output size (its aspect and height options over the settings)."""
    chosen = render_options.effective(settings, options)
    width, height = render_options.size(chosen["aspect"], chosen["height"])
    font_file, font_name = find_font(settings.font)
    font_size = round(min(width, height) * 0.068)
    return Style(font_file, font_name, font_size, max_line_chars=max(8, int(width * 0.86 / (font_size * 0.62))),
                 margin_v=round(height * 0.22))


def _save(path: Path, result: Any) -> None:
    from ttvd import atomic

    atomic.write_json(path, _plain(result))


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    return value
