"""Who may use the HTTP API, and what one request may cost.

``Guard`` is WSGI middleware in front of every route. It answers, in this order: a Host header the
server does not answer for (421, against DNS rebinding), a client over its rate (429), a missing or
wrong bearer token (401), a POST body that is not JSON (415), a submission to a full queue (429);
then the route runs, and the generate route holds a job's options to the caps (``check_caps``, 400).
Each request gets one access-log line under ``ttvd.access``. ``check_exposure`` keeps ``ttvd serve``
off public addresses without tokens. Tokens are compared in constant time and never logged.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import math
import os
import re
import threading
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping
from http import HTTPStatus
from typing import Any
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from ttvd import options
from ttvd.answers import ApiError
from ttvd.config import Settings
from ttvd.errors import ConfigError
from ttvd.spool import Spool

log = logging.getLogger(__name__)
access_log = logging.getLogger("ttvd.access")

# Answered without a token and outside the rate limit: health, and the web page's own files (it holds no
# data; every call it makes carries the token the user gives it).
OPEN_PATHS = frozenset({"/api/v1/health", "/"})
OPEN_PREFIXES = ("/ui/",)
# Requests that put a job in the queue, refused while the queue is full.
QUEUEING = re.compile(r"/api/v1/(generate|jobs/[^/]+/retry)")
QUEUE_RETRY_AFTER = 30  # seconds: about one short job; the queue drains one job at a time per worker
WILDCARDS = frozenset({"", "0.0.0.0", "::", "*"})
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="ttvd"'}
# Query parameters whose values never reach the log.
SECRET_PARAMETER = re.compile(r"token|key|secret|pass|auth|sig|session|cred|code", re.IGNORECASE)
LOGGED_CHARS = 300


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and addresses in 127.0.0.0/8 or ``::1`` (brackets and a trailing dot allowed)."""
    name = host.strip().strip("[]").lower().rstrip(".")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, tokens: tuple[str, ...], insecure: bool) -> None:
    """ConfigError when ``host`` is not loopback and no token guards the API, unless ``insecure``."""
    if tokens or is_loopback(host):
        return
    if not insecure:
        raise ConfigError(
            f"refusing to serve the API on {host or 'every address'} without authentication: anyone who can "
            "reach it could queue jobs and download every video. Set TTVD_API_TOKENS, bind a loopback "
            "address (--host 127.0.0.1), or pass --insecure when something else guards it.")
    log.warning("INSECURE: serving the API on %s WITHOUT authentication (--insecure): anyone who can reach "
                "this address can queue jobs and download every video; set TTVD_API_TOKENS", host)


class Tokens:
    """The accepted bearer tokens, kept as SHA-256 digests."""

    def __init__(self, tokens: Iterable[str]) -> None:
        self._digests = [hashlib.sha256(token.encode("utf-8")).digest() for token in tokens]

    def __bool__(self) -> bool:
        return bool(self._digests)

    def match(self, authorization: str | None) -> int | None:
        """The 1-based number of the token an ``Authorization: Bearer <token>`` value carries, else None.

        The presented value is hashed and compared with every token by ``hmac.compare_digest``, so the
        time taken tells neither how much of a token was right, nor its length, nor which one matched.
        """
        scheme, _, value = (authorization or "").strip().partition(" ")
        # WSGI carries header bytes in a latin-1 str; an in-process caller may pass anything.
        presented = hashlib.sha256(value.strip().encode("latin-1", "replace")).digest()
        found = None
        for number, digest in enumerate(self._digests, 1):
            if hmac.compare_digest(presented, digest):
                found = number
        return found if scheme.lower() == "bearer" and value.strip() else None


class Hosts:
    """The names the API answers for (the Host header): loopback, the bound address, ``TTVD_ALLOWED_HOSTS``."""

    def __init__(self, bound: str, allowed: Iterable[str]) -> None:
        names = {_host_name(name) for name in allowed}
        if bound.strip() not in WILDCARDS:
            names.add(_host_name(bound))
        self.names = frozenset(names)

    def allows(self, header: str | None) -> bool:
        """True for a request without Host (no browser sends one) or with one of the allowed names."""
        if not header:
            return True
        name = _host_name(header)
        return name in self.names or is_loopback(name)


def _host_name(value: str) -> str:
    """``value`` (a Host header or a setting) without port, brackets or trailing dot, lower case."""
    value = value.strip().lower()
    if value.startswith("["):
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:
        value = value.partition(":")[0]
    return value.rstrip(".")


class RateLimiter:
    """A token bucket per client: ``burst`` requests at once, refilled at ``rate`` a second; 0 is no limit.

    Thread-safe. At most ``max_clients`` buckets are kept: over that, idle buckets (full again, so
    the same as none) are dropped first, then the least recently seen, down to half.
    """

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic,
                 max_clients: int = 10_000) -> None:
        self.rate, self.burst, self.clock, self.max_clients = rate, burst, clock, max_clients
        self._buckets: OrderedDict[Hashable, tuple[float, float]] = OrderedDict()  # client -> (tokens, at)
        self._lock = threading.Lock()

    def wait(self, client: Hashable) -> float:
        """0 when ``client`` may make a request now (it is counted), else the seconds until it may."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            now = self.clock()
            tokens, at = self._buckets.pop(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
            self._buckets[client] = (tokens - 1 if wait == 0 else tokens, now)
            if len(self._buckets) > self.max_clients:
                self._evict(now)
            return wait

    def __len__(self) -> int:
        return len(self._buckets)

    def _evict(self, now: float) -> None:
        idle = [client for client, (tokens, at) in self._buckets.items()
                if tokens + (now - at) * self.rate >= self.burst]
        for client in idle:
            del self._buckets[client]
        while len(self._buckets) > self.max_clients // 2:
            self._buckets.popitem(last=False)


def queue_is_full(spool: Spool, limit: int) -> bool:
    """True when ``limit`` or more requests wait in ``spool/incoming/`` (counted up to ``limit`` only)."""
    count = 0
    try:
        with os.scandir(spool.home.queue("incoming")) as entries:
            for entry in entries:
                count += entry.name.endswith(".json")
                if count >= limit:
                    return True
    except FileNotFoundError:
        pass
    return False


def check_caps(chosen: Mapping[str, Any], settings: Settings) -> None:
    """ConfigError (a 400) naming every cap the checked job options ``chosen`` go over, and its setting."""
    over = []
    if chosen.get("height", 0) > settings.max_height:
        over.append(f"height {chosen['height']} is over the cap of {settings.max_height} (TTVD_MAX_HEIGHT)")
    if chosen.get("fps", 0) > settings.max_fps:
        over.append(f"fps {chosen['fps']} is over the cap of {settings.max_fps} (TTVD_MAX_FPS)")
    preset = chosen.get("preset")
    if preset is not None and options.X264_PRESETS.index(preset) > options.X264_PRESETS.index(
            settings.slowest_preset):
        over.append(f"preset {preset} is slower than the cap of {settings.slowest_preset} (TTVD_SLOWEST_PRESET)")
    if chosen.get("crf", settings.min_crf) < settings.min_crf:
        over.append(f"crf {chosen['crf']} is under the cap of {settings.min_crf} (TTVD_MIN_CRF)")
    if over:
        raise ConfigError("; ".join(over))


class Guard:
    """The API behind its checks (see the module's docstring), logging one line per request."""

    def __init__(self, app: WSGIApplication, settings: Settings, spool: Spool, host: str | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app, self.settings, self.spool = app, settings, spool
        self.tokens = Tokens(settings.api_tokens)
        self.hosts = Hosts(settings.host if host is None else host, settings.allowed_hosts)
        self.limiter = RateLimiter(settings.rate_limit, settings.rate_burst, clock)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        statuses: list[str] = []

        def recording(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            statuses.append(status)
            return start_response(status, headers, exc_info)

        token = self.tokens.match(environ.get("HTTP_AUTHORIZATION")) if self.tokens else None
        try:
            refusal = self._refusal(environ, token)
            if refusal is not None:
                return _answer(refusal, recording)
            return self.app(environ, recording)
        finally:
            _log_access(environ, statuses[-1] if statuses else "500", started, token)

    def _refusal(self, environ: WSGIEnvironment, token: int | None) -> ApiError | None:
        """Why this request is refused before it reaches a route, or None."""
        method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "")
        host = environ.get("HTTP_HOST")
        if not self.hosts.allows(host):
            return ApiError(421, f"This server does not answer for host {_shown(host or '')}; if it should, "
                                 "add the name to TTVD_ALLOWED_HOSTS")
        if (path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)) and method in ("GET", "HEAD"):
            return None
        wait = self.limiter.wait(("token", token) if token else ("address", environ.get("REMOTE_ADDR", "")))
        if wait:
            return ApiError(429, f"Too many requests: over {self.settings.rate_limit:g} a second "
                                 f"(TTVD_RATE_LIMIT); try again in {math.ceil(wait)} s",
                            {"Retry-After": str(math.ceil(wait))})
        if self.tokens and token is None:
            return ApiError(401, "Authentication required: send the header Authorization: Bearer <token> "
                                 "with one of the tokens of TTVD_API_TOKENS", CHALLENGE)
        if method == "POST" and not _json_or_empty(environ):
            return ApiError(415, "Request body must be JSON: send it with Content-Type: application/json "
                                 f"(got {_shown(environ.get('CONTENT_TYPE', ''))})")
        if method == "POST" and QUEUEING.fullmatch(path) and queue_is_full(self.spool, self.settings.max_queued):
            return ApiError(429, f"The queue is full: {self.settings.max_queued} jobs are waiting "
                                 f"(TTVD_MAX_QUEUED); try again later", {"Retry-After": str(QUEUE_RETRY_AFTER)})
        return None


def _json_or_empty(environ: WSGIEnvironment) -> bool:
    """True for a JSON body (``application/json``, any parameters), and for no body with no type."""
    media_type = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
    if media_type:
        return media_type == "application/json"
    length = environ.get("CONTENT_LENGTH", "")
    return not (length.strip() not in ("", "0") or environ.get("HTTP_TRANSFER_ENCODING"))


def _answer(error: ApiError, start_response: StartResponse) -> list[bytes]:
    body = json.dumps({"error": str(error)}).encode("utf-8")
    start_response(f"{error.status} {HTTPStatus(error.status).phrase}",
                   [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                    *error.headers.items()])
    return [body]


def _shown(value: str) -> str:
    """A client's header value, quoted and cut short, for a message."""
    return repr(value[:100]) if value else "none"


def _log_access(environ: WSGIEnvironment, status: str, started: float, token: int | None) -> None:
    """``METHOD /path?query STATUS 1.2 ms ADDRESS [token N]``: secret query values hidden, never a token."""
    client = environ.get("REMOTE_ADDR") or "-"
    if token:
        client += f" token {token}"
    access_log.info("%s %s %s %.1f ms %s", _printable(environ.get("REQUEST_METHOD", "-"))[:20],
                    _logged_target(environ), status.partition(" ")[0], (time.perf_counter() - started) * 1000,
                    client)


def _logged_target(environ: WSGIEnvironment) -> str:
    """The path and query, percent-encoded (no control characters reach the log), secret values hidden."""
    path = urllib.parse.quote(environ.get("PATH_INFO", "").encode("latin-1", "replace"), safe="/:@!$&'()*+,;=")
    query = environ.get("QUERY_STRING", "")
    if query:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        path += "?" + urllib.parse.urlencode([(name, "hidden" if SECRET_PARAMETER.search(name) else value)
                                              for name, value in pairs])
    return path if len(path) <= LOGGED_CHARS else path[:LOGGED_CHARS] + "..."


def _printable(text: str) -> str:
    return "".join(char if char.isprintable() and char != " " else "?" for char in text)
