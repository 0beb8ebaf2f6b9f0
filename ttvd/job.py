"""A job's identity and state: ids, the status enum, the stage table, and the state record."""
from __future__ import annotations

import re
import time
import uuid
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
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


class JobStatus(str, Enum):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


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

    def log(self, line: str) -> None:
        self.logs.append(line)
        del self.logs[:-MAX_LOG_LINES]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "JobState":
        known = {f.name for f in fields(cls)}
        state = cls(**{k: v for k, v in data.items() if k in known})
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
