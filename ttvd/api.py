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
import threading

import bottle
import waitress
from waitress.channel import HTTPChannel
from waitress.task import ErrorTask

from ttvd import answers, api_jobs, options
from ttvd.answers import NO_TEXT, ApiError, json_response, read_json, state_or_404
from ttvd.config import Settings
from ttvd.home import NOT_FOUND
from ttvd.job import JobStatus
from ttvd.notify import Notifier
from ttvd.spool import Spool
from ttvd.text import clean_text

log = logging.getLogger(__name__)

NO_VOICES = "No voice catalogue yet: a daemon publishes one when it starts (`ttvd daemon`)"
CHUNK = 256 * 1024


def create_app(settings: Settings, spool: Spool) -> bottle.Bottle:
    """A WSGI app serving the API over ``spool``."""
    app = bottle.Bottle(catchall=True)
    app.config["json.enable"] = False
    app.config["ttvd.settings"] = settings

    def route(path: str, method: str = "GET"):
        return answers.route(app, path, method)

    @route("/api/v1/generate", "POST")
    def generate():
        body = read_json(settings.max_body_bytes)
        text = body.get("text")
        if text is None or (isinstance(text, str) and not text.strip()):
            raise ApiError(400, NO_TEXT)
        if not isinstance(text, str):
            raise ApiError(400, "Field 'text' must be a string")
        checked = options.validate(body.get("options", {}))
        state = spool.submit(clean_text(text, settings.max_text_chars), "api", checked)
        return json_response(202, {"job_id": state.job_id, "status": "queued", "message": "Video generation started"})

    @route("/api/v1/status/<job_id:path>")
    def status(job_id: str):
        return json_response(200, state_or_404(spool, job_id).status_view())

    listing = JobsListing(spool)

    @route("/api/v1/jobs")
    def jobs():
        query = bottle.request.query
        status = query.get("status")
        if status is not None and status not in {s.value for s in JobStatus}:
            raise ApiError(400, f"status must be one of: {', '.join(s.value for s in JobStatus)}")
        limit = query.get("limit")
        if limit is not None:
            if not (limit.isascii() and limit.isdigit() and 0 < int(limit) <= 10**9):
                raise ApiError(400, "limit must be a positive integer")
            limit = int(limit)
        return bottle.HTTPResponse(listing.body(status, limit), status=200,
                                   headers={"Content-Type": "application/json"})

    @route("/api/v1/download/<job_id:path>")
    def download(job_id: str):
        state = state_or_404(spool, job_id)
        if state.status is not JobStatus.COMPLETED:
            raise ApiError(400, "Video not ready for download")
        return _send_video(spool, job_id)

    @route("/api/v1/voices")
    def voices():
        try:  # written atomically by the daemon at start (ttvd.voices.publish): always whole
            catalogue = spool.home.voices.read_bytes()
        except FileNotFoundError:
            raise ApiError(503, NO_VOICES) from None
        return bottle.HTTPResponse(catalogue, status=200, headers={"Content-Type": "application/json"})

    api_jobs.register(app, settings, spool)
    for code in (400, 404, 405, 413, 500):
        app.error(code)(_error_page)
    return app


class JobsListing:
    """The body of ``GET /jobs``, rereading only the states that changed since the last request.

    Each job's JSON is cached under its state file's identity (inode, mtime, size). States are
    replaced whole, never edited in place, so a new version always has a new identity; the file is
    statted before it is read, so a cached entry is never newer than its key claims.
    """

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self._cache: dict[str, tuple[tuple[int, int, int], int, str, str]] = {}
        self._lock = threading.Lock()

    def body(self, status: str | None = None, limit: int | None = None) -> bytes:
        """``{"jobs": {id: view}}`` oldest first, optionally only ``status``, at most ``limit`` jobs."""
        with self._lock:
            entries = []
            seen = set()
            for job_id, info in self.spool.state_files():
                seen.add(job_id)
                entry = self._entry(job_id, (info.st_ino, info.st_mtime_ns, info.st_size))
                if entry is not None:
                    entries.append(entry)
            for job_id in self._cache.keys() - seen:
                del self._cache[job_id]
        entries.sort(key=lambda e: (e[1], e[0]))
        fragments = [e[3] for e in entries if status is None or e[2] == status]
        if limit is not None:
            fragments = fragments[:limit]
        return ('{"jobs": {' + ", ".join(fragments) + "}}").encode("utf-8")

    def _entry(self, job_id: str, key: tuple[int, int, int]):
        cached = self._cache.get(job_id)
        if cached is not None and cached[0] == key:
            return (job_id, *cached[1:])
        try:
            state = self.spool.read_state(job_id)
        except (ValueError, TypeError) as exc:
            log.error("job %s: its state file cannot be read: %s", job_id, exc)
            return None
        if state is None:
            return None
        fragment = f"{json.dumps(job_id)}: {json.dumps(state.jobs_view(), ensure_ascii=False)}"
        self._cache[job_id] = (key, state.created_at, state.status.value, fragment)
        return job_id, state.created_at, state.status.value, fragment


def _send_video(spool: Spool, job_id: str) -> bottle.HTTPResponse:
    path = spool.home.job(job_id).video
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


def _error_page(error: bottle.HTTPError) -> str:
    """Bottle's own errors (unknown route, wrong method, crash) as JSON instead of HTML."""
    messages = {404: "Not found", 405: "Method not allowed", 413: "Request body too large"}
    message = messages.get(error.status_code, "Internal server error")
    if error.status_code == 404 and bottle.request.environ.get("PATH_INFO", "").startswith(
            ("/api/v1/status/", "/api/v1/download/")):
        message = NOT_FOUND  # an id that is not even text (bad UTF-8) is still just an unknown job
    if error.status_code >= 500:
        log.error("unhandled error: %s", error.exception or error.body)
    bottle.response.content_type = "application/json"
    return json.dumps({"error": message})


def serve(settings: Settings, spool: Spool, host: str, port: int) -> None:
    """Serve the API with waitress (a production WSGI server) until interrupted."""
    spool.ensure()
    # waitress enforces the body limit from Content-Length (or while reading a chunked body) before
    # the body is read; its own refusals are answered with our JSON error body.
    server = waitress.create_server(create_app(settings, spool), host=host, port=port, threads=settings.threads,
                                    max_request_body_size=settings.max_body_bytes, ident="ttvd",
                                    clear_untrusted_proxy_headers=True)
    server.channel_class = _json_error_channel()
    signal.signal(signal.SIGTERM, _exit_cleanly)
    log.info("serving the API on http://%s:%d/api/v1 (home %s)", host, port, spool.home.root)
    notifier = Notifier.from_environ()  # the socket is bound: tell systemd (Type=notify) we are ready
    notifier.send("READY=1", f"STATUS=Serving http://{host}:{port}/api/v1")
    try:
        server.run()
    except SystemExit:
        log.info("API stopped")
    finally:
        notifier.send("STOPPING=1")  # waitress returns from run() on SIGTERM rather than raising
        server.close()


def _json_error_channel():
    """A waitress channel whose error responses (413, 400, 431...) carry ``{"error": "..."}``."""
    class JsonErrorTask(ErrorTask):
        def execute(self) -> None:
            error = self.request.error
            message = ("Request body too large" if error.code == 413 else error.reason) + f": {error.body}"
            body = json.dumps({"error": message}).encode("utf-8")
            self.status = f"{error.code} {error.reason}"
            self.response_headers.append(("Content-Type", "application/json"))
            self.set_close_on_finish()
            self.content_length = len(body)
            self.write(body)

    class JsonErrorChannel(HTTPChannel):
        error_task_class = JsonErrorTask

    return JsonErrorChannel


def _exit_cleanly(signum, frame) -> None:
    """SIGTERM ends the server loop like Ctrl-C does, with exit status 0."""
    raise SystemExit(0)
