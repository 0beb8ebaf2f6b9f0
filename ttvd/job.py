"""A job's identity and state: ids, the status enum, the stage table, and the lifecycle.

Every change of a job's status goes through one of the transitions on ``JobState`` (``queued``,
``rejected``, ``begin_attempt``, ``enter_stage``, ``complete``, ``fail``, ``requeue``,
``wait_for_space``, ``cancel``, ``retry``); each sets every field that goes with it and logs one line::

    queued ──begin_attempt──> processing ──complete──> completed
      ^                         │ │ └──fail──> failed
      └──requeue / wait_for_space┘ └──cancel──> cancelled      (rejected: failed from the start)
      ^                                                │
      └───────────────retry (failed or cancelled)──────┘     (cancel also takes a queued job)
"""
from __future__ import annotations

import json
import math
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any

_ID_PATTERN = re.compile(
    r"[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)
MAX_LOG_LINES = 200


def new_id() -> str:
    return str(uuid.uuid4())


def is_valid_id(job_id: object) -> bool:
    """True for a server-made id (uuid hex or canonical uuid); checked before any path is built."""
    return isinstance(job_id, str) and _ID_PATTERN.fullmatch(job_id) is not None


class JobStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """True once the job will not run again by itself."""
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


@dataclass(frozen=True)
class Stage:
    name: str
    progress: int
    message: str
    started: str
    finished: str


STAGES: tuple[Stage, ...] = (
    Stage("speech", 20, "Generating audio...", "Starting audio generation...", "Audio generation completed"),
    Stage("captions", 40, "Generating captions...", "Starting caption generation...", "Caption generation completed"),
    Stage("queries", 60, "Generating video search queries...", "Starting search query generation...",
          "Search query generation completed"),
    Stage("footage", 80, "Fetching background videos...", "Starting background video fetching...",
          "Background video fetching completed"),
    Stage("render", 90, "Rendering video...", "Starting video rendering...", "Video rendering completed"),
)
STAGE_BY_NAME = {stage.name: stage for stage in STAGES}
QUEUED_MESSAGE = "Job queued"
COMPLETED_MESSAGE = "Video generation completed"
CANCELLED_MESSAGE = "Job cancelled"
REQUEUED_MESSAGE = "Interrupted; queued to resume"
RETRY_MESSAGE = "Queued again on request"
WAITING_MESSAGE = "Waiting for disk space; queued to resume"


@dataclass
class JobState:
    """The state file's record: a superset of the API's status body."""

    job_id: str
    status: JobStatus = JobStatus.QUEUED
    progress: int = 0
    message: str = QUEUED_MESSAGE
    created_at: int = field(default_factory=lambda: int(time.time()))
    updated_at: float = field(default_factory=time.time)
    logs: list[str] = field(default_factory=list)
    stage: str | None = None
    attempts: int = 0
    source: str = "api"
    origin: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    output_file: str | None = None
    error: str | None = None
    credits: list[dict[str, Any]] = field(default_factory=list)  # where each stock clip comes from

    # -- the lifecycle ----------------------------------------------------------------------------

    @classmethod
    def queued(cls, job_id: str, source: str, options: dict[str, Any], origin: str | None = None,
               created_at: int | None = None) -> JobState:
        """A job just accepted into the queue."""
        state = cls(job_id, source=source, options=dict(options), origin=origin)
        if created_at is not None:
            state.created_at = created_at
        return state

    @classmethod
    def rejected(cls, job_id: str, reason: str, source: str, origin: str | None = None) -> JobState:
        """A job refused before it could be queued, kept so the user can read why."""
        return cls(job_id, status=JobStatus.FAILED, message=reason, source=source, origin=origin,
                   error=reason, logs=[reason])

    def begin_attempt(self) -> None:
        """A daemon starts (or resumes) the job."""
        self.status, self.attempts, self.error = JobStatus.PROCESSING, self.attempts + 1, None
        self.log(f"Processing started (attempt {self.attempts})")

    def enter_stage(self, stage: str) -> None:
        """The pipeline starts ``stage``: its progress and message."""
        info = STAGE_BY_NAME[stage]
        self.stage, self.progress, self.message = stage, info.progress, info.message
        self.log(info.started)

    def complete(self, output_file: str) -> None:
        """The video is in place."""
        self.status, self.progress, self.message = JobStatus.COMPLETED, 100, COMPLETED_MESSAGE
        self.stage, self.output_file, self.error = "done", output_file, None
        self.log(COMPLETED_MESSAGE)

    def fail(self, reason: str, stage: str | None = None) -> None:
        """The job cannot be made; ``stage`` (default: the current one) is where it stopped."""
        self.status, self.error = JobStatus.FAILED, reason
        self.stage = stage or self.stage
        self.message = f"Failed at {self.stage}: {reason}" if self.stage else f"Failed: {reason}"
        self.log(self.message)

    def requeue(self, reason: str) -> None:
        """The attempt was interrupted (a stop); the job resumes where it stopped."""
        self.status, self.progress, self.message = JobStatus.QUEUED, 0, REQUEUED_MESSAGE
        self.log(f"{reason}; the job goes back to the queue and resumes where it stopped")

    def wait_for_space(self) -> None:
        """The disk is full: back to the queue, and the attempt is not counted."""
        self.status, self.progress, self.message, self.error = JobStatus.QUEUED, 0, WAITING_MESSAGE, None
        self.attempts = max(0, self.attempts - 1)
        self.log("The disk is full; the job goes back to the queue and resumes when there is space")

    def cancel(self, reason: str = "cancelled on request") -> None:
        """The job was asked to stop for good."""
        self.status, self.message, self.error = JobStatus.CANCELLED, CANCELLED_MESSAGE, None
        self.log(f"{CANCELLED_MESSAGE}: {reason}")

    def retry(self) -> None:
        """A failed or cancelled job is queued again; its finished stages are kept and reused."""
        was = self.status.value
        self.status, self.progress, self.message, self.error = JobStatus.QUEUED, 0, RETRY_MESSAGE, None
        self.attempts, self.output_file = 0, None
        self.log(f"{RETRY_MESSAGE} (it had {was}); finished stages are reused")

    def log(self, line: str) -> None:
        self.logs.append(line)
        del self.logs[:-MAX_LOG_LINES]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_dict(cls, data: Any) -> JobState:
        """The state in ``data`` (a state file's JSON); ValueError or TypeError, naming the field,
        for anything that is not a well-formed state."""
        if not isinstance(data, dict):
            raise TypeError(f"a job state is a JSON object, not {type(data).__name__}")
        if "job_id" not in data:
            raise ValueError("a job state needs a job_id")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for name, value in values.items():
            _check_field(name, value)
        state = cls(**values)
        state.status = JobStatus(state.status)
        return state

    def status_view(self) -> dict[str, Any]:
        """The body of ``GET /status/<id>``."""
        return {"status": self.status.value, "progress": self.progress, "message": self.message,
                "created_at": self.created_at, "logs": list(self.logs)}

    def jobs_view(self) -> dict[str, Any]:
        """One entry of ``GET /jobs``; ``output_file`` appears once the video exists."""
        view = self.status_view()
        if self.output_file:
            view["output_file"] = self.output_file
        return view

    def full_view(self) -> dict[str, Any]:
        """The body of ``GET /status/<id>``: the seed's fields and what a client can act on
        (stage, error, options, stock footage credits); the API adds the job's links."""
        return {"job_id": self.job_id, **self.jobs_view(), "stage": self.stage, "error": self.error,
                "updated_at": self.updated_at, "options": dict(self.options),
                "credits": [dict(entry) for entry in self.credits]}


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_list_of(kind: type) -> Callable[[object], bool]:
    return lambda value: isinstance(value, list) and all(isinstance(item, kind) for item in value)


def _is(*kinds: type) -> Callable[[object], bool]:
    return lambda value: isinstance(value, kinds) and not isinstance(value, bool)


_FIELD_CHECKS: dict[str, tuple[Callable[[object], bool], str]] = {
    "job_id": (is_valid_id, "a job id"),
    "status": (lambda value: value in set(JobStatus), f"one of {', '.join(JobStatus)}"),
    "progress": (_is(int), "an integer"),
    "message": (_is(str), "a string"),
    "created_at": (_is_number, "a number"),
    "updated_at": (_is_number, "a number"),
    "logs": (_is_list_of(str), "a list of strings"),
    "stage": (_is(str, type(None)), "a string or null"),
    "attempts": (_is(int), "an integer"),
    "source": (_is(str), "a string"),
    "origin": (_is(str, type(None)), "a string or null"),
    "options": (_is(dict), "an object"),
    "output_file": (_is(str, type(None)), "a string or null"),
    "error": (_is(str, type(None)), "a string or null"),
    "credits": (_is_list_of(dict), "a list of objects"),
}


def _check_field(name: str, value: object) -> None:
    check, kind = _FIELD_CHECKS[name]
    if not check(value):
        raise TypeError(f"state field {name!r} must be {kind}, not {json.dumps(value)[:40]}")
