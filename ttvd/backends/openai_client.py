"""The official ``openai`` client, pointed at OPENAI_BASE_URL when set, with its errors translated.

The client's own retries are off: ``request`` retries with ttvd's policy, so a rate limit, a timeout
or a server error ends in ``ServiceUnavailable`` (the stage falls back offline) and a rejected key in
``KeyRejected`` (the job fails at that stage). No vendor exception leaves this module.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import openai

from ttvd.backends.service import Retryable, RetryPolicy, classify, quiet_transport_logs, scrub
from ttvd.config import Settings
from ttvd.errors import ConfigError

SERVICE = "OpenAI"
T = TypeVar("T")


def client(settings: Settings) -> Any:
    """An ``openai.OpenAI`` client for the configured key and base URL."""
    key = settings.openai_api_key
    if not key:
        raise ConfigError("OpenAI was chosen but OPENAI_API_KEY is not set "
                          "(for a local OpenAI-compatible server any value will do)")
    quiet_transport_logs()
    return openai.OpenAI(api_key=key, base_url=settings.openai_base_url or None,
                         timeout=settings.http_timeout, max_retries=0)


def request(settings: Settings, what: str, send: Callable[[], T]) -> T:
    """``send()`` with retries; vendor errors become ttvd's service errors (see ttvd.backends.service)."""
    key = settings.openai_api_key

    def once() -> T:
        try:
            return send()
        except openai.APIStatusError as exc:
            error = classify(SERVICE, exc.status_code, scrub(_detail(exc), key),
                             exc.response.headers.get("retry-after"))
        except openai.APITimeoutError:
            error = Retryable("the request timed out")
        except openai.APIConnectionError:
            error = Retryable(f"cannot connect to {base_url(settings)}")
        raise error

    return RetryPolicy.from_settings(settings).call(SERVICE, what, once)


def base_url(settings: Settings) -> str:
    return settings.openai_base_url or "https://api.openai.com/v1"


def _detail(exc: Any) -> str:
    body = exc.body
    if isinstance(body, dict):
        body = body.get("error", body)
        if isinstance(body, dict):
            return str(body.get("message") or "")
    return str(body or "")
