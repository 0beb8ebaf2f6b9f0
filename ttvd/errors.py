"""One error root for ttvd; vendor and OS errors are translated into these where they arise.

::

    TtvdError                   a message fit for a user
    ├── ConfigError             a setting or a job option has a value ttvd cannot use
    ├── InputError              a submitted text or request is unusable (not text, no words)
    │   ├── NoText              nothing but blanks
    │   └── TextTooLong         over the size limit (HTTP 413)
    ├── Conflict                the job is not in a state that allows the request (HTTP 409)
    ├── NoSpaceError            the disk is full: nothing was accepted that could not be kept
    ├── Cancelled               the job was asked to stop before it finished
    ├── StageError              a pipeline stage failed; ``stage`` names it
    │   └── RenderError         the encoder failed; ``stderr`` keeps what it said
    └── ServiceError            an online service refused a request; ``service``, ``status``
        ├── KeyRejected         401/403: the job fails at that stage until the key is fixed
        └── ServiceUnavailable  busy, failing or out of reach after the retries: fall back offline

Callers recognise an error by its type, never by its text. The HTTP facade maps them to status
codes in one table (``ttvd.answers.ERROR_STATUS``).
"""
from __future__ import annotations


class TtvdError(Exception):
    """Base of every error ttvd raises on purpose; its message is fit for a user."""


class ConfigError(TtvdError):
    """A setting or a job option has a value ttvd cannot use."""


class InputError(TtvdError):
    """A submitted text or request is unusable (empty, not text, no words)."""


class NoText(InputError):
    """A text that is empty or only blanks."""


class TextTooLong(InputError):
    """A text or file over the size limit."""


class Conflict(TtvdError):
    """The job is not in a state that allows what was asked (cancel a finished job, retry a running one)."""


class NoSpaceError(TtvdError):
    """The disk is full: nothing was accepted that could not be kept."""


class Cancelled(TtvdError):
    """The job was asked to stop before it finished."""


class StageError(TtvdError):
    """A pipeline stage failed; ``stage`` names it."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(message)
        self.stage = stage


class RenderError(StageError):
    """The encoder (ffmpeg, or moviepy's) failed; ``stderr`` keeps what it said, for the log."""

    def __init__(self, message: str, stderr: str = "") -> None:
        super().__init__("render", message)
        self.stderr = stderr


class ServiceError(TtvdError):
    """An online service refused a request; the message names the service and the HTTP status."""

    def __init__(self, service: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.service = service
        self.status = status


class KeyRejected(ServiceError):
    """The service rejected the API key (401/403)."""

    def __init__(self, service: str, status: int) -> None:
        super().__init__(service, f"{service} rejected the API key (HTTP {status})", status)


class ServiceUnavailable(ServiceError):
    """The service stayed busy, failing or out of reach through every retry."""
