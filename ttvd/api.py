"""The HTTP facade: the endpoints of the API document and their additions, reading and writing the spool only.

This module builds the app, takes new jobs (``POST /generate``) and serves it; the read endpoints are in
``ttvd.api_reads``. Every error body is ``{"error": "..."}``; no request produces an HTML page or a traceback.
"""
from __future__ import annotations

import json
import logging
import resource
import signal
import time

import bottle
import waitress
from waitress.channel import HTTPChannel
from waitress.task import ErrorTask

from ttvd import answers, api_jobs, api_reads, api_web, guard, openapi, options
from ttvd.answers import NO_TEXT, ApiError, json_response, read_json
from ttvd.config import Settings
from ttvd.home import NOT_FOUND
from ttvd.notify import Notifier
from ttvd.spool import Spool
from ttvd.text import clean_text

log = logging.getLogger(__name__)


def create_app(settings: Settings, spool: Spool, host: str | None = None) -> guard.Guard:
    """A WSGI app serving the API over ``spool`` behind its guard (``host``: the bound address, for
    the Host check; default ``TTVD_HOST``)."""
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
        guard.check_caps(checked, settings)
        state = spool.submit(clean_text(text, settings.max_text_chars), "api", checked)
        return json_response(202, {"job_id": state.job_id, "status": "queued", "message": "Video generation started"})

    api_reads.register(app, settings, spool)
    api_jobs.register(app, settings, spool)
    openapi.register(app, settings, spool)
    api_web.register(app, settings, spool)
    for code in (400, 404, 405, 413, 500):
        app.error(code)(_error_page)
    return guard.Guard(app, settings, spool, host)


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


def serve(settings: Settings, spool: Spool, host: str, port: int, insecure: bool = False) -> None:
    """Serve the API with waitress (a production WSGI server) until interrupted.

    ConfigError for a non-loopback ``host`` without ``TTVD_API_TOKENS``, unless ``insecure``."""
    guard.check_exposure(host, settings.api_tokens, insecure)
    spool.ensure()
    # waitress enforces the body limit from Content-Length (or while reading a chunked body) before
    # the body is read; its own refusals are answered with our JSON error body. Slow clients cannot
    # hold every connection: a request must arrive within TTVD_REQUEST_TIMEOUT (the channel below),
    # an idle kept-alive connection is closed after a minute, and there is room for many connections.
    server = waitress.create_server(create_app(settings, spool, host), host=host, port=port, threads=settings.threads,
                                    max_request_body_size=settings.max_body_bytes, ident="ttvd",
                                    clear_untrusted_proxy_headers=True, connection_limit=_connection_limit(),
                                    channel_timeout=60, cleanup_interval=5)
    server.channel_class = _json_error_channel(settings.request_timeout)
    signal.signal(signal.SIGTERM, _exit_cleanly)
    log.info("serving the API on http://%s:%d/api/v1 (home %s; %s)", host, port, spool.home.root,
             f"{len(settings.api_tokens)} bearer token(s) accepted" if settings.api_tokens else "no authentication")
    notifier = Notifier.from_environ()  # the socket is bound: tell systemd (Type=notify) we are ready
    notifier.send("READY=1", f"STATUS=Serving http://{host}:{port}/api/v1")
    try:
        server.run()
    except SystemExit:
        log.info("API stopped")
    finally:
        notifier.send("STOPPING=1")  # waitress returns from run() on SIGTERM rather than raising
        server.close()


def _connection_limit(wanted: int = 1000, spare: int = 200) -> int:
    """How many connections waitress may hold: ``wanted``, raising the soft limit on open files
    toward its hard limit to make room (``spare`` files kept for the spool); fewer if it cannot."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted + spare:
        raised = wanted + spare if hard == resource.RLIM_INFINITY else min(wanted + spare, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        except (ValueError, OSError):
            pass
    # waitress keeps accepting until the limit; past the open-file limit accept() would fail in a loop
    return wanted if soft == resource.RLIM_INFINITY else max(10, min(wanted, soft - spare))


def _json_error_channel(request_timeout: float):
    """A waitress channel whose error responses (413, 400, 431...) carry ``{"error": "..."}`` and
    that closes its connection when a request takes over ``request_timeout`` seconds to arrive."""
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
        """The clock of a request runs from the connection's opening (its first request) or from its
        first byte (later requests on a kept-alive connection) until it has arrived whole. waitress
        only times out silence, so a client trickling a byte every few seconds would hold its
        connection for ever; enough of them fill the connection limit and nobody else is answered."""
        error_task_class = JsonErrorTask

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.arriving_since: float | None = time.monotonic()

        def received(self, data: bytes) -> bool:
            # called on the server's loop thread only, like readable() below
            before = self.request
            if self.arriving_since is None and data:
                self.arriving_since = time.monotonic()
            result = super().received(data)
            if self.request is None:  # every request in ``data`` arrived whole
                self.arriving_since = None
            elif self.request is not before:  # one arrived whole and the next one began
                self.arriving_since = time.monotonic()
            return result

        def readable(self) -> bool:
            # asked on every turn of the server loop (at least once a second)
            if (self.arriving_since is not None and not self.requests
                    and time.monotonic() - self.arriving_since > request_timeout):
                log.info("closed a connection from %s: its request did not arrive within %g s "
                         "(TTVD_REQUEST_TIMEOUT)", self.addr[0] if self.addr else "?", request_timeout)
                self.arriving_since = None
                self.will_close = True
                return False
            return super().readable()

    return JsonErrorChannel


def _exit_cleanly(signum, frame) -> None:
    """SIGTERM ends the server loop like Ctrl-C does, with exit status 0."""
    raise SystemExit(0)
