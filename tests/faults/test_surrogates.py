"""A lone surrogate (JSON may spell ``\\ud800``; no UTF-8 file can hold it) anywhere in a body is a 400
with a JSON error, never a 500, and nothing is queued: with words around it, in an option, in a key."""
import pytest

from faults.faultkit import queue
from faults.test_hostile import post

from helpers import Proc, free_port, process_env, serving


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """One `ttvd serve` for the table (started by hand: module scope)."""
    home = tmp_path_factory.mktemp("surrogates") / "home"
    home.mkdir()
    port = free_port()
    proc = Proc(["serve", "--port", str(port)], process_env(home, TTVD_RATE_LIMIT="0"), home.parent / "serve.log")
    yield serving(proc, port, home)
    proc.stop()


BODIES = [
    ("text with words", rb'{"text": "Hello \ud800 world."}'),
    ("a low surrogate alone", rb'{"text": "Hello \udc00 world."}'),
    ("reversed pair", rb'{"text": "Hello \udc00\ud800 world."}'),
    ("at the end", rb'{"text": "Hello world. \udbff"}'),
    ("title option", rb'{"text": "Hello world.", "options": {"title": "My \ud800 film"}}'),
    ("voice option", rb'{"text": "Hello world.", "options": {"voice": "\ud800"}}'),
    ("inside a key", rb'{"text": "Hello world.", "te\ud800xt": "x"}'),
    ("inside an option key", rb'{"text": "Hello world.", "options": {"ti\ud800tle": "x"}}'),
    ("inside a nested list", rb'{"text": "Hello world.", "extra": [["a", "\ud800"]]}'),
]


@pytest.mark.parametrize("body", [b[1] for b in BODIES], ids=[b[0] for b in BODIES])
def test_a_lone_surrogate_is_a_400_and_nothing_is_queued(api, body):
    status, answer = post(api.port, body)
    assert status == 400 and set(answer) == {"error"} and "surrogate" in answer["error"], answer
    assert queue(api.home, "incoming") == [] and queue(api.home, "state") == []


def test_a_proper_pair_is_text(api):
    status, answer = post(api.port, rb'{"text": "Hello \ud83c\udf0d world."}')  # an escaped emoji
    assert status == 202, answer
    assert queue(api.home, "incoming") == [answer["job_id"] + ".json"]


def test_the_server_answered_every_one_without_a_traceback(api):
    assert api.proc.popen.poll() is None
    assert "Traceback" not in api.proc.output() and "unhandled error" not in api.proc.output()
