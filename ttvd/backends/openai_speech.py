"""Speech from the OpenAI speech endpoint: long texts go in sentence-sized requests, joined smoothly.

The endpoint reports no word times, so each word gets an estimate spread over the voiced part of
its request's audio; the captions stage refines them by transcription when OpenAI is chosen there.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np

from ttvd import media
from ttvd.backends import openai_client
from ttvd.config import Settings
from ttvd.errors import ServiceError
from ttvd.text import spoken
from ttvd.timeline import Speech, Word

SAMPLE_RATE = 24000
GAP_SECONDS = 0.25    # silence between two requests' audio: a sentence pause
FADE_SECONDS = 0.01   # each piece fades in and out, so no join clicks
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*$")
_CLAUSE_END = re.compile(r"[,;:—–][\"'”’)\]]*$")


def speak(text: str, audio_path: Path, settings: Settings) -> Speech:
    """Narrate ``text`` into a WAV at ``audio_path`` with the configured model and voice."""
    client = openai_client.client(settings)
    pieces: list[np.ndarray] = []
    words: list[Word] = []
    offset = 0.0
    for tokens in split_text(text, settings.openai_speech_max_chars):
        chunk = " ".join(tokens)[:settings.openai_speech_max_chars]
        audio = openai_client.request(settings, "speech", lambda: client.audio.speech.create(
            model=settings.openai_speech_model, voice=settings.openai_voice, input=chunk,  # noqa: B023 (called at once)
            response_format="wav").content)
        samples = _faded(decode_pcm(audio))
        if pieces:
            pieces.append(np.zeros(int(GAP_SECONDS * SAMPLE_RATE), dtype=np.int16))
            offset += GAP_SECONDS
        words += estimate_times(tokens, samples, offset)
        pieces.append(samples)
        offset += len(samples) / SAMPLE_RATE
    joined = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int16)
    if not joined.size or not words:
        raise ServiceError(openai_client.SERVICE, "OpenAI speech returned no audio for this text")
    media.write_wav(audio_path, joined.astype("<i2").tobytes(), SAMPLE_RATE)
    return Speech(str(audio_path), round(len(joined) / SAMPLE_RATE, 3), words)


def split_text(text: str, limit: int) -> list[list[str]]:
    """The text's words in requests of at most ``limit`` characters, cut after sentences if at all possible."""
    sentences: list[list[str]] = [[]]
    for token in text.split():
        sentences[-1].append(token)
        if _SENTENCE_END.search(token):
            sentences.append([])
    chunks: list[list[str]] = []
    for sentence in (s for s in sentences if s):
        for part in _fit(sentence, limit):
            if chunks and _length(chunks[-1]) + 1 + _length(part) <= limit:
                chunks[-1] += part
            else:
                chunks.append(part)
    return chunks


def _fit(tokens: list[str], limit: int) -> list[list[str]]:
    """A sentence too long for one request, cut after clauses, and a clause too long between words."""
    if _length(tokens) <= limit:
        return [tokens]
    clauses: list[list[str]] = [[]]
    for token in tokens:
        clauses[-1].append(token)
        if _CLAUSE_END.search(token):
            clauses.append([])
    parts: list[list[str]] = []
    for clause in (c for c in clauses if c):
        for piece in ([token] for token in clause) if _length(clause) > limit else [clause]:
            if parts and _length(parts[-1] + piece) <= limit:
                parts[-1] += piece
            else:
                parts.append(list(piece))
    return parts


def _length(tokens: list[str]) -> int:
    return sum(len(t) for t in tokens) + max(0, len(tokens) - 1)


def estimate_times(tokens: list[str], samples: np.ndarray, offset: float) -> list[Word]:
    """Spread ``tokens`` over the voiced part of ``samples``: longer words and pauses after punctuation take longer."""
    start, end = _voiced_span(samples)
    weights = [len(re.sub(r"\W", "", t)) + 1 + (3 if _SENTENCE_END.search(t) else 2 if _CLAUSE_END.search(t) else 0)
               for t in tokens]
    total = sum(weights) or 1
    words: list[Word] = []
    at = start
    for token, weight in zip(tokens, weights, strict=True):
        span = (end - start) * weight / total
        if words and not spoken(token):
            words[-1].text += " " + token  # a lone dash is not spoken: it stays with the word before
            words[-1].end = round(offset + at + span, 3)
        else:
            words.append(Word(token, round(offset + at, 3), round(offset + at + span * 0.85, 3)))
        at += span
    return words


def _voiced_span(samples: np.ndarray) -> tuple[float, float]:
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > max(300, int(np.abs(samples).max(initial=0)) // 20))
    if not loud.size:
        return 0.0, len(samples) / SAMPLE_RATE
    return loud[0] / SAMPLE_RATE, (loud[-1] + 1) / SAMPLE_RATE


def decode_pcm(data: bytes) -> np.ndarray:
    """Any audio file's bytes (WAV, MP3, ...) as 24 kHz mono 16-bit samples, decoded by ffmpeg."""
    result = subprocess.run([media.ffmpeg_exe(), "-v", "error", "-nostdin", "-i", "pipe:0", "-f", "s16le", "-ac", "1",
                             "-ar", str(SAMPLE_RATE), "pipe:1"], input=data, capture_output=True)
    if result.returncode != 0 or not result.stdout:
        raise ServiceError(openai_client.SERVICE, "OpenAI speech returned something that is not audio")
    return np.frombuffer(result.stdout, dtype="<i2").copy()


def _faded(samples: np.ndarray) -> np.ndarray:
    n = min(len(samples) // 2, int(FADE_SECONDS * SAMPLE_RATE))
    if n:
        ramp = np.linspace(0.0, 1.0, n)
        samples = samples.astype(np.float64)
        samples[:n] *= ramp
        samples[-n:] *= ramp[::-1]
    return samples.astype(np.int16)
