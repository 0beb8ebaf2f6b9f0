"""What every online backend shares: its retry policy, the HTTP status classifier, key scrubbing.

Vendor errors become one of three ttvd errors (``ttvd.errors``) at the backend's edge:

- ``KeyRejected`` (401/403): the job fails at that stage; the user must fix the key.
- ``ServiceUnavailable`` (429, 5xx, timeouts, no connection; after the retries): the stage falls
  back to its offline source with a log line.
- ``ServiceError``: any other answer a user can act on (an unknown model, a refused request).
"""
from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ttvd.config import Settings
from ttvd.errors import KeyRejected, ServiceError, ServiceUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")
_KEYLIKE = re.compile(r"\b(sk-[A-Za-z0-9_*\-]{4,}|[A-Za-z0-9]{40,})")
# The HTTP libraries log whole URLs (httpx at INFO, urllib3 at DEBUG) and response headers (httpcore at
# DEBUG): a service that echoes the key in a redirect's URL or in a header would put it in ttvd's log.
TRANSPORT_LOGGERS = ("httpx", "httpx2", "httpcore", "httpcore2", "urllib3", "openai")


class Retryable(Exception):
    """Raised inside an attempt: worth trying again (after ``retry_after`` seconds if the service said so)."""

    def __init__(self, reason: str, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.status = status


@dataclass
class RetryPolicy:
    retries: int = 3
    backoff: float = 1.0
    max_wait: float = 60.0
    sleep: Callable[[float], None] = time.sleep

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(settings.http_retries, settings.retry_backoff, settings.retry_max_wait)

    def wait(self, attempt: int, retry_after: float | None) -> float:
        """Seconds before retry number ``attempt + 1``: what the service asked for, else exponential."""
        wanted = retry_after if retry_after is not None else self.backoff * 2 ** attempt
        return max(0.0, min(wanted, self.max_wait))

    def call(self, service: str, what: str, attempt_once: Callable[[], T]) -> T:
        """Run ``attempt_once`` until it succeeds, raises something not Retryable, or retries run out."""
        for attempt in range(self.retries + 1):
            try:
                return attempt_once()
            except Retryable as exc:
                if attempt == self.retries:
                    tries = f"{attempt + 1} attempt{'s' if attempt else ''}"
                    raise ServiceUnavailable(service, f"{service} {what} failed after {tries}: {exc}",
                                             exc.status) from None
                delay = self.wait(attempt, exc.retry_after)
                log.warning("%s %s: %s; retry %d of %d in %.2f s", service, what, exc, attempt + 1,
                            self.retries, delay)
                self.sleep(delay)
        raise AssertionError("unreachable")


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form); None when absent or a date."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def classify(service: str, status: int, detail: str = "", retry_after_header: str | None = None) -> Exception:
    """The error for an HTTP answer with ``status`` >= 400 (raise the result)."""
    if status in (401, 403):
        return KeyRejected(service, status)
    if status == 429 or status >= 500 or status == 408:
        return Retryable(f"HTTP {status}", retry_after(retry_after_header), status)
    return ServiceError(service, f"{service} refused the request (HTTP {status}){': ' + detail if detail else ''}",
                        status)


def quiet_transport_logs() -> None:
    """Keep the HTTP libraries' records below WARNING out of every log: they can quote a key."""
    for name in TRANSPORT_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def scrub(text: str, *secrets: str) -> str:
    """``text`` without any of ``secrets`` nor anything shaped like an API key, cut to 300 characters."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return _KEYLIKE.sub("***", text)[:300]
