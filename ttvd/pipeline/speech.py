"""Speech stage: narration audio plus the time each source word is spoken.

Engines: eSpeak NG (offline, always there), Piper (offline, the optional ``piper`` extra) and
OpenAI (online). The job's ``voice`` names one voice of any engine, or is ``auto``: the chosen
backend's best voice for the text's language (``language``, or detected from the text). Offline
engines read the text with numbers, units and abbreviations written out (``normalise``); the word
events they report are mapped back onto the text as typed, which the captions show.
"""
from __future__ import annotations

import bisect
import logging
import math
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ttvd import media, voices
from ttvd.backends import piper
from ttvd.config import Settings
from ttvd.errors import StageError
from ttvd.options import AUTO
from ttvd.pipeline import espeak
from ttvd.pipeline.normalise import normalise
from ttvd.timeline import Speech, Word

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"\S+")
_SILENCE_WINDOW = 0.01  # seconds per loudness window when trimming a word's tail
NATURAL_RATE = 165  # words per minute at which a Piper voice speaks as trained (TTVD_SPEECH_RATE's default)


def speak_offline(text: str, audio_path: Path, settings: Settings) -> Speech:
    """The ``espeak`` backend: an eSpeak NG voice for the language (or the voice the job names)."""
    return narrate(text, audio_path, settings, "espeak")


def speak_piper(text: str, audio_path: Path, settings: Settings) -> Speech:
    """The ``piper`` backend: a Piper voice for the language, else eSpeak NG's (or the voice the job names)."""
    return narrate(text, audio_path, settings, "piper")


def speak_openai(text: str, audio_path: Path, settings: Settings) -> Speech:
    """The ``openai`` backend: ``OPENAI_VOICE``, or the voice the job names."""
    return narrate(text, audio_path, settings, "openai")


def narrate(text: str, audio_path: Path, settings: Settings, backend: str) -> Speech:
    """Read ``text`` with the voice ``settings.voice`` (``auto``: ``backend``'s best for the language).

    A named offline voice decides the offline engine (a Piper voice is read by Piper under ``espeak``
    too); StageError for a voice that is not in the catalogue.
    """
    choice = choose_voice(text, settings, backend)
    voice = choice.voice
    log.info("speech: voice %s (%s, %s) reads %s: %s", voice.id, voice.backend, voice.name, choice.language,
             choice.reason)
    return _ENGINES[voice.backend](text, audio_path, choice, settings)


def check(settings: Settings, backend: str) -> str:
    """For ``ttvd doctor``: the voice ``backend`` reads English with, tried on one word; TtvdError if it fails."""
    language = "en" if settings.language == AUTO else settings.language
    choice = choose_voice("ok", settings.replace(language=language), backend)
    with tempfile.TemporaryDirectory(prefix="ttvd-voice-") as folder:
        _ENGINES[choice.voice.backend]("ok", Path(folder) / "check.wav", choice, settings)
    voice = choice.voice
    per_language = "; voice auto picks one per language" if settings.voice == AUTO else ""
    return f"voice {voice.id} ({voice.backend}, {voice.name}) speaks{per_language}"


def choose_voice(text: str, settings: Settings, backend: str) -> voices.Choice:
    """The voice ``backend`` reads ``text`` with; StageError for a voice that is not in the catalogue.

    An offline backend reads with an offline voice, OpenAI with an OpenAI one: a named voice of the
    other kind is set aside for the backend's own choice (so ``TTVD_VOICE=fr`` does not stop OpenAI).
    """
    catalogue = voices.catalogue(settings)
    choice = voices.choose(catalogue, settings.voice, settings.language, text, backend)  # an unknown id fails
    if backend == "openai":
        if choice.voice.backend == "openai":
            return choice
        aside = "" if settings.voice == AUTO else f"; {settings.voice} is an offline voice"
        return voices.Choice(voices.openai_voice(settings.openai_voice), voices.ANY_LANGUAGE, f"OPENAI_VOICE{aside}")
    if not choice.voice.offline:
        offline = voices.choose(catalogue, AUTO, settings.language, text, backend)
        return voices.Choice(offline.voice, offline.language, f"{settings.voice} is an online voice; {offline.reason}")
    return choice


def _espeak(text: str, audio_path: Path, choice: voices.Choice, settings: Settings) -> Speech:
    return speak(text, audio_path, choice.voice.id, settings.speech_rate, choice.language)


def _piper(text: str, audio_path: Path, choice: voices.Choice, settings: Settings) -> Speech:
    spoken = normalise(text, choice.language)
    narration = piper.synthesize(Path(choice.voice.model), spoken.text, NATURAL_RATE / settings.speech_rate)
    positions = [spoken.source_position(position) for position, _ in narration.words]
    starts = [sample / narration.sample_rate for _, sample in narration.words]
    return _speech(text, audio_path, narration.samples, narration.sample_rate, positions, starts)


def _openai(text: str, audio_path: Path, choice: voices.Choice, settings: Settings) -> Speech:
    from ttvd.backends import openai_speech  # loads the OpenAI SDK: only for jobs that use it

    return openai_speech.speak(text, audio_path, settings.replace(openai_voice=choice.voice.id))


_ENGINES: dict[str, Callable[[str, Path, voices.Choice, Settings], Speech]] = {
    "espeak": _espeak, "piper": _piper, "openai": _openai,
}


def speak(text: str, audio_path: Path, voice: str, rate: int, language: str | None = None) -> Speech:
    """Synthesize ``text`` with the eSpeak NG voice ``voice`` into a WAV at ``audio_path``.

    The engine reads the text written out for ``language`` (default: the voice's id, which is its
    language: ``en-us``, ``fr``); word times come from its events.
    """
    spoken = normalise(text, language or voice)
    synthesis = espeak.synthesize(spoken.text, voice, rate)
    positions = [spoken.source_position(event.text_position - 1) for event in synthesis.words]
    starts = [event.sample / synthesis.sample_rate for event in synthesis.words]
    return _speech(text, audio_path, synthesis.samples, synthesis.sample_rate, positions, starts)


def _speech(text: str, audio_path: Path, pcm: bytes, rate: int, positions: list[int],
            starts: list[float]) -> Speech:
    """Write the WAV and time the text's words from the engine's (source position, start) events."""
    if not pcm:
        raise StageError("speech", "the speech engine produced no audio for this text")
    samples = np.frombuffer(pcm, dtype="<i2")
    media.write_wav(audio_path, pcm, rate)
    words = align_words(text, positions, starts)
    if not words:
        raise StageError("speech", "the text has no words to speak")
    return Speech(str(audio_path), len(samples) / rate, _with_ends(words, samples, rate))


def align_words(text: str, positions: list[int], starts: list[float]) -> list[Word]:
    """Map engine word events (0-based character positions) onto the text's whitespace tokens.

    A token takes the earliest event inside it ("42" is spoken as two words). Tokens the engine
    did not speak (a lone dash) join the token before them, so captions keep every character.
    """
    tokens = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]
    token_starts = [start for start, _, _ in tokens]
    times: list[float | None] = [None] * len(tokens)
    for position, start in zip(positions, starts, strict=True):
        index = bisect.bisect_right(token_starts, position) - 1
        if index < 0 or position >= tokens[index][1]:
            index += 1  # the event fell between tokens: it belongs to the next one
        known = times[index] if index < len(tokens) else None
        if index < len(tokens) and (known is None or start < known):
            times[index] = start
    words: list[Word] = []
    pending = ""
    for (_, _, token), spoken_at in zip(tokens, times, strict=True):
        if spoken_at is None or (words and spoken_at < words[-1].start):
            if words:
                words[-1].text += " " + token
            else:
                pending = f"{pending} {token}".strip()
            continue
        words.append(Word(f"{pending} {token}".strip(), spoken_at, spoken_at))
        pending = ""
    if pending and words:
        words[-1].text += " " + pending
    return words


def _with_ends(words: list[Word], samples: np.ndarray, rate: int) -> list[Word]:
    """End each word where its sound stops: the next word's start, less trailing silence."""
    total = len(samples) / rate
    window = max(1, int(rate * _SILENCE_WINDOW))
    threshold = max(200.0, float(np.abs(samples).max()) * 0.04)
    for word, following in zip(words, words[1:] + [None], strict=True):
        limit = following.start if following else total
        chunk = samples[int(word.start * rate):int(limit * rate)].astype(np.float32)
        usable = len(chunk) // window * window
        loud = np.flatnonzero(np.abs(chunk[:usable]).reshape(-1, window).max(axis=1) > threshold) \
            if usable else np.array([], dtype=int)
        end = word.start + (loud[-1] + 1) * window / rate if loud.size else limit
        # rounded down at the very end, so the last word never ends after the audio does
        word.end = min(round(float(min(limit, max(end, word.start + 0.05))), 3), math.floor(total * 1000) / 1000)
        word.start = round(word.start, 3)
    return words
