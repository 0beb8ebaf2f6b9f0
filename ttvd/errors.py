"""One error root for ttvd; vendor and OS errors are translated into these at their edge."""
from __future__ import annotations


class TtvdError(Exception):
    """Base of every error ttvd raises on purpose; its message is fit for a user."""


class ConfigError(TtvdError):
    """A setting or a job option has a value ttvd cannot use."""


class InputError(TtvdError):
    """A submitted text or request is unusable (empty, too long, not text)."""


class NoSpaceError(TtvdError):
    """The disk is full: nothing was accepted that could not be kept."""


class StageError(TtvdError):
    """A pipeline stage failed; ``stage`` names it."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(message)
        self.stage = stage


class Cancelled(TtvdError):
    """The job was asked to stop before it finished."""
