"""OpenAI backends against the stand-in server over real HTTP: speech, caption timing, queries, failures."""
from __future__ import annotations

import json
import wave
from itertools import pairwise

import numpy as np
import pytest

from ttvd import pipeline
from ttvd.backends.align import align, normalise
from ttvd.backends.openai_queries import InvalidAnswer, parse
from ttvd.backends.openai_speech import split_text
from ttvd.errors import StageError
from ttvd.pipeline.plan import resolve
from ttvd.timeline import Word

from standins import OPENAI_KEY
from standins.fixtures import files_containing, make_job, online_env

STORY = ("The ocean was calm at dawn, and the waves rolled in slowly. Deep in the forest, old trees "
         "whispered in the wind. By evening the city woke up; its lights filled the night.")


def _offline_footage(**extra):
    return {"TTVD_FOOTAGE": "local", **extra}


# -- pure functions -----------------------------------------------------------------------------------

def test_split_text_cuts_after_sentences_under_the_limit():
    text = "One two three. Four five six seven. Eight nine, ten eleven twelve thirteen fourteen."
    chunks = split_text(text, 40)
    assert [" ".join(c) for c in chunks] == ["One two three. Four five six seven.",
                                             "Eight nine,", "ten eleven twelve thirteen fourteen."]
    assert all(len(" ".join(c)) <= 40 for c in chunks)
    assert sum(chunks, []) == text.split()
    assert split_text("word " * 30, 20) and all(len(" ".join(c)) <= 20 for c in split_text("word " * 30, 20))


def test_align_keeps_source_spelling_and_takes_heard_times():
    source = [Word(t, 0, 0) for t in "Dr. Smith paid $42, then left!".split()]
    heard = [("doctor", 0.0, 0.3), ("smith", 0.35, 0.7), ("paid", 0.8, 1.0), ("forty", 1.1, 1.4),
             ("two", 1.45, 1.7), ("dollars", 1.75, 2.1), ("then", 2.2, 2.4), ("left", 2.5, 2.9)]
    words = align(source, heard, 3.0)
    assert [w.text for w in words] == ["Dr.", "Smith", "paid", "$42,", "then", "left!"]
    assert (words[1].start, words[1].end) == (0.35, 0.7)
    assert words[3].start == pytest.approx(1.1) and words[3].end == pytest.approx(2.1)
    assert (words[5].start, words[5].end) == (2.5, 2.9)
    assert all(a.start <= b.start for a, b in pairwise(words))


def test_align_spreads_words_the_recogniser_missed_over_the_gap():
    source = [Word(t, 0, 0) for t in ["one", "two", "three", "four"]]
    words = align(source, [("one", 0.0, 0.5), ("four", 2.0, 2.5)], 3.0)
    assert 0.5 <= words[1].start < words[2].start < 2.0
    assert normalise("Hello,") == "hello"


def test_query_answers_are_checked_against_the_schema():
    good = json.dumps({"segments": [{"index": 1, "queries": ["City Night"]}, {"index": 0, "queries": ["sea"]}]})
    assert parse(good, 2) == [["sea"], ["city night"]]
    assert parse("```json\n" + good + "\n```", 2) == [["sea"], ["city night"]]
    for bad in ["not json", json.dumps({"segments": [{"index": 0, "queries": ["sea"]}]}),
                json.dumps({"segments": [{"index": 0, "queries": []}, {"index": 1, "queries": ["x"]}]}),
                json.dumps({"segments": [{"index": 5, "queries": ["x"]}]}), json.dumps([1, 2])]:
        with pytest.raises(InvalidAnswer):
            parse(bad, 2)


# -- against the stand-in --------------------------------------------------------------------------------

def test_speech_long_text_is_split_and_joined_without_clicks(home, openai_standin):
    job = make_job(home, STORY, online_env(openai_standin, OPENAI_SPEECH_MAX_CHARS="70", TTVD_CAPTIONS="speech",
                                           TTVD_QUERIES="keywords", **_offline_footage()))
    speech = pipeline._speech(job, resolve(job.settings, job.options))
    inputs = openai_standin.log()["extra"]["speech_inputs"]
    assert len(inputs) >= 3 and all(len(i) <= 70 for i in inputs)
    assert " ".join(inputs).split() == STORY.split()
    assert speech.engine == "openai"  # its audio, duration and words: test_contract_speech.py
    with wave.open(speech.audio) as audio:
        samples = np.frombuffer(audio.readframes(audio.getnframes()), dtype="<i2").astype(np.int32)
        rate = audio.getframerate()
    # every join is a fade into silence: no jump between neighbouring samples near the joins
    for word, following in pairwise(speech.words):
        if following.start - word.end > 0.2:
            gap = samples[int(word.end * rate):int(following.start * rate)]
            assert np.abs(np.diff(gap)).max(initial=0) < 6000
    assert all(r["authorised"] for r in openai_standin.requests("speech"))


@pytest.mark.slow
def test_whole_job_uses_openai_for_speech_timing_and_queries(home, openai_standin):
    job = make_job(home, STORY, online_env(openai_standin, **_offline_footage()))
    pipeline.run(job)
    log = job.reporter.text()
    assert "Speech from openai: OPENAI_API_KEY is set" in log
    assert "Captions from openai" in log and "Queries from openai" in log
    captions = json.loads((job.work / "captions.json").read_text())
    words = [w for c in captions for w in c["words"]]
    assert " ".join(w["text"] for w in words) == " ".join(STORY.split())  # the user's words and punctuation
    heard = openai_standin.log()["extra"]["transcribed_words"]
    heard_starts = {round(h["start"], 2) for h in heard}
    matched = [w for w in words if round(w["start"], 2) in heard_starts]
    assert len(matched) >= 0.8 * len(words)  # timed by what was heard, not by an estimate
    assert len(openai_standin.requests("chat")) == 1
    passages = json.loads((job.work / "queries.json").read_text())
    assert any("ocean" in p["queries"] for p in passages)
    assert job.output.exists()
    assert not files_containing(home, OPENAI_KEY.encode())


@pytest.mark.online
def test_invalid_chat_answer_is_corrected_within_bounds(home):
    from standins import start_openai
    server = start_openai(home.parent, invalid=1)
    try:
        job = make_job(home, STORY, online_env(server, TTVD_SPEECH="espeak", **_offline_footage()))
        plan = resolve(job.settings, job.options)
        speech = pipeline._speech(job, plan)
        passages = pipeline._queries(job, plan, speech, pipeline._captions(job, plan, speech))
        assert len(server.requests("chat")) == 2
        assert all(p.queries and p.queries[0] == "misty abstract mood" for p in passages)
    finally:
        server.stop()


@pytest.mark.online
def test_always_invalid_chat_answer_falls_back_to_keywords(home):
    from standins import start_openai
    server = start_openai(home.parent, invalid=99)
    try:
        job = make_job(home, STORY, online_env(server, TTVD_SPEECH="espeak", **_offline_footage()))
        plan = resolve(job.settings, job.options)
        speech = pipeline._speech(job, plan)
        passages = pipeline._queries(job, plan, speech, pipeline._captions(job, plan, speech))
        assert len(server.requests("chat")) == 3  # one call and two corrections, never more
        assert "using keywords instead" in job.reporter.text()
        assert all(p.queries and "misty abstract mood" not in p.queries for p in passages)
    finally:
        server.stop()


@pytest.mark.parametrize("stage,route", [("speech", "speech"), ("captions", "transcribe"), ("queries", "chat")])
def test_rejected_key_fails_the_job_at_that_stage(home, openai_standin, stage, route):
    env = online_env(openai_standin, **_offline_footage())
    openai_standin.faults(**{route: {"status": 401, "times": -1}})
    job = make_job(home, STORY, env)
    with pytest.raises(StageError) as failure:
        pipeline.run(job)
    assert failure.value.stage == stage
    assert str(failure.value) == "OpenAI rejected the API key (HTTP 401)"
    assert len(openai_standin.requests(route)) == 1  # a rejected key is not retried
    assert not files_containing(home, OPENAI_KEY.encode()) and "sk-" not in str(failure.value)


def test_rate_limit_is_retried_then_succeeds(home, openai_standin):
    openai_standin.faults(speech={"status": 429, "times": 2, "retry_after": "0"})
    job = make_job(home, "A short line to say.", online_env(openai_standin, TTVD_CAPTIONS="speech"))
    speech = pipeline._speech(job, resolve(job.settings, job.options))
    assert speech.engine == "openai"
    assert len(openai_standin.requests("speech")) == 3


@pytest.mark.parametrize("fault", [{"status": 503, "times": -1}, {"status": 429, "times": -1, "retry_after": "0"},
                                   {"delay": 1.5, "times": -1}])
def test_service_down_falls_back_to_espeak_with_a_log_line(home, openai_standin, fault):
    openai_standin.faults(speech=fault)
    job = make_job(home, "A short line to say.", online_env(openai_standin, TTVD_HTTP_TIMEOUT="0.5"))
    speech = pipeline._speech(job, resolve(job.settings, job.options))
    assert speech.engine == "espeak"
    assert len(openai_standin.requests("speech")) == 3  # the first try and TTVD_HTTP_RETRIES=2 retries
    assert "OpenAI speech failed after 3 attempts" in job.reporter.text()
    assert "using espeak instead" in job.reporter.text()
    # and the captions follow the speech that was made: eSpeak's own word times
    assert pipeline.backends.choose("captions", job.settings, {}, speech.engine).name == "speech"


def test_transcription_down_falls_back_to_estimated_times(home, openai_standin):
    openai_standin.faults(transcribe={"status": 500, "times": -1})
    job = make_job(home, STORY, online_env(openai_standin))
    speech = pipeline._speech(job, resolve(job.settings, job.options))
    captions = pipeline._captions(job, resolve(job.settings, job.options), speech)
    assert " ".join(c.text for c in captions) == " ".join(STORY.split())
    assert "using speech instead" in job.reporter.text()
