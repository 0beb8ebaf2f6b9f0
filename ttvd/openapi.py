"""The OpenAPI 3.1 document of the HTTP API, served at ``GET /api/v1/openapi.json``.

The document describes the server that serves it, and takes each fact from the code that enforces
it, so the two cannot drift apart: the job options and their values from ``ttvd.options.CHECKS``
(see ``option_schema``), narrowed by this server's caps (``TTVD_MAX_HEIGHT``...); the statuses from
``JobStatus``; the download formats and their types from ``DOWNLOADS`` and ``api_reads``; which
paths are open from ``guard.OPEN_PATHS``.

Authentication: the ``bearer`` scheme is always declared; the operations require it only when
``TTVD_API_TOKENS`` is set, as the server does, and only then document the 401. The refusals the
guard (``ttvd.guard``) gives before a route runs are documented on every operation they apply to:
421 (Host), 429 (rate, full queue), 401, 415 (a POST body that is not JSON).
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import bottle

import ttvd
from ttvd import guard, options
from ttvd.answers import json_response
from ttvd.api_reads import CONTENT_TYPES, ORDERS
from ttvd.config import Settings
from ttvd.home import DOWNLOADS
from ttvd.job import JobStatus
from ttvd.spool import Spool

PATH = "/api/v1/openapi.json"
API = "/api/v1"
JSON = "application/json"
JOB_ID = r"^(?:[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"  # ttvd.job.is_valid_id
# The shared answers of components/responses, by status code.
SHARED = {400: "BadRequest", 401: "Unauthorized", 404: "NotFound", 409: "Conflict", 413: "PayloadTooLarge",
          415: "UnsupportedMediaType", 421: "MisdirectedRequest", 429: "TooManyRequests", 500: "ServerError",
          507: "InsufficientStorage"}


def register(app: bottle.Bottle, settings: Settings, spool: Spool) -> None:
    """Add ``GET /api/v1/openapi.json`` to ``app``."""
    body = document(settings)
    app.route(PATH, "GET", lambda: json_response(200, body))


def document(settings: Settings) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API as this server (``settings``) answers it."""
    secured = bool(settings.api_tokens)
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "ttvd", "version": ttvd.__version__, "license": {"name": "MIT", "identifier": "MIT"},
                 "description": "Text to narrated, captioned vertical video: submit a text (POST /generate), "
                                "poll its status, download the video. Every error body is {\"error\": \"...\"}."},
        "servers": [{"url": "/"}],
        "paths": _guarded(_paths(), secured),
        "components": {
            "schemas": _schemas(settings), "responses": _responses(), "parameters": _parameters(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description":
                                           "One of the tokens of TTVD_API_TOKENS; required only when that is set."}}},
    }
    if secured:
        doc["security"] = [{"bearer": []}]
    return doc


# -- the job options, from ttvd.options ------------------------------------------------------------------

def option_schema(check: Callable[[Any], Any]) -> dict[str, Any]:
    """The JSON Schema of what ``check`` (a value of ``options.CHECKS``) accepts.

    The checks made by ``options.choice``, ``integer`` and ``pattern`` keep what they accept in their
    closure, and it is read from there. ``{}`` (anything) for a check of another kind: the tests fail
    on it, so a new kind of check gets its schema here.
    """
    if check is options.title:
        return {"type": "string", "maxLength": options.MAX_TITLE_CHARS, "pattern": "^[^\\n]*$",
                "description": "A title card's text, one line (empty: no title)."}
    if check is options.url:  # a readable subset of what the check takes (no IPv6, no odd host names)
        return {"type": "string", "format": "uri", "maxLength": options.MAX_URL_CHARS,
                "pattern": r"^https?://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,4})?([/?#][!-~]*)?$",
                "description": "An http or https URL, without credentials, where the job's events are POSTed."}
    made = inspect.getclosurevars(check).nonlocals
    maker = check.__qualname__.partition(".")[0]
    if maker == "choice":
        return {"type": "string", "enum": list(made["names"])}
    if maker == "integer":
        schema = {"type": "integer", "minimum": made["low"], "maximum": made["high"]}
        return {**schema, "multipleOf": 2} if made["even"] else schema
    if maker == "pattern":
        return {"type": "string", "description": f"Must be {made['what']}.",
                "anyOf": [{"enum": list(made["extra"])}, {"pattern": f"^(?:{made['regex'].pattern})$"}]}
    return {}


def options_schema(settings: Settings) -> dict[str, Any]:
    """The schema of a job's ``options``: every option of ``ttvd.options``, within this server's caps."""
    timing = [*options.BACKENDS["timing"], options.AUTO]
    properties = {name: option_schema(check) for name, check in options.CHECKS.items()}
    properties["captions"] = {
        "type": "string", "enum": [*options.CAPTION_PRESETS, *timing],
        "description": "The caption preset. A timing backend name here is the older spelling of `timing`."}
    # the caps of ttvd.guard.check_caps
    properties["height"]["maximum"] = min(properties["height"]["maximum"], settings.max_height)
    properties["fps"]["maximum"] = min(properties["fps"]["maximum"], settings.max_fps)
    properties["crf"]["minimum"] = max(properties["crf"]["minimum"], settings.min_crf)
    presets = options.X264_PRESETS
    properties["preset"]["enum"] = list(presets[:presets.index(settings.slowest_preset) + 1])
    return {"type": "object", "properties": properties, "additionalProperties": False,
            "description": "Each option overrides the setting of the same meaning (see docs/options.md); an "
                           "unknown option, a value out of range or over this server's caps is 400. An "
                           "integer may also be sent as its digits in a string.",
            # `captions` with a timing backend name and `timing` both name the caption timing: 400
            "not": {"required": ["captions", "timing"], "properties": {"captions": {"enum": timing}}}}


# -- schemas -----------------------------------------------------------------------------------------------

def _ref(name: str, kind: str = "schemas") -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _object(properties: dict[str, Any], required: tuple[str, ...] | None = None, closed: bool = True,
            **extra: Any) -> dict[str, Any]:
    """An object schema; every property required unless ``required`` says which; no other property
    unless not ``closed``."""
    schema = {"type": "object", "properties": properties,
              "required": list(properties if required is None else required), **extra}
    return {**schema, "additionalProperties": False} if closed else schema


def _schemas(settings: Settings) -> dict[str, Any]:
    string, integer, number = {"type": "string"}, {"type": "integer"}, {"type": "number"}
    seed = {"status": _ref("JobStatus"), "progress": {"type": "integer", "minimum": 0, "maximum": 100},
            "message": string, "created_at": {**integer, "description": "Unix time, seconds"},
            "logs": {"type": "array", "items": string}}
    summary = {**seed, "output_file": {**string, "description": "output/video_<id>.mp4, once the video exists"}}
    status = {"job_id": _ref("JobId"), **summary,
              "stage": {"type": ["string", "null"],
                        "description": "speech, captions, queries, footage, render, done; null before the first"},
              "error": {"type": ["string", "null"], "description": "Why the job failed"},
              "updated_at": {**number, "description": "Unix time, fractional"},
              "options": {"type": "object", "description": "The job's options as accepted (see JobOptions)"},
              "credits": {"type": "array", "items": {"type": "object"},
                          "description": "Each stock clip in the video, for attribution: "
                                         "{start, end, source, id, page, author, author_url}"},
              "links": _ref("Links")}
    counts = {"daemons": _object({"alive": integer, "known": integer}), "queued": integer,
              "processing": integer, "disk_free_bytes": integer}
    voice = _object({"id": string, "name": string, "language": string, "backend": string,
                     "offline": {"type": "boolean"}}, closed=False)
    return {
        "Error": _object({"error": string}, description="The body of every error answer"),
        "JobId": {"type": "string", "pattern": JOB_ID, "description": "A server-made id: uuid hex or canonical uuid"},
        "JobStatus": {"type": "string", "enum": [value.value for value in JobStatus]},
        "JobOptions": options_schema(settings),
        "GenerateRequest": _object(
            {"text": {"type": "string", "minLength": 1, "maxLength": settings.max_text_chars,
                      "description": "The text to narrate. It must hold a letter or a digit (else 400) and, "
                                     "stripped of blanks, be at most TTVD_MAX_TEXT_CHARS characters (else 413)."},
             "options": _ref("JobOptions")}, ("text",), closed=False),
        "JobAccepted": _object({"job_id": _ref("JobId"), "status": {"const": "queued"}, "message": string}),
        "JobAction": _object({"job_id": _ref("JobId"), "status": _ref("JobStatus"), "message": string}),
        "JobDeleted": _object({"job_id": _ref("JobId"), "deleted": {"const": True}, "message": string}),
        "Status": _object(status, tuple(name for name in status if name != "output_file"),
                          description="The API document's five fields first, then what a client can act on"),
        "JobSummary": _object(summary, tuple(seed)),
        "JobsListing": _object(
            {"jobs": {"type": "object", "propertyNames": {"pattern": JOB_ID},
                      "additionalProperties": _ref("JobSummary")},
             "next": {**string, "description": "A cursor: pass it as `cursor` for the next page"}}, ("jobs",)),
        "Links": _object({"status": string, "download": _object({fmt: string for fmt in DOWNLOADS}, ())},
                         ("status",)),
        "VoiceCatalogue": _object({"voices": {"type": "array", "items": voice}, "published_at": integer},
                                  closed=False, description="As the daemon published it when it started"),
        "Health": _object({"status": {"const": "ok"}, **counts}),
        "Unhealthy": _object({"status": {"const": "unhealthy"}, "error": string, **counts}),
        "OpenApi": {"type": "object", "description": "This document"},
    }


# -- answers -------------------------------------------------------------------------------------------

def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    answer = {"description": description, "content": {JSON: {"schema": _ref("Error")}}}
    return {**answer, "headers": headers} if headers else answer


def _json(description: str, schema: dict[str, Any], headers: dict[str, Any] | None = None) -> dict[str, Any]:
    answer = {"description": description, "content": {JSON: {"schema": schema}}}
    return {**answer, "headers": headers} if headers else answer


def _header(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "required": True, "schema": schema or {"type": "string"}}


def _responses() -> dict[str, Any]:
    return {
        "BadRequest": _error("The request is malformed: not JSON, a missing or blank text, an unknown option or "
                             "value, a value over a cap, a bad query parameter"),
        "Unauthorized": _error("No bearer token, or not one of TTVD_API_TOKENS",
                               {"WWW-Authenticate": _header('Bearer realm="ttvd"')}),
        "NotFound": _error("Job not found"),
        "Conflict": _error("The job is not in a state that allows this request"),
        "PayloadTooLarge": _error("The body is over TTVD_MAX_BODY_BYTES, or the text over TTVD_MAX_TEXT_CHARS"),
        "UnsupportedMediaType": _error("A POST body not sent as Content-Type: application/json"),
        "MisdirectedRequest": _error("A Host header the server does not answer for (TTVD_ALLOWED_HOSTS)"),
        "TooManyRequests": _error("Over the client's request rate (TTVD_RATE_LIMIT, TTVD_RATE_BURST), or, when "
                                  "queueing a job, the queue is full (TTVD_MAX_QUEUED)",
                                  {"Retry-After": _header("Seconds to wait", {"type": "integer"})}),
        "ServerError": _error("The server failed, e.g. a state file it cannot read"),
        "InsufficientStorage": _error("The server's disk is full; nothing was changed"),
    }


def _answers(own: dict[int, Any], shared: tuple[int, ...] = ()) -> dict[str, Any]:
    """An operation's responses: its ``own`` (by status code), the ``shared`` ones of components, and 500."""
    found = {code: _ref(SHARED[code], "responses") for code in (*shared, 500)} | own
    return {str(code): found[code] for code in sorted(found)}


def _guarded(paths: dict[str, Any], secured: bool) -> dict[str, Any]:
    """``paths`` with the guard's refusals added to each operation they apply to (see ``ttvd.guard``)."""
    for path, operations in paths.items():
        for method, operation in operations.items():
            codes = [421]
            if path in guard.OPEN_PATHS and method in ("get", "head"):
                operation["security"] = []
            else:
                codes += [429, 401] if secured else [429]
            if method == "post":
                codes.append(415)
            answers = operation["responses"]
            answers.update({str(code): _ref(SHARED[code], "responses") for code in codes if str(code) not in answers})
            operation["responses"] = dict(sorted(answers.items()))
    return paths


def _parameters() -> dict[str, Any]:
    return {"JobId": {"name": "job_id", "in": "path", "required": True, "schema": _ref("JobId"),
                      "description": "The job_id that POST /generate answered"}}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


# -- paths ---------------------------------------------------------------------------------------------

def _paths() -> dict[str, Any]:
    job_id = [_ref("JobId", "parameters")]
    action = _ref("JobAction")
    no_store = {"Cache-Control": _header("no-store", {"const": "no-store"})}
    return {
        f"{API}/generate": {"post": {
            "operationId": "generate", "summary": "Start a new video generation job",
            "requestBody": {"required": True, "content": {JSON: {"schema": _ref("GenerateRequest")}}},
            "responses": _answers({202: _json("Accepted: the job is queued", _ref("JobAccepted"))},
                                  (400, 413, 507))}},
        f"{API}/status/{{job_id}}": {"get": {
            "operationId": "getStatus", "summary": "A job's status",
            "parameters": job_id,
            "responses": _answers({200: _json("The job's status", _ref("Status"))}, (404,))}},
        f"{API}/jobs": {"get": {
            "operationId": "listJobs", "summary": "Every job and its status, by creation time",
            "parameters": [
                _query("status", _ref("JobStatus"), "Only jobs in this status"),
                _query("limit", {"type": "integer", "minimum": 1, "maximum": 10**9},
                       "At most this many jobs; the body has `next` when more remain"),
                _query("order", {"type": "string", "enum": list(ORDERS), "default": ORDERS[0]},
                       "By creation time, oldest or newest first"),
                _query("cursor", {"type": "string"},
                       "The `next` of the previous page, as it was given; another value is 400")],
            "responses": _answers({200: _json("The jobs by id", _ref("JobsListing"))}, (400,))}},
        f"{API}/download/{{job_id}}": _download(job_id),
        f"{API}/voices": {"get": {
            "operationId": "listVoices", "summary": "The voices a job may name",
            "responses": _answers({200: _json("The voice catalogue", _ref("VoiceCatalogue")),
                                   503: _error("No catalogue yet: no daemon has started")})}},
        f"{API}/health": {"get": {
            "operationId": "health", "summary": "For load balancers and monitors; never needs a token",
            "responses": _answers({200: _json("A daemon is alive and the disk has room", _ref("Health"), no_store),
                                   503: _json("Unhealthy: the error says why", _ref("Unhealthy"), no_store)})}},
        f"{API}/jobs/{{job_id}}/cancel": {"post": {
            "operationId": "cancelJob", "summary": "Stop a queued or running job for good",
            "parameters": job_id,
            "responses": _answers({200: _json("Cancelled at once (it was queued)", action),
                                   202: _json("Stopping: its daemon stops it within seconds", action)},
                                  (404, 409, 507))}},
        f"{API}/jobs/{{job_id}}/retry": {"post": {
            "operationId": "retryJob", "summary": "Queue a failed or cancelled job again, reusing its finished stages",
            "parameters": job_id,
            "responses": _answers({202: _json("Queued again", action)}, (404, 409, 507))}},
        f"{API}/jobs/{{job_id}}": {"delete": {
            "operationId": "deleteJob", "summary": "Cancel the job if it runs, then remove it and every file of it",
            "parameters": job_id,
            "responses": _answers({200: _json("Deleted", _ref("JobDeleted"))}, (404, 409, 507))}},
        PATH: {"get": {
            "operationId": "openapi", "summary": "This document",
            "responses": _answers({200: _json("The OpenAPI document", _ref("OpenApi"))})}},
    }


def _download(job_id: list[dict[str, Any]]) -> dict[str, Any]:
    validators = {"ETag": _header("Strong tag of the file"), "Last-Modified": _header("HTTP date")}
    sent = {**validators, "Accept-Ranges": _header("bytes", {"const": "bytes"}),
            "Content-Disposition": _header('attachment; filename="generated_video_<id>.<format>"')}
    files: dict[str, Any] = {media: {"schema": {}} for media in CONTENT_TYPES.values()}
    parts: dict[str, Any] = {media: {} for media in CONTENT_TYPES.values()}  # part of a JSON file is no JSON
    headers = (("Range", "One range: bytes=a-b, bytes=a- or bytes=-n"),
               ("If-None-Match", "304 when it names the file's ETag"),
               ("If-Modified-Since", "304 when the file is not newer"),
               ("If-Range", "The range is sent only if this is the file's ETag or date"))
    parameters = [*job_id, _query("format", {"type": "string", "enum": list(DOWNLOADS), "default": "mp4"},
                                  "mp4: the video; srt, vtt: its captions; json: its word timings"),
                  *({"name": name, "in": "header", "required": False, "schema": {"type": "string"},
                     "description": text} for name, text in headers)]
    answers = _answers({
        200: {"description": "The whole file, as an attachment", "headers": sent, "content": files},
        206: {"description": "The range asked for", "content": parts,
              "headers": {**sent, "Content-Range": _header("bytes a-b/size")}},
        304: {"description": "The client's copy is current",  # bottle drops Last-Modified from a 304
              "headers": {"ETag": validators["ETag"]}},
        416: _error("The range starts past the end of the file", {"Content-Range": _header("bytes */size")}),
        500: _error("The job is completed but its video file is missing")}, (400, 404))
    return {"get": {"operationId": "download", "summary": "Download the video, or its captions or word timings",
                    "parameters": parameters, "responses": answers},
            "head": {"operationId": "downloadHead", "summary": "The headers a GET would answer, without the body",
                     "parameters": parameters, "responses": dict(answers)}}
