"""What both stand-in servers share: a threaded HTTP server on 127.0.0.1, scripted faults, a request log.

A test scripts faults with ``POST /_standin/faults`` (``{"route": {"status": 429, "times": 2,
"retry_after": "0", "delay": 0, "pad": 0}}``; ``times`` -1 means always) and reads what the server saw
with ``GET /_standin/log``. The server checks the API key the way the real service does.

Like real services (and the proxies in front of OpenAI-compatible servers), every error body quotes the
key the client presented (``pad`` puts that many characters of prose before it). ``POST /_standin/echo``
(``{"header": true, "redirect": true}``) echoes it in odd places too: a response header on every answer,
and a first redirect of every request to its own URL with the key in the query string.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

ECHO_PARAM = "api_key"  # where a redirect echoes the key


class StandInHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "standin/1"
    routes: dict[tuple[str, str], str] = {}   # (method, path prefix) -> handler method name
    echo_headers: dict[str, str]

    def log_message(self, fmt, *args):  # quiet: the test output stays readable
        pass

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        self.query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length else b""
        self.echo_headers = {}
        if url.path == "/_standin/faults" and method == "POST":
            with self.server.lock:
                self.server.faults.update(json.loads(self.body or b"{}"))
            return self.send_json(200, {"ok": True})
        if url.path == "/_standin/echo" and method == "POST":
            with self.server.lock:
                self.server.echo.update(json.loads(self.body or b"{}"))
            return self.send_json(200, {"ok": True})
        if url.path == "/_standin/log":
            with self.server.lock:
                return self.send_json(200, {"requests": self.server.requests, "extra": self.server.extra})
        for (route_method, prefix), name in self.routes.items():
            if method == route_method and url.path.startswith(prefix):
                route = name
                break
        else:
            return self.send_json(404, {"error": "not found"})
        with self.server.lock:
            echo = dict(self.server.echo)
        if echo.get("header"):
            self.echo_headers = {"X-Received-Authorization": self.headers.get("Authorization", "")}
        if echo.get("redirect") and self.needs_key(route) and ECHO_PARAM not in self.query:
            joiner = "&" if url.query else "?"
            return self.send_json(307, {"error": "moved"},
                                  {"Location": f"{self.path}{joiner}{ECHO_PARAM}={quote(self.presented_key())}"})
        authorised = self.authorised()
        with self.server.lock:
            self.server.requests.append({"route": route, "path": url.path, "query": self.query,
                                         "authorised": authorised})
            fault = self.server.faults.get(route)
            if fault and fault.get("times", 0) != 0:
                fault["times"] -= 1 if fault["times"] > 0 else 0
            else:
                fault = None
        if fault:
            time.sleep(fault.get("delay", 0))
            if fault.get("status"):
                headers = {"Retry-After": fault["retry_after"]} if "retry_after" in fault else {}
                return self.send_json(fault["status"], self.error_body(fault["status"], fault.get("pad", 0)),
                                      headers)
        if not authorised and self.needs_key(route):
            return self.send_json(401, self.error_body(401, 0))
        getattr(self, route)(url.path)

    # -- to be specialised --------------------------------------------------------------------------
    def authorised(self) -> bool:
        return True

    def needs_key(self, route: str) -> bool:
        return True

    def presented_key(self) -> str:
        """The key the client sent, as the service reads it from the request."""
        return self.headers.get("Authorization", "")

    def error_body(self, status: int, pad: int) -> dict:
        return {"error": f"HTTP {status}; {prose(pad)}key: {self.presented_key()}"}

    # -- answering ----------------------------------------------------------------------------------
    def send_json(self, status: int, body, headers: dict | None = None) -> None:
        self.send_bytes(status, json.dumps(body).encode(), "application/json", headers)

    def send_bytes(self, status: int, data: bytes, content_type: str, headers: dict | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in {**self.echo_headers, **(headers or {})}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test): nothing to answer


def prose(length: int) -> str:
    """``length`` characters of an error message's explanation, to push a quoted key further into a body."""
    words = "The request could not be completed because the credentials did not match what was expected. "
    return (words * (length // len(words) + 1))[:length]


def serve(handler: type[StandInHandler], port: int, **state) -> None:
    """Serve ``handler`` on 127.0.0.1:``port`` until killed."""
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    server.lock = threading.Lock()
    server.faults, server.requests, server.extra, server.echo = {}, [], {}, {}
    for name, value in state.items():
        setattr(server, name, value)
    server.serve_forever()
