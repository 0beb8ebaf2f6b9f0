"""The HTTP facade: exactly the endpoints of the API document, reading and writing the spool only.

Every error body is ``{"error": "..."}``; no request produces an HTML page or a traceback.
"""
from __future__ import annotations

import errno
import json
import logging
import os
import signal
import stat
from typing import Any

import bottle

from ttvd.config import Settings
from ttvd.errors import InputError, NoSpaceError
from ttvd.job import JobStatus, is_valid_id
from ttvd.notify import Notifier
from ttvd.spool import Spool
from ttvd.text import clean_text

log = logging.getLogger(__name__)

NO_TEXT = "No text provided in request body"
NOT_FOUND = "Job not found"
CHUNK = 256 * 1024


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def create_app(settings: Settings, spool: Spool) -> bottle.Bottle:
    """A WSGI app serving the API over ``spool``."""
    app = bottle.Bottle(catchall=True, autojson=False)
    app.config["ttvd.settings"] = settings

    def route(path: str, method: str = "GET"):
        def register(handler):
            def wrapper(**kwargs):
                try:
                    return handler(**kwargs)
                except ApiError as exc:
                    return _json(exc.status, {"error": str(exc)})
                except NoSpaceError:
                    return _json(507, {"error": "Insufficient storage: the server's disk is full; try again later"})
                except OSError as exc:
                    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                        return _json(507, {"error": "Insufficient storage: the server's disk is full; try again later"})
                    log.exception("%s %s failed", method, path)
                    return _json(500, {"error": f"Server error: {exc.strerror or exc}"})
            app.route(path, method, wrapper)
            return handler
        return register

    @route("/api/v1/generate", "POST")
    def generate():
        body = _read_json(settings.max_body_bytes)
        text = body.get("text")
        if text is None or (isinstance(text, str) and not text.strip()):
            raise ApiError(400, NO_TEXT)
        if not isinstance(text, str):
            raise ApiError(400, "Field 'text' must be a string")
        options = body.get("options", {})
        if not isinstance(options, dict):
            raise ApiError(400, "Field 'options' must be an object")
        try:
            text = clean_text(text, settings.max_text_chars)
        except InputError as exc:
            raise ApiError(413 if "limit" in str(exc) else 400, str(exc) if str(exc) != "No text provided"
                           else NO_TEXT) from None
        state = spool.submit(text, "api", options)
        return _json(202, {"job_id": state.job_id, "status": "queued", "message": "Video generation started"})

    @route("/api/v1/status/<job_id:path>")
    def status(job_id: str):
        return _json(200, _state_or_404(spool, job_id).status_view())

    @route("/api/v1/jobs")
    def jobs():
        return _json(200, {"jobs": {s.job_id: s.jobs_view() for s in spool.states()}})

    @route("/api/v1/download/<job_id:path>")
    def download(job_id: str):
        state = _state_or_404(spool, job_id)
        if state.status is not JobStatus.COMPLETED:
            raise ApiError(400, "Video not ready for download")
        return _send_video(spool, job_id)

    for code in (400, 404, 405, 413, 500):
        app.error(code)(_error_page)
    return app


def _state_or_404(spool: Spool, job_id: str):
    state = spool.read_state(job_id) if is_valid_id(job_id) else None
    if state is None:
        raise ApiError(404, NOT_FOUND)
    return state


def _read_json(limit: int) -> dict[str, Any]:
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
    return body


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate keys in object")
    return dict(pairs)


def _send_video(spool: Spool, job_id: str):
    path = spool.output_path(job_id)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ELOOP):
            raise ApiError(500, "Video file not found") from None
        raise ApiError(500, f"Error sending file: {exc.strerror}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise ApiError(500, "Video file not found")
    handle = os.fdopen(fd, "rb")
    response = bottle.HTTPResponse(status=200)
    response.content_type = "video/mp4"
    response.set_header("Content-Length", str(info.st_size))
    response.set_header("Content-Disposition", f'attachment; filename="generated_video_{job_id}.mp4"')
    file_wrapper = bottle.request.environ.get("wsgi.file_wrapper")
    response.body = file_wrapper(handle, CHUNK) if file_wrapper else iter(lambda: handle.read(CHUNK), b"")
    return response


def _json(status: int, body: dict[str, Any]) -> bottle.HTTPResponse:
    return bottle.HTTPResponse(json.dumps(body, ensure_ascii=False), status=status,
                               headers={"Content-Type": "application/json"})


def _error_page(error: bottle.HTTPError) -> str:
    """Bottle's own errors (unknown route, wrong method, crash) as JSON instead of HTML."""
    messages = {404: "Not found", 405: "Method not allowed", 413: "Request body too large"}
    message = messages.get(error.status_code, "Internal server error")
    if error.status_code >= 500:
        log.error("unhandled error: %s", error.exception or error.body)
    bottle.response.content_type = "application/json"
    return json.dumps({"error": message})


def serve(settings: Settings, spool: Spool, host: str, port: int) -> None:
    """Serve the API with waitress (a production WSGI server) until interrupted."""
    import waitress

    spool.ensure()
    server = waitress.create_server(create_app(settings, spool), host=host, port=port, threads=settings.threads,
                                    max_request_body_size=settings.max_body_bytes + 65536, ident="ttvd",
                                    clear_untrusted_proxy_headers=True)
    signal.signal(signal.SIGTERM, _exit_cleanly)
    log.info("serving the API on http://%s:%d/api/v1 (home %s)", host, port, spool.home)
    notifier = Notifier.from_environ()  # the socket is bound: tell systemd (Type=notify) we are ready
    notifier.send("READY=1", f"STATUS=Serving http://{host}:{port}/api/v1")
    try:
        server.run()
    except SystemExit:
        notifier.send("STOPPING=1")
        log.info("API stopped")
    finally:
        server.close()


def _exit_cleanly(signum, frame) -> None:
    """SIGTERM ends the server loop like Ctrl-C does, with exit status 0."""
    raise SystemExit(0)
