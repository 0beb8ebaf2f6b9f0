"""The contract every speech backend keeps, run over each one: a new backend subclasses ``SpeechContract``.

A backend narrates a text into a WAV file and returns a Speech: the audio's path and duration, and one
Word per spoken token of the text, in order, timed inside the audio. The caption stage relies on all of it.
"""
from __future__ import annotations

import wave
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from ttvd import config
from ttvd.backends import openai_speech
from ttvd.pipeline.speech import speak_offline
from ttvd.timeline import Speech

from helpers import TINY
from standins.fixtures import online_env

TEXTS = {
    "plain": "The keeper lit the lamp. Then, at dawn, a boat arrived.",
    # a number spoken as two words, a dash not spoken at all, an abbreviation
    "odd tokens": "It was 42 — maybe more, said Dr. Smith!",
    # over OPENAI_SPEECH_MAX_CHARS below: the OpenAI backend makes several requests and joins them
    "long": ("The ocean was calm at dawn, and the waves rolled in slowly. Deep in the forest, old trees "
             "whispered in the wind. By evening the city woke up; its lights filled the night."),
}
FEW_MS = 0.002


class SpeechContract:
    """Checks every speech backend must pass. A subclass provides ``speak(text, audio_path) -> Speech``."""

    @pytest.fixture
    def speak(self):
        raise NotImplementedError("a subclass provides the backend under test")

    @pytest.fixture(params=list(TEXTS), ids=list(TEXTS))
    def spoken(self, request, speak, tmp_path) -> tuple[str, Path, Speech]:
        text = TEXTS[request.param]
        audio = tmp_path / "narration.wav"
        return text, audio, speak(text, audio)

    def test_the_audio_is_a_voiced_wav_of_the_stated_duration(self, spoken):
        _, audio, speech = spoken
        assert Path(speech.audio) == audio
        with wave.open(str(audio)) as wav:
            assert wav.getnchannels() == 1 and wav.getsampwidth() == 2
            seconds = wav.getnframes() / wav.getframerate()
            samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        assert speech.duration == pytest.approx(seconds, abs=FEW_MS)
        assert np.abs(samples.astype(np.int32)).max() > 1000  # speech, not silence

    def test_words_are_in_order_without_overlap_inside_the_audio(self, spoken):
        _, _, speech = spoken
        assert speech.words
        for word in speech.words:
            assert 0 <= word.start < word.end <= speech.duration + 1e-6, word
        for word, following in pairwise(speech.words):
            assert word.end <= following.start, (word, following)

    def test_the_words_spell_the_text(self, spoken):
        text, _, speech = spoken
        assert " ".join(w.text for w in speech.words).split() == text.split()
        assert all(w.text.strip() for w in speech.words)


class TestEspeak(SpeechContract):
    @pytest.fixture
    def speak(self, settings):
        return lambda text, audio: speak_offline(text, audio, settings)


class TestOpenAI(SpeechContract):
    @pytest.fixture
    def speak(self, home, openai_standin):
        env = online_env(openai_standin, OPENAI_SPEECH_MAX_CHARS="70")
        settings = config.load({}, TTVD_HOME=str(home), **TINY, **env)
        return lambda text, audio: openai_speech.speak(text, audio, settings)
