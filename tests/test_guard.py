"""The API's guard: bearer tokens, the Host check, JSON bodies, the queue cap, the rate limit, the cost
caps and the access log; in process against the WSGI app, then `ttvd serve` on a real socket."""
import json
import logging
import os

import pytest

from ttvd import guard
from ttvd.api import create_app
from ttvd.errors import ConfigError

from helpers import Http, Wsgi, free_port, wait_for

TOKEN = "s3cret-token-0123456789abcdef"
OTHER = "another-token-fedcba9876543210"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def make(settings, spool):
    """The API in process with some settings changed: make(api_tokens=(TOKEN,), host=...)."""
    def _make(host: str | None = None, **changes) -> Wsgi:
        return Wsgi(create_app(settings.replace(**changes), spool, host))
    return _make


def post(client: Wsgi, payload, content_type: str | None = "application/json", headers=None, path="/api/v1/generate"):
    sent = {**({"Content-Type": content_type} if content_type else {}), **(headers or {})}
    status, answer_headers, body = client.request("POST", path, json.dumps(payload).encode(), sent)
    return status, answer_headers, json.loads(body)


# -- authentication --------------------------------------------------------------------------------

def test_tokens_are_required_everywhere_but_health(make, spool):
    api = make(api_tokens=(TOKEN, OTHER))
    for headers in ({}, bearer("not-the-token-at-all-000000"), {"Authorization": TOKEN}):
        status, answer_headers, body = api.request("GET", "/api/v1/jobs", headers=headers)
        assert status == 401 and answer_headers["WWW-Authenticate"] == 'Bearer realm="ttvd"'
        assert set(json.loads(body)) == {"error"} and "TTVD_API_TOKENS" in json.loads(body)["error"]
    status, _, body = post(api, {"text": "A tale."})
    assert status == 401 and spool.queued_ids() == []
    for token in (TOKEN, OTHER):  # every token is accepted, not only the first
        assert api.request("GET", "/api/v1/jobs", headers=bearer(token))[0] == 200
    assert post(api, {"text": "A tale."}, headers=bearer(OTHER))[0] == 202
    status, answer_headers, _ = api.request("GET", "/api/v1/health")
    assert status != 401 and "WWW-Authenticate" not in answer_headers


def test_only_the_exact_token_opens_and_odd_headers_are_a_401_not_a_crash(make):
    api = make(api_tokens=(TOKEN,))
    near_misses = [TOKEN[:-1], TOKEN + "x", TOKEN[:-1] + "g", TOKEN.upper(), "x" + TOKEN[1:], "", " ",
                   TOKEN + "\x00", "\xe9" * 30, TOKEN.encode().decode("latin-1") + "\xff"]
    for value in near_misses:
        assert api.request("GET", "/api/v1/jobs", headers=bearer(value))[0] == 401, repr(value)
    for header in (f"Basic {TOKEN}", f"Bearer{TOKEN}", "Bearer", f"Token {TOKEN}"):
        assert api.request("GET", "/api/v1/jobs", headers={"Authorization": header})[0] == 401, header
    for header in (f"bearer {TOKEN}", f"BEARER  {TOKEN} "):  # the scheme is case-insensitive
        assert api.request("GET", "/api/v1/jobs", headers={"Authorization": header})[0] == 200, header
    assert guard.Tokens([TOKEN, OTHER]).match(f"Bearer {OTHER}") == 2 and guard.Tokens([]).match(None) is None


# -- Host header, media type -----------------------------------------------------------------------

def test_host_header_must_name_this_server(make):
    api = make()
    status, _, body = api.request("GET", "/api/v1/jobs", headers={"Host": "evil.example"})
    assert status == 421 and "TTVD_ALLOWED_HOSTS" in json.loads(body)["error"]
    for host in ("localhost:5000", "LOCALHOST", "127.0.0.1:5000", "[::1]:5000", "localhost."):
        assert api.request("GET", "/api/v1/jobs", headers={"Host": host})[0] == 200, host
    extra = make(allowed_hosts=("videos.example",), host="10.1.2.3")
    for host in ("videos.example", "Videos.Example:8443", "10.1.2.3:5000"):
        assert extra.request("GET", "/api/v1/jobs", headers={"Host": host})[0] == 200, host
    assert extra.request("GET", "/api/v1/jobs", headers={"Host": "evil.example:5000"})[0] == 421
    assert extra.request("GET", "/api/v1/health", headers={"Host": "evil.example"})[0] == 421


def test_post_bodies_must_be_json(client, spool):
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None):
        status, _, body = post(client, {"text": "A tale."}, content_type)
        assert status == 415 and set(body) == {"error"} and "application/json" in body["error"], content_type
    assert spool.queued_ids() == []
    assert post(client, {"text": "A tale."}, "Application/JSON; charset=utf-8")[0] == 202
    status, _, body = client.request("POST", "/api/v1/generate")  # no body and no type: the seed's 400
    assert (status, json.loads(body)) == (400, {"error": "No text provided in request body"})


# -- admission and rate ----------------------------------------------------------------------------

def test_a_full_queue_refuses_submissions_with_retry_after(make, spool):
    api = make(max_queued=2)
    first, second = (spool.submit(f"Tale {n}.", "cli").job_id for n in range(2))
    status, headers, body = post(api, {"text": "One too many."})
    assert status == 429 and int(headers["Retry-After"]) > 0 and "TTVD_MAX_QUEUED" in body["error"]
    assert sorted(spool.queued_ids()) == sorted([first, second])
    assert api.request("GET", "/api/v1/jobs")[0] == 200  # reads are not refused
    os.rename(spool.home.request("incoming", first), spool.home.request("active", first))  # a daemon took one
    assert post(api, {"text": "Now there is room."})[0] == 202


def test_each_client_has_its_own_rate_limit(make):
    api = make(api_tokens=(TOKEN, OTHER), rate_limit=0.01, rate_burst=3)
    for _ in range(3):
        assert api.request("GET", "/api/v1/jobs", headers=bearer(TOKEN))[0] == 200
    status, headers, body = api.request("GET", "/api/v1/jobs", headers=bearer(TOKEN))
    assert status == 429 and int(headers["Retry-After"]) >= 1 and "TTVD_RATE_LIMIT" in json.loads(body)["error"]
    assert api.request("GET", "/api/v1/jobs", headers=bearer(OTHER))[0] == 200  # another token, another bucket
    assert api.request("GET", "/api/v1/health")[0] != 429  # health is never limited
    assert make(rate_limit=0.0, rate_burst=1).request("GET", "/api/v1/jobs")[0] == 200  # 0: no limit


def test_rate_limiter_refills_and_forgets_idle_clients():
    now = [0.0]
    limiter = guard.RateLimiter(rate=2.0, burst=2, clock=lambda: now[0], max_clients=100)
    assert [limiter.wait("a") for _ in range(2)] == [0.0, 0.0]
    assert limiter.wait("a") == pytest.approx(0.5) and limiter.wait("b") == 0.0
    now[0] += 0.5
    assert limiter.wait("a") == 0.0
    for n in range(1000):
        limiter.wait(("address", n))
    assert len(limiter) <= 100


# -- cost caps -------------------------------------------------------------------------------------

@pytest.mark.parametrize("chosen,message", [
    ({"height": 4320}, "height 4320 is over the cap of 2160 (TTVD_MAX_HEIGHT)"),
    ({"fps": 120}, "fps 120 is over the cap of 60 (TTVD_MAX_FPS)"),
    ({"preset": "veryslow"}, "preset veryslow is slower than the cap of medium (TTVD_SLOWEST_PRESET)"),
    ({"crf": 10}, "crf 10 is under the cap of 16 (TTVD_MIN_CRF)"),
])
def test_options_over_a_cap_are_a_400_naming_its_setting(client, spool, chosen, message):
    status, _, body = post(client, {"text": "A tale.", "options": chosen})
    assert (status, body) == (400, {"error": message}) and spool.queued_ids() == []


def test_options_at_the_caps_pass_and_caps_follow_the_settings(client, make):
    at_caps = {"height": 2160, "fps": 60, "preset": "medium", "crf": 16}
    assert post(client, {"text": "A tale.", "options": at_caps})[0] == 202
    assert post(make(max_height=4320), {"text": "A tale.", "options": {"height": 4320}})[0] == 202
    assert post(client, {"text": "word " * 5000})[0] == 413  # the text limit is unchanged


# -- access log ------------------------------------------------------------------------------------

def test_one_access_line_per_request_without_secrets(make, caplog):
    api = make(api_tokens=(TOKEN,))
    with caplog.at_level(logging.INFO, logger="ttvd.access"):
        api.request("GET", "/api/v1/jobs?status=queued&access_token=hunter2hunter2", headers=bearer(TOKEN))
        api.request("GET", "/api/v1/jobs", headers=bearer("wrong-token-0000000000000"))
        api.request("GET", "/api/v1/status/a%0Ab%1B")
    lines = [r.getMessage() for r in caplog.records if r.name == "ttvd.access"]
    assert len(lines) == 3
    assert lines[0].startswith("GET /api/v1/jobs?status=queued&access_token=hidden 200 ") and " ms " in lines[0]
    assert lines[0].endswith("token 1") and lines[1].startswith("GET /api/v1/jobs 401 ")
    assert lines[2].startswith("GET /api/v1/status/a%0Ab%1B 401 ")
    logged = caplog.text
    for secret in (TOKEN, "hunter2", "wrong-token", "Bearer", "Authorization"):
        assert secret not in logged


# -- ttvd serve: where it may listen ---------------------------------------------------------------

def test_serving_beyond_loopback_needs_tokens_or_insecure(caplog):
    for host in ("127.0.0.1", "127.8.9.1", "localhost", "::1", "[::1]"):
        guard.check_exposure(host, (), insecure=False)
    for host in ("0.0.0.0", "::", "", "192.168.1.5", "example.com"):
        with pytest.raises(ConfigError, match="TTVD_API_TOKENS"):
            guard.check_exposure(host, (), insecure=False)
    guard.check_exposure("0.0.0.0", (TOKEN,), insecure=False)
    with caplog.at_level(logging.WARNING, logger="ttvd.guard"):
        guard.check_exposure("0.0.0.0", (), insecure=True)
    assert "WITHOUT authentication" in caplog.text


def test_serve_on_every_address_refuses_without_tokens_and_guards_with_them(start, home):
    refused = start(["serve", "--host", "0.0.0.0", "--port", str(free_port())], home)
    assert refused.popen.wait(30) == 2
    assert "refusing to serve the API on 0.0.0.0 without authentication" in refused.output()
    port = free_port()
    proc = start(["serve", "--host", "0.0.0.0", "--port", str(port)], home, TTVD_API_TOKENS=f"{OTHER},{TOKEN}")
    api = Http(f"http://127.0.0.1:{port}")
    wait_for(lambda: health(api) in (200, 503), 20, proc)
    assert api.request("GET", "/api/v1/jobs")[0] == 401
    status, _, body = api.request("GET", "/api/v1/jobs", headers=bearer(TOKEN))
    assert status == 200 and json.loads(body) == {"jobs": {}}
    output = proc.output()
    assert "GET /api/v1/jobs 401" in output and "GET /api/v1/jobs 200" in output and TOKEN not in output



def health(api: Http) -> int:
    """The status of ``GET /health``, 0 while nothing listens yet."""
    try:
        return api.request("GET", "/api/v1/health", timeout=5)[0]
    except OSError:
        return 0
