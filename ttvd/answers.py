"""How the HTTP API answers: the error type and status table, JSON bodies, request bodies, routes.

Every route module (``ttvd.api`` and its siblings) registers its handlers with ``route``, so every
error of every endpoint becomes the same ``{"error": "..."}`` body with the right status.
"""
from __future__ import annotations

import errno
import json
import logging
from collections.abc import Callable
from typing import Any

import bottle

from ttvd.errors import ConfigError, Conflict, InputError, NoSpaceError, NoText, TextTooLong, TtvdError
from ttvd.home import NOT_FOUND, UnknownJob
from ttvd.job import JobState
from ttvd.spool import BadState, Spool

log = logging.getLogger(__name__)

NO_TEXT = "No text provided in request body"
DISK_FULL = "Insufficient storage: the server's disk is full; try again later"


class ApiError(Exception):
    """An answer other than success, with its status code, the message of its ``{"error"}`` body and
    any extra headers (``Retry-After``, ``WWW-Authenticate``...)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


# ttvd's errors as HTTP answers: the first class that matches gives the status (see ttvd.errors).
ERROR_STATUS: tuple[tuple[type[TtvdError], int], ...] = (
    (UnknownJob, 404),
    (NoText, 400),
    (TextTooLong, 413),
    (InputError, 400),
    (ConfigError, 400),
    (Conflict, 409),
    (NoSpaceError, 507),
)


def http_error(exc: TtvdError) -> ApiError:
    """The answer for ``exc``; an error of ttvd's not in the table is a server error."""
    for kind, status in ERROR_STATUS:
        if isinstance(exc, kind):
            message = {NoText: NO_TEXT, NoSpaceError: DISK_FULL}.get(kind, str(exc))
            return ApiError(status, message)
    return ApiError(500, str(exc))


def route(app: bottle.Bottle, path: str, method: str = "GET") -> Callable:
    """Register a handler for ``method path`` whose errors are answered as ``{"error": ...}``."""
    def register(handler: Callable) -> Callable:
        def wrapper(**kwargs: Any) -> Any:
            try:
                return handler(**kwargs)
            except ApiError as exc:
                return error_response(exc)
            except TtvdError as exc:
                return error_response(http_error(exc))
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    return json_response(507, {"error": DISK_FULL})
                log.exception("%s %s failed", method, path)
                return json_response(500, {"error": f"Server error: {exc.strerror or exc}"})
        app.route(path, method, wrapper)
        return handler
    return register


def json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> bottle.HTTPResponse:
    return bottle.HTTPResponse(json.dumps(body, ensure_ascii=False), status=status,
                               headers={"Content-Type": "application/json", **(headers or {})})


def error_response(error: ApiError) -> bottle.HTTPResponse:
    return json_response(error.status, {"error": str(error)}, error.headers)


def read_json(limit: int) -> dict[str, Any]:
    """The request body as a JSON object, at most ``limit`` bytes; ApiError (400/413) otherwise."""
    request = bottle.request
    length = request.content_length
    if length > limit:
        raise ApiError(413, f"Request body is {length} bytes; the limit is {limit}")
    raw = request.environ["wsgi.input"].read(length if length >= 0 else limit + 1)
    if len(raw) > limit:
        raise ApiError(413, f"Request body is over the limit of {limit} bytes")
    if not raw.strip():
        raise ApiError(400, NO_TEXT)
    try:
        body = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except UnicodeDecodeError:
        raise ApiError(400, "Request body must be UTF-8 encoded JSON") from None
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, f"Request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "Request body must be a JSON object")
    try:  # JSON may spell a lone surrogate (\ud800), which no UTF-8 file can hold
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(400, "Request body holds an unpaired surrogate (\\ud800-\\udfff): not text") from None
    return body


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate keys in object")
    return dict(pairs)


def state_or_404(spool: Spool, job_id: str) -> JobState:
    """The job's state; 404 for an unknown id, 500 at once for a state file that cannot be read, whatever
    it is (a FIFO, a device, a directory, a huge file): a daemon sets it aside and fails the job."""
    try:
        state = spool.read_state(job_id)
    except BadState as exc:
        log.error("job %s: %s", job_id, exc)
        raise ApiError(500, "Job state cannot be read") from None
    if state is None:
        raise ApiError(404, NOT_FOUND)
    return state
