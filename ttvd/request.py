"""A job request: what a daemon needs to run a job, as written to the spool's queue files."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

MAX_REQUEST_BYTES = 64 * 1024 * 1024


@dataclass
class Request:
    """What a daemon needs to run a job: the text and how it was asked for."""

    job_id: str
    text: str
    source: str = "api"
    options: dict[str, Any] = field(default_factory=dict)
    created_at: int = field(default_factory=lambda: int(time.time()))
    attempts: int = 0
    origin: str | None = None

    @classmethod
    def from_json(cls, raw: bytes, job_id: str) -> Request:
        """The request in ``raw``; ValueError unless it is a well-formed request for ``job_id``."""
        if len(raw) >= MAX_REQUEST_BYTES:
            raise ValueError("request file is too large")
        try:
            data = json.loads(raw)
        except RecursionError:
            raise ValueError("request is nested too deeply") from None
        if not isinstance(data, dict) or data.get("job_id") != job_id:
            raise ValueError("not a job request for this file name")
        for key, kind in (("text", str), ("source", str), ("options", dict), ("created_at", int),
                          ("attempts", int), ("origin", (str, type(None)))):
            if key in data and not isinstance(data[key], kind):
                raise ValueError(f"request field {key!r} has the wrong type")
        if "text" not in data:
            raise ValueError("request has no text")
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
