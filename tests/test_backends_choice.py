"""Choosing a backend per stage by name: keys, settings, job options; and the retry policy's waits."""
from __future__ import annotations

import pytest

from ttvd import backends, config, options
from ttvd.backends.service import Retryable, RetryPolicy, classify, scrub
from ttvd.errors import ConfigError, KeyRejected, ServiceError, ServiceUnavailable


def _names(env, options=None):
    return {stage: choice.name for stage, choice in backends.choices(config.load(env), options).items()}


def test_no_keys_means_every_offline_default():
    assert _names({}) == {"speech": "espeak", "captions": "speech", "queries": "keywords", "footage": "local"}


def test_keys_select_the_online_backends():
    assert _names({"OPENAI_API_KEY": "k"}) == {"speech": "openai", "captions": "openai", "queries": "openai",
                                               "footage": "local"}
    assert _names({"PEXELS_API_KEY": "k"})["footage"] == "pexels"


def test_a_setting_forces_a_stage_and_captions_follow_the_speech():
    names = _names({"OPENAI_API_KEY": "k", "TTVD_SPEECH": "espeak"})
    assert names["speech"] == "espeak" and names["captions"] == "speech" and names["queries"] == "openai"
    choice = backends.choose("queries", config.load({"TTVD_QUERIES": "keywords", "OPENAI_API_KEY": "k"}))
    assert (choice.name, choice.reason) == ("keywords", "TTVD_QUERIES=keywords")


def test_job_options_win_over_settings():
    names = _names({"OPENAI_API_KEY": "k", "TTVD_FOOTAGE": "pexels"}, {"speech": "espeak", "footage": "local"})
    assert names["speech"] == "espeak" and names["footage"] == "local"
    assert backends.choose("speech", config.load({}), {"speech": "openai"}).reason == "the job's options ask for openai"


@pytest.mark.parametrize("asked,message", [({"speech": "polly"}, "speech"), ({"colour": "x"}, "Unknown option"),
                                           ({"footage": 3}, "footage"), ("fast", "object")])
def test_bad_options_are_refused(asked, message):
    with pytest.raises(ConfigError, match=message):
        options.validate(asked)


def test_bad_backend_setting_is_refused_at_start():
    with pytest.raises(ConfigError, match="TTVD_SPEECH"):
        config.load({"TTVD_SPEECH": "polly"})


def test_the_api_module_imports_no_vendor_sdk_nor_the_pipeline():
    import subprocess
    import sys

    code = ("import sys, ttvd.api; bad = [m for m in sys.modules if m.split('.')[0] in ('openai', 'moviepy', "
            "'requests') or m.startswith('ttvd.pipeline')]; print(bad)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "[]"


def test_retry_policy_honours_retry_after_then_backs_off_exponentially():
    waits: list[float] = []
    answers = iter([Retryable("HTTP 429", retry_after=2.5), Retryable("HTTP 503"), Retryable("timeout"), "done"])

    def attempt():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    policy = RetryPolicy(retries=3, backoff=0.5, max_wait=10, sleep=waits.append)
    assert policy.call("Pexels", "search", attempt) == "done"
    assert waits == [2.5, 1.0, 2.0]


def test_retries_run_out_into_service_unavailable():
    waits: list[float] = []

    def attempt():
        raise Retryable("HTTP 500", retry_after=99)

    with pytest.raises(ServiceUnavailable, match="Pexels search failed after 3 attempts: HTTP 500"):
        RetryPolicy(retries=2, backoff=0.1, max_wait=5, sleep=waits.append).call("Pexels", "search", attempt)
    assert waits == [5, 5]  # a Retry-After beyond the cap waits only the cap


def test_statuses_map_to_errors_a_user_can_act_on():
    assert str(classify("Pexels", 401)) == "Pexels rejected the API key (HTTP 401)"
    assert isinstance(classify("OpenAI", 403), KeyRejected)
    assert isinstance(classify("OpenAI", 429, retry_after_header="3"), Retryable)
    assert classify("OpenAI", 429, retry_after_header="3").retry_after == 3.0
    assert isinstance(classify("OpenAI", 502), Retryable)
    error = classify("OpenAI", 404, "model 'x' not found")
    assert isinstance(error, ServiceError) and "HTTP 404" in str(error)
    assert scrub("Incorrect API key provided: sk-abc123456789xyz", "") == "Incorrect API key provided: ***"
    assert "secret-value" not in scrub("key secret-value refused", "secret-value")


def test_render_options_pass_through_the_same_check():
    assert options.validate({"speech": "openai", "height": "640", "engine": "ffmpeg"}) == {
        "speech": "openai", "height": 640, "engine": "ffmpeg"}
    with pytest.raises(ConfigError, match="height"):
        options.validate({"height": 321})
