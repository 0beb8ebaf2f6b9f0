"""Speech stage: narration audio plus the time each source word is spoken (offline: eSpeak NG)."""
from __future__ import annotations

import bisect
import re
from pathlib import Path

import numpy as np

from ttvd import media
from ttvd.config import Settings
from ttvd.errors import StageError
from ttvd.pipeline import espeak
from ttvd.timeline import Speech, Word

_TOKEN = re.compile(r"\S+")
_SILENCE_WINDOW = 0.01  # seconds per loudness window when trimming a word's tail


def speak_offline(text: str, audio_path: Path, settings: Settings) -> Speech:
    """The offline speech backend: eSpeak NG with the configured voice and rate."""
    return speak(text, audio_path, settings.voice, settings.speech_rate)


def speak(text: str, audio_path: Path, voice: str, rate: int) -> Speech:
    """Synthesize ``text`` into a WAV at ``audio_path``; word times come from the engine's events."""
    synthesis = espeak.synthesize(text, voice, rate)
    if not synthesis.samples:
        raise StageError("speech", "eSpeak NG produced no audio for this text")
    samples = np.frombuffer(synthesis.samples, dtype="<i2")
    media.write_wav(audio_path, synthesis.samples, synthesis.sample_rate)
    duration = len(samples) / synthesis.sample_rate
    starts = [event.sample / synthesis.sample_rate for event in synthesis.words]
    positions = [event.text_position - 1 for event in synthesis.words]
    words = align_words(text, positions, starts)
    if not words:
        raise StageError("speech", "the text has no words to speak")
    return Speech(str(audio_path), duration, _with_ends(words, samples, synthesis.sample_rate))


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
        word.end = round(float(min(limit, max(end, word.start + 0.05))), 3)
        word.start = round(word.start, 3)
    return words
