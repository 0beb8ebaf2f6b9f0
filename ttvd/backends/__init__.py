"""Backends, chosen by name per stage from one small table.

Each stage has an offline default and, where a key is set, an online backend. A setting
(``TTVD_SPEECH`` and friends) or a job's option of the same name can force either. The names a
job may use are checked in ``ttvd.options``; this module decides and imports backends by name.
When an online service stays unavailable, ``falls_back`` says whether the stage goes on offline.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ttvd.config import Settings
from ttvd.errors import ServiceUnavailable
from ttvd.options import AUTO


@dataclass(frozen=True)
class StageBackends:
    option: str                  # the job option and setting attribute that force a backend
    offline: str                 # the default without keys, and the fallback when a service is down
    online: str
    key: str                     # the settings attribute whose presence selects ``online``
    table: Mapping[str, str]     # backend name -> "module:function"


STAGES: dict[str, StageBackends] = {
    "speech": StageBackends("speech", "espeak", "openai", "openai_api_key", {
        "espeak": "ttvd.pipeline.speech:speak_offline",
        "openai": "ttvd.pipeline.speech:speak_openai",
        "piper": "ttvd.pipeline.speech:speak_piper",
    }),
    "captions": StageBackends("timing", "speech", "openai", "openai_api_key", {
        "speech": "ttvd.pipeline.captions:speech_word_times",
        "openai": "ttvd.backends.openai_transcribe:word_times",
    }),
    "queries": StageBackends("queries", "keywords", "openai", "openai_api_key", {
        "keywords": "ttvd.pipeline.queries:keywords",
        "openai": "ttvd.backends.openai_queries:queries",
    }),
    "footage": StageBackends("footage", "local", "pexels", "pexels_api_key", {
        "local": "ttvd.backends.media_folder:MediaFolder",
        "pexels": "ttvd.backends.pexels:PexelsSource",
    }),
}


@dataclass(frozen=True)
class Choice:
    """The backend a stage will use, and why (shown by ``ttvd doctor`` and in the job's log)."""

    stage: str
    name: str
    reason: str
    default: bool = False  # the offline default, chosen because nothing asked for another
    forced: bool = False   # named by a job option or a setting, not chosen by ``auto``

    @property
    def online(self) -> bool:
        return self.name == STAGES[self.stage].online


def choose(stage: str, settings: Settings, options: Mapping[str, Any] | None = None,
           speech: str | None = None) -> Choice:
    """Which backend ``stage`` uses: job option, then setting, then the key that is set, else offline.

    ``speech`` is the speech stage's backend: caption timing follows it when not forced, because
    only the offline engine reports when each word is spoken.
    """
    spec = STAGES[stage]
    forced = (options or {}).get(spec.option, AUTO)
    if forced != AUTO:
        return Choice(stage, forced, f"the job's options ask for {forced}", forced=True)
    setting = getattr(settings, spec.option)
    if setting != AUTO:
        return Choice(stage, setting, f"TTVD_{spec.option.upper()}={setting}", forced=True)
    if stage == "captions":
        if speech == STAGES["speech"].online:
            return Choice(stage, spec.online, "the narration comes from OpenAI, which reports no word times")
        return Choice(stage, spec.offline, "the speech engine reports when each word is spoken", default=True)
    key = spec.key.upper()
    if getattr(settings, spec.key):
        return Choice(stage, spec.online, f"{key} is set")
    return Choice(stage, spec.offline, f"{key} is not set", default=True)


def choices(settings: Settings, options: Mapping[str, Any] | None = None) -> dict[str, Choice]:
    """The choice of every stage, in pipeline order."""
    speech = choose("speech", settings, options)
    return {"speech": speech,
            "captions": choose("captions", settings, options, speech.name),
            "queries": choose("queries", settings, options),
            "footage": choose("footage", settings, options)}


def falls_back(choice: Choice, settings: Settings) -> bool:
    """Whether a job goes on with the stage's offline backend when ``choice``'s service stays unavailable.

    ``TTVD_FALLBACK=auto`` (the default) falls back only from a backend ``auto`` chose: a backend the
    user named by a setting or a job option fails the job instead of silently becoming another.
    """
    if choice.name == STAGES[choice.stage].offline:
        return False
    return settings.fallback == "offline" or (settings.fallback == AUTO and not choice.forced)


def no_fallback(choice: Choice, settings: Settings, error: ServiceUnavailable) -> ServiceUnavailable:
    """``error``, saying why the job does not fall back and which setting would let it."""
    offline = STAGES[choice.stage].offline
    why = "TTVD_FALLBACK=never" if settings.fallback == "never" else choice.reason
    return ServiceUnavailable(error.service, f"{error}; not falling back to {offline} because {why} "
                              "(TTVD_FALLBACK=offline allows it)", error.status)


def resolve(stage: str, name: str) -> Callable[..., Any]:
    """The function (or class) that implements backend ``name`` of ``stage``.

    Imported by name on first use, so a job that stays offline never loads a vendor SDK.
    """
    module, _, attr = STAGES[stage].table[name].partition(":")
    return getattr(importlib.import_module(module), attr)
