"""The voice catalogue: every voice ttvd can speak with now, and the choice of one for a job.

eSpeak NG's voices come from the library itself; OpenAI's are listed when OPENAI_API_KEY is set;
Piper's when the ``piper`` extra is installed with a voice. A job's ``voice`` names one by id, or is
``auto``: the speech backend's best voice for the text's language (``language``, or detected offline
from the text). The daemon publishes the catalogue into the spool at start (``publish``), so the
HTTP facade serves it without loading any engine; ``ttvd voices`` builds it directly.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from py3langid.langid import MODEL_FILE, LanguageIdentifier

from ttvd import atomic
from ttvd.backends import piper
from ttvd.config import Settings
from ttvd.errors import StageError, TtvdError
from ttvd.options import AUTO
from ttvd.pipeline import espeak

log = logging.getLogger(__name__)

# The voices of OpenAI's speech endpoint; each speaks whatever language the text is in.
OPENAI_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse")
ANY_LANGUAGE = "mul"  # the ISO 639 code for "many languages"
FALLBACK_LANGUAGE = "en"  # for a text too short to tell, and a language no voice speaks
FALLBACK_VOICE = "en-us"
MIN_CONFIDENCE = 0.2  # below this, a detection is a guess (one or two words): the fallback is read instead
# Where a language's best-ranked voice is not the one ttvd has always used for it.
_FAVOURITES = {"en": "en-us"}
_NOT_LETTERS = re.compile(r"[\W\d_]+")  # digits and signs say nothing of a language, and blur short texts


@dataclass(frozen=True)
class Voice:
    id: str
    name: str
    language: str                                  # its own language tag (en-us, fr-fr), or ``mul``
    backend: str                                   # espeak, piper or openai
    offline: bool
    languages: tuple[tuple[str, int], ...] = ()    # every tag it reads, with a rank (lower fits better)
    model: str = ""                                # a Piper voice's .onnx file

    def public(self) -> dict[str, Any]:
        """What ``ttvd voices --json`` and ``GET /api/v1/voices`` show of it."""
        return {"id": self.id, "name": self.name, "language": self.language, "backend": self.backend,
                "offline": self.offline}


@dataclass(frozen=True)
class Choice:
    """The voice a job is read with, the language it reads, and why (for the job's log)."""

    voice: Voice
    language: str
    reason: str


def catalogue(settings: Settings) -> list[Voice]:
    """Every voice available now, eSpeak NG's first."""
    voices = [Voice(v.id, v.name, v.languages[0][0] if v.languages else v.id, "espeak", True, v.languages)
              for v in espeak.list_voices()]
    if piper.installed():
        voices += [Voice(v.id, v.name, v.language, "piper", True,
                         ((v.language, v.rank), (v.language.split("-")[0], v.rank)), str(v.model))
                   for v in piper.find_voices(settings.voices_dir)]
    if settings.openai_api_key:
        names = OPENAI_VOICES + (() if settings.openai_voice in OPENAI_VOICES else (settings.openai_voice,))
        voices += [openai_voice(name) for name in names]
    return voices


def openai_voice(name: str) -> Voice:
    """The OpenAI (or OpenAI-compatible server's) voice called ``name``."""
    return Voice(name, name.capitalize(), ANY_LANGUAGE, "openai", False)


def listing(voices: list[Voice]) -> dict[str, Any]:
    """The catalogue as JSON: ``{"voices": [...], "published_at": seconds}``."""
    return {"voices": [voice.public() for voice in voices], "published_at": int(time.time())}


def publish(settings: Settings, path: Path) -> None:
    """Write the catalogue to ``path`` atomically (the daemon's spool/voices.json), for the HTTP facade.

    A catalogue that cannot be written is a warning, not a reason to stop the daemon.
    """
    try:
        atomic.write_json(path, listing(catalogue(settings)))
    except (TtvdError, OSError) as exc:
        log.warning("the voice catalogue was not published to %s: %s", path, exc)


def find(voices: list[Voice], voice_id: str) -> Voice | None:
    """The voice called ``voice_id`` (any case), or None."""
    wanted = voice_id.lower()
    return next((voice for voice in voices if voice.id.lower() == wanted), None)


def choose(voices: list[Voice], voice: str, language: str, text: str, backend: str) -> Choice:
    """The voice to read ``text`` with; StageError for a voice that is not in the catalogue.

    A voice named by id is used as it is, reading its own language unless ``language`` says otherwise.
    With ``auto``, ``backend``'s best voice for the language is chosen, else eSpeak NG's.
    """
    if voice != AUTO:
        found = find(voices, voice)
        if found is None:
            raise StageError("speech", f"There is no voice {voice!r}: `ttvd voices` lists the voices available")
        if language != AUTO:
            return Choice(found, language, "the voice and language asked for")
        if found.language == ANY_LANGUAGE:
            return Choice(found, detect(text, spoken_languages(voices))[0], "the voice asked for")
        return Choice(found, found.language, "the voice asked for")
    wanted, reason = (language, "the language asked for") if language != AUTO else \
        detect(text, spoken_languages(voices))
    for engine in dict.fromkeys((backend, "espeak")):
        best = best_voice(voices, wanted, engine)
        if best is not None:
            return Choice(best, wanted, reason if engine == backend else f"{reason}; no {backend} voice reads it")
    fallback = find(voices, FALLBACK_VOICE)
    assert fallback is not None  # eSpeak NG always has it
    return Choice(fallback, FALLBACK_LANGUAGE, f"no voice reads {wanted!r}")


def best_voice(voices: list[Voice], language: str, backend: str) -> Voice | None:
    """``backend``'s voice that fits ``language`` best: the exact tag, else its primary subtag."""
    primary = language.split("-")[0]
    ranked = []
    for order, voice in enumerate(v for v in voices if v.backend == backend):
        for tag, rank in voice.languages:
            if tag == language or tag == primary:
                favourite = _FAVOURITES.get(language) == voice.id
                ranked.append((tag != language, not favourite, rank, order, voice))
    return min(ranked, key=lambda entry: entry[:4])[4] if ranked else None


def spoken_languages(voices: list[Voice]) -> frozenset[str]:
    """The primary language subtags the offline voices read."""
    return frozenset(tag.split("-")[0] for voice in voices if voice.offline for tag, _ in voice.languages)


# -- language detection ---------------------------------------------------------------------------

_detector_lock = threading.Lock()
_detector: Any = None
_detector_labels: frozenset[str] = frozenset()      # every language its model knows
_detector_languages: frozenset[str] = frozenset()   # the ones it is restricted to now


def detect(text: str, languages: frozenset[str]) -> tuple[str, str]:
    """The language of ``text`` among ``languages`` (primary subtags), and a reason for the log.

    py3langid's model ships in its wheel, so this works offline. A text too short to tell reads as English.
    """
    global _detector, _detector_labels, _detector_languages
    with _detector_lock:
        if _detector is None:  # loaded on first use: half a second
            _detector = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
            _detector_labels = frozenset(_detector.labels)
        if languages != _detector_languages:
            _detector.set_languages(sorted(languages & _detector_labels) or None)
            _detector_languages = languages
        found, confidence = _detector.classify(_NOT_LETTERS.sub(" ", text))
    if confidence < MIN_CONFIDENCE:
        return FALLBACK_LANGUAGE, f"the text is too short to tell its language ({found}?), so {FALLBACK_LANGUAGE}"
    return found, f"{found} detected in the text (confidence {confidence:.2f})"
