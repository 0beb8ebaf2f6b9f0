"""The pipeline: speech -> captions -> queries -> footage -> render, each stage cached in ``work/<id>/``.

It knows nothing of HTTP or of the spool: it is handed a Job (what to make, where, how to report)
and returns the finished video's path. A restarted job resumes at its first unfinished stage.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from ttvd import atomic, backends, render
from ttvd.config import Settings
from ttvd.errors import Cancelled, NoSpaceError, RenderError, ServiceUnavailable, StageError, TtvdError
from ttvd.job import STAGE_BY_NAME
from ttvd.pipeline import music, sound, subtitles
from ttvd.pipeline.captions import make_captions
from ttvd.pipeline.footage import footage_credits, plan_footage
from ttvd.pipeline.plan import Plan, resolve
from ttvd.pipeline.queries import make_passages
from ttvd.render import encoders, fonts
from ttvd.timeline import Caption, Clip, Passage, Speech, Timeline

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
            except (StageError, Cancelled, NoSpaceError):
                raise
            except TtvdError as exc:
                raise StageError(name, str(exc)) from exc
            _save(cache, result)
        self.reporter.stage_finished(name)
        return result


def run(job: Job) -> Path:
    """Make the video for ``job`` and return its path."""
    job.work.mkdir(parents=True, exist_ok=True)
    plan = resolve(job.settings, job.options)
    speech = job.stage("speech", lambda: _speech(job, plan), Speech.from_dict)
    captions = job.stage("captions", lambda: _captions(job, plan, speech),
                         lambda data: [Caption.from_dict(c) for c in data])
    passages = job.stage("queries", lambda: _queries(job, plan, speech, captions),
                         lambda data: [Passage(**p) for p in data])
    clips = job.stage("footage", lambda: _footage(job, plan, passages),
                      lambda data: [Clip(**c) for c in data])
    job.stage("render", lambda: _render(job, plan, speech, captions, clips), lambda data: data)
    return job.output


def _speech(job: Job, plan: Plan) -> Speech:
    def speak(name: str, backend: Callable[..., Speech]) -> Speech:
        speech = backend(job.text, job.audio, plan.settings)
        speech.engine = name
        return speech

    return _with_fallback(job, backends.choose("speech", plan.settings, plan.options), speak)


def _captions(job: Job, plan: Plan, speech: Speech) -> list[Caption]:
    choice = backends.choose("captions", plan.settings, plan.options, speech.engine)
    words = _with_fallback(job, choice, lambda name, backend: backend(speech, plan.settings))
    return make_captions(words, plan.style.max_line_chars, speech.duration, plan.look["captions"])


def _queries(job: Job, plan: Plan, speech: Speech, captions: list[Caption]) -> list[Passage]:
    passages = make_passages(captions, speech.duration)
    choice = backends.choose("queries", plan.settings, plan.options)
    for passage, queries in zip(passages, _with_fallback(
            job, choice, lambda name, backend: backend(passages, plan.settings)), strict=True):
        passage.queries = queries
    return passages


def _footage(job: Job, plan: Plan, passages: list[Passage]) -> list[Clip]:
    choice = backends.choose("footage", plan.settings, plan.options)
    _log_choice(job, choice)
    names = [backends.STAGES["footage"].offline] + ([choice.name] if choice.online else [])
    sources = [backends.resolve("footage", name)(plan.settings, job.job_id) for name in names]
    unavailable = None if not choice.online or backends.falls_back(choice, plan.settings) else (
        lambda exc: backends.no_fallback(choice, plan.settings, exc))
    clips = plan_footage(passages, sources, job.job_id, job.reporter.log, unavailable)
    job.reporter.credits(footage_credits(clips))
    return clips


def _log_choice(job: Job, choice: backends.Choice) -> None:
    """Say which backend a stage uses and why, unless it is the offline default nobody asked to change."""
    if not choice.default:
        job.reporter.log(f"{choice.stage.capitalize()} from {choice.name}: {choice.reason}")


def _with_fallback(job: Job, choice: backends.Choice, call: Callable[[str, Callable[..., Any]], T]) -> T:
    """Run ``choice``'s backend; if its service stays unavailable, the stage's offline one, with a log line
    (unless ``backends.falls_back`` says the job must fail: the user named the backend that is down)."""
    _log_choice(job, choice)
    try:
        return call(choice.name, backends.resolve(choice.stage, choice.name))
    except ServiceUnavailable as exc:
        offline = backends.STAGES[choice.stage].offline
        if choice.name == offline:
            raise
        if not backends.falls_back(choice, job.settings):
            raise backends.no_fallback(choice, job.settings, exc) from exc
        log.warning("job %s: %s; %s falls back to %s", job.job_id, exc, choice.stage, offline)
        job.reporter.log(f"{exc}; using {offline} instead")
        return call(offline, backends.resolve(choice.stage, offline))


def _render(job: Job, plan: Plan, speech: Speech, captions: list[Caption], clips: list[Clip]) -> dict[str, Any]:
    bed = music.choose(plan.look["music"], job.text, plan.settings.music_dir)
    mix = sound.mix(speech, bed, plan.look["music_volume"], plan.fps, job.job_id, job.work, job.reporter.log,
                    job.cancel)
    captions, clips = sound.shift(captions, clips, mix.lead, mix.duration)
    timeline = Timeline(str(mix.path), mix.duration, plan.width, plan.height, plan.fps, clips, captions,
                        plan.style, encoder=plan.encoder, transition=plan.look["transition"])
    _save(job.work / "timeline.json", timeline)
    missing = fonts.coverage_warning(" ".join(c.text for c in captions) + " " + plan.style.title, plan.style.font_file)
    if missing:
        job.reporter.log(missing)
    encoder = plan.encoder
    codec, why = encoders.decide(encoder)  # what the engine will use: a hardware encoder may fall back
    if why:
        job.reporter.log(f"Encoder {encoder['codec']} is {why}; using {codec} instead")
    job.reporter.log(f"Rendering {plan.width}x{plan.height} at {plan.fps} fps with the {plan.engine} engine "
                     f"({codec}, {encoder['preset']}, CRF {encoder['crf']})")
    partial = job.output.with_name(f".{job.output.name}.part")
    base = STAGE_BY_NAME["render"].progress
    last = [base]

    def on_progress(fraction: float) -> None:
        percent = base + min(9, int(fraction * 10))
        if percent > last[0]:
            last[0] = percent
            job.reporter.progress(percent)

    try:
        render.engine(plan.engine)(timeline, partial, job.work, on_progress, job.cancel)
        subtitles.write(timeline, job.output)  # from the Timeline just drawn: the burned captions' times
        os.replace(partial, job.output)
    except RenderError as exc:
        log.error("job %s: the %s engine failed:\n%s", job.job_id, plan.engine, exc.stderr.strip()[-2000:])
        raise
    finally:
        partial.unlink(missing_ok=True)
    return {"output": str(job.output), "duration": mix.duration}


def _save(path: Path, result: Any) -> None:
    atomic.write_json(path, _plain(result))


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    return value
