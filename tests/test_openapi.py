"""The OpenAPI document: valid OpenAPI 3.1, the same routes as the app, the job options of
``ttvd.options``; and a live ``ttvd serve`` that answers as the document says, checked by
schemathesis's property-based requests (no 5xx; every status, content type, header and body documented)."""
import json
import re

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st
from openapi_spec_validator import validate
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig

from ttvd import config, openapi, options, voices
from ttvd.api import create_app
from ttvd.atomic import write_json
from ttvd.claim import claim_next
from ttvd.errors import ConfigError
from ttvd.guard import check_caps
from ttvd.spool import Spool

from helpers import serve_on

EXAMPLES = 25  # per operation and mode (fewer where hypothesis runs out of distinct cases)
CONFIG = SchemathesisConfig.from_dict({
    # unknown query parameters are ignored, as by most servers: sending them proves nothing
    "generation": {"allow-extra-parameters": False},
    # answers the API document gives beside schemathesis's expectations: a text over the limit is 413;
    # a download of a job that is not completed is 400, a range past the end 416; health is 503 while
    # no daemon runs (none does here)
    "checks": {"negative_data_rejection": {"expected-statuses": ["400", "401", "404", "409", "413", "415", "429"]}},
    "operations": [
        {"include-operation-id": ["download", "downloadHead"], "checks": {"positive_data_acceptance": {
            "expected-statuses": ["2xx", "3xx", "400", "404", "416", "429"]}}},
        {"include-operation-id": "health", "checks": {"not_a_server_error": {"expected-statuses": ["200", "503"]}}}]})
TOKEN = "s3cret-token-0123456789"
STORY = "Once upon a time, in a faraway land, a lighthouse keeper counted the ships."


def test_the_document_is_valid_openapi_3_1(settings):
    validate(openapi.document(settings))


def test_the_document_is_served_as_built(client, settings):
    status, body = client.json("GET", openapi.PATH)
    assert status == 200
    assert body == openapi.document(settings)


def test_every_api_route_of_the_app_is_documented_and_nothing_more(settings, spool):
    """The web page (``/``, ``/ui/``) is not part of the JSON API; every route under ``/api/`` is."""
    app = create_app(settings, spool).app
    routes = {(route.method.lower(), re.sub(r"<(\w+)(:[^>]*)?>", r"{\1}", route.rule))
              for route in app.routes if route.rule.startswith("/api/")}
    paths = openapi.document(settings)["paths"]
    documented = {(method, path) for path, operations in paths.items() for method in operations}
    assert routes == {(method, path) for method, path in documented if method != "head"}
    # bottle answers HEAD on a GET route; the document says so where it matters (downloads)
    assert all(("get", path) in routes for method, path in documented if method == "head")


def test_every_operation_documents_the_error_shape_and_the_guards_answers(settings):
    for path, operations in openapi.document(settings)["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert {"421", "500"} <= codes, (method, path)
            assert ("429" in codes) == (path != "/api/v1/health"), (method, path)
            assert "401" not in codes  # no tokens: nothing asks for one
            if method == "post":
                assert "415" in codes, (method, path)


def test_with_tokens_every_operation_but_health_needs_the_bearer_token(home):
    settings = config.load({}, TTVD_HOME=str(home), TTVD_API_TOKENS=TOKEN)
    document = openapi.document(settings)
    validate(document)
    assert document["security"] == [{"bearer": []}]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            is_health = path == "/api/v1/health"
            assert ("401" in operation["responses"]) != is_health, (method, path)
            assert (operation.get("security") == []) == is_health, (method, path)
    assert TOKEN not in repr(document)


def test_every_job_option_is_described_from_its_check(settings):
    schema = openapi.document(settings)["components"]["schemas"]["JobOptions"]
    properties = schema["properties"]
    assert set(properties) == set(options.OPTION_NAMES)
    assert all(properties.values()), [name for name, described in properties.items() if not described]
    assert schema["additionalProperties"] is False
    for name, described in properties.items():
        for value in described.get("enum", []) + [v for alt in described.get("anyOf", []) for v in alt.get("enum", [])]:
            check_caps(options.validate({name: value}), settings)  # every value it lists is accepted
        if described.get("type") == "integer":
            low, high = described["minimum"], described["maximum"]
            check_caps(options.validate({name: low}), settings)
            check_caps(options.validate({name: high}), settings)
            for outside in (low - described.get("multipleOf", 1), high + described.get("multipleOf", 1)):
                with pytest.raises(ConfigError):
                    check_caps(options.validate({name: outside}), settings)


def test_the_options_follow_this_servers_caps(home):
    settings = config.load({}, TTVD_HOME=str(home), TTVD_MAX_HEIGHT="720", TTVD_MAX_FPS="30",
                           TTVD_SLOWEST_PRESET="fast", TTVD_MIN_CRF="20")
    properties = openapi.document(settings)["components"]["schemas"]["JobOptions"]["properties"]
    assert properties["height"]["maximum"] == 720
    assert properties["fps"]["maximum"] == 30
    assert properties["crf"]["minimum"] == 20
    assert properties["preset"]["enum"][-1] == "fast"


@pytest.mark.parametrize("body", [{"text": "Once \ud800 upon"}, {"text": STORY, "options": {"title": "\udc00"}}],
                         ids=["text", "title"])
def test_a_lone_surrogate_in_valid_json_is_refused_not_a_server_error(client, body):
    # schemathesis generates UTF-8-encodable strings only, so the fuzzer never sends one
    status, answer = client.json("POST", "/api/v1/generate", body)
    assert (status, answer["error"]) == (400, "Request body holds an unpaired surrogate (\\ud800-\\udfff): not text")


# -- the live server, fuzzed ---------------------------------------------------------------------------

def _seed(home) -> dict[str, str]:
    """A queued, a completed (with its small files) and a failed job, and a voice catalogue."""
    spool = Spool(home).ensure()
    made = {}
    for status in ("completed", "failed", "queued"):
        state = spool.submit(STORY, "api", {"voice": "en-us"})
        made[status] = state.job_id
        if status == "queued":
            continue
        held = claim_next(spool)
        assert held is not None and held.request.job_id == state.job_id
        paths = spool.home.job(state.job_id)
        if status == "completed":
            for fmt, data in (("mp4", b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4),
                              ("srt", b"1\n00:00:00,000 --> 00:00:01,000\nOnce upon\n"),
                              ("vtt", b"WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nOnce upon\n"),
                              ("json", b'{"words": [{"word": "Once", "start": 0.0, "end": 0.4}]}')):
                paths.download(fmt).write_bytes(data)
            state.complete(f"output/{paths.video.name}")
        else:
            state.fail("the voice broke", "speech")
        spool.write_state(state)
        held.finish("done" if status == "completed" else "failed")
    catalogue = voices.listing([voices.Voice("en-us", "English (America)", "en-us", "espeak", True)])
    write_json(spool.home.voices, catalogue)
    return made


def _cursors(server, auth: dict[str, str]) -> dict[str, str]:
    """A real cursor for each order: the schema cannot say which strings the server made."""
    found = {}
    for order in ("oldest", "newest"):
        status, _, body = server.request("GET", f"/api/v1/jobs?limit=1&order={order}", headers=auth)
        assert status == 200, body
        found[order] = json.loads(body)["next"]
    return found


def _realistic(case, data, jobs: list[str], cursors: dict[str, str], max_chars: int) -> None:
    """A valid case made to meet what the schema cannot express: an id of a job that exists (often),
    a text with a word in it, integers written without a fraction, a cursor the server gave in the
    order it was given for; and download headers that reach a range or a validator now and then."""
    if "job_id" in (case.path_parameters or {}):
        case.path_parameters["job_id"] = data.draw(st.sampled_from([*jobs, case.path_parameters["job_id"]]))
    if isinstance(case.body, dict) and isinstance(case.body.get("text"), str):
        case.body["text"] = ("Once " + case.body["text"])[:max_chars]
        chosen = case.body.get("options") or {}
        for name, value in chosen.items():  # JSON Schema counts 720.0 as an integer; ttvd.options does not
            if isinstance(value, float) and value.is_integer():
                chosen[name] = int(value)
    if case.operation.path.startswith("/api/v1/download/"):
        headers = case.headers if case.headers is not None else {}
        for name, real in (("Range", ["bytes=0-99", "bytes=-10", "bytes=100-", "bytes=99999-"]),
                           ("If-None-Match", ["*", '"no-such-tag"']), ("If-Modified-Since", []), ("If-Range", [])):
            headers[name] = data.draw(st.sampled_from([headers.get(name), None, *real]))
        case.headers = {name: value for name, value in headers.items() if value is not None}
    if case.query and "cursor" in case.query:
        order = data.draw(st.sampled_from(sorted(cursors)))
        case.query["cursor"], case.query["order"] = cursors[order], order


def _refused_alike(case, url: str, max_chars: int) -> None:
    """A negative case made to mean what it says. The server counts a text's length once it is stripped
    of blanks: a text over the limit stays over it. The document's ``callback_url`` pattern is a readable
    subset of the URLs the server takes: a value outside it becomes one the server refuses too."""
    text = case.body.get("text") if isinstance(case.body, dict) else None
    if isinstance(text, str) and len(text) > max_chars:
        case.body["text"] = "x" * (max_chars + 1) + text
    chosen = case.body.get("options") if isinstance(case.body, dict) else None
    if isinstance(chosen, dict) and isinstance(chosen.get("callback_url"), str) \
            and not re.search(url, chosen["callback_url"]):
        chosen["callback_url"] = "ftp://" + chosen["callback_url"]


def _deliberate(schema, server, jobs: dict[str, str], auth: dict[str, str]) -> list:
    """The answers chance rarely reaches, each checked against the document as the fuzzed ones are."""
    download, completed = "/api/v1/download/{job_id}", {"job_id": jobs["completed"]}
    cases = [
        (schema[download]["GET"].Case(path_parameters=completed, headers={"Range": "bytes=99999-"}), 416),
        (schema[download]["GET"].Case(path_parameters=completed, query={"format": "srt"},
                                      headers={"Range": "bytes=0-9"}), 206),
        (schema[download]["HEAD"].Case(path_parameters=completed), 200),
        (schema[download]["GET"].Case(path_parameters=completed, headers={"If-None-Match": "*"}), 304),
        (schema["/api/v1/status/{job_id}"]["GET"].Case(path_parameters=completed), 200),
        (schema["/api/v1/jobs/{job_id}/cancel"]["POST"].Case(path_parameters={"job_id": jobs["queued"]}), 200),
        (schema["/api/v1/jobs/{job_id}/retry"]["POST"].Case(path_parameters={"job_id": jobs["queued"]}), 202),
    ]
    responses = [case.call_and_validate(base_url=server.base, headers=auth) for case, _ in cases]
    if auth:  # without the token: 401 everywhere but health
        responses += [schema[path]["GET"].Case().call_and_validate(base_url=server.base)
                      for path in ("/api/v1/jobs", "/api/v1/health")]
        cases += [(None, 401), (None, 503)]
    assert [response.status_code for response in responses] == [expected for _, expected in cases]
    return responses


@pytest.mark.parametrize("token", [None, TOKEN], ids=["open", "tokens"])
def test_a_live_server_answers_as_its_document_says(start, home, token):
    jobs = _seed(home)
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    # no rate limit: a fuzzer is faster than any client (429 is documented on every operation all the same)
    server = serve_on(start, home, TTVD_RATE_LIMIT="0", **({"TTVD_API_TOKENS": token} if token else {}))
    max_chars = config.load({}, TTVD_HOME=str(home)).max_text_chars
    cursors = _cursors(server, auth)
    url = openapi.option_schema(options.url)["pattern"]
    schema = schemathesis.openapi.from_url(server.base + openapi.PATH, config=CONFIG, headers=dict(auth))
    operations = sorted((result.ok() for result in schema.get_all_operations()),
                        key=lambda operation: operation.method == "delete")  # delete last: it removes the jobs
    ran = _deliberate(schema, server, jobs, auth)
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            has_input = operation.body or any(True for _ in operation.iter_parameters())
            if mode is GenerationMode.NEGATIVE and not has_input:
                continue

            @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
            @hypothesis.settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                                 phases=[Phase.explicit, Phase.generate],
                                 suppress_health_check=list(HealthCheck))
            def fuzz(case, data):
                if mode is GenerationMode.POSITIVE:
                    _realistic(case, data, list(jobs.values()), cursors, max_chars)
                else:
                    _refused_alike(case, url, max_chars)
                ran.append(case.call_and_validate(base_url=server.base, headers=auth))

            fuzz()
    codes = {response.status_code for response in ran}
    print(f"schemathesis ({'tokens' if token else 'open'}): {len(ran)} requests, statuses {sorted(codes)}")
    assert len(ran) >= 200
    assert {200, 202, 206, 304, 400, 404, 409, 416} <= codes


def test_the_guards_refusals_are_answered_as_documented(start, home):
    """421, 401, 415 and both kinds of 429 (queue full, over the rate), checked against the document.

    Each token has a bucket of its own: the first fills the queue's answers and then its rate, the
    second is refused for its body, and a request without one for the lack of it."""
    jobs = _seed(home)  # one job queued: the queue is full at TTVD_MAX_QUEUED=1
    other = TOKEN[::-1]
    env = {"TTVD_API_TOKENS": f"{TOKEN},{other}", "TTVD_MAX_QUEUED": "1", "TTVD_RATE_BURST": "2",
           "TTVD_RATE_LIMIT": "0.01"}
    server = serve_on(start, home, **env)
    # not fetched: that would spend a request of the bucket; the document is the one served (see above)
    schema = schemathesis.openapi.from_dict(openapi.document(config.load({}, TTVD_HOME=str(home), **env)),
                                            config=CONFIG)
    generate, retry = schema["/api/v1/generate"]["POST"], schema["/api/v1/jobs/{job_id}/retry"]["POST"]
    listing = schema["/api/v1/jobs"]["GET"]
    first, second = {"Authorization": f"Bearer {TOKEN}"}, {"Authorization": f"Bearer {other}"}
    cases = [(listing.Case(headers={"Host": "evil.example"}), first, 421),
             (generate.Case(body={"text": STORY}), first, 429),  # the queue is full
             (retry.Case(path_parameters={"job_id": jobs["failed"]}), first, 429),  # the queue is full
             (listing.Case(), first, 429),  # over the rate
             (generate.Case(body={"text": STORY}, headers={"Content-Type": "text/plain"}), second, 415),
             (listing.Case(), {}, 401)]
    answered = [case.call_and_validate(base_url=server.base, headers=auth) for case, auth, _ in cases]
    assert [response.status_code for response in answered] == [expected for _, _, expected in cases]
    waits = [int(response.headers["retry-after"][0]) for response in answered[1:4]]
    assert waits[:2] == [30, 30] and waits[2] > 30
