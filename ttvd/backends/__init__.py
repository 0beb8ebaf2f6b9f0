"""Backends, chosen by name per stage from one small table.

Each stage has an offline default and, where a key is set, an online backend. A setting
(``TTVD_SPEECH`` and friends) or a job's ``options`` can force either by name. This module imports
no vendor SDK, so the HTTP facade can validate job options with it.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ttvd.errors import ConfigError


@dataclass(frozen=True)
class StageBackends:
    setting: str                 # the setting that forces a backend, e.g. TTVD_SPEECH
    offline: str                 # the default without keys, and the fallback when a service is down
    online: str
    key: str                     # the key whose presence selects ``online``
    table: Mapping[str, str]     # backend name -> "module:function"


STAGES: dict[str, StageBackends] = {
    "speech": StageBackends("TTVD_SPEECH", "espeak", "openai", "OPENAI_API_KEY", {
        "espeak": "ttvd.pipeline.speech:speak_offline",
        "openai": "ttvd.backends.openai_speech:speak",
    }),
    "captions": StageBackends("TTVD_CAPTIONS", "speech", "openai", "OPENAI_API_KEY", {
        "speech": "ttvd.pipeline.captions:speech_word_times",
        "openai": "ttvd.backends.openai_transcribe:word_times",
    }),
    "queries": StageBackends("TTVD_QUERIES", "keywords", "openai", "OPENAI_API_KEY", {
        "keywords": "ttvd.pipeline.queries:keywords",
        "openai": "ttvd.backends.openai_queries:queries",
    }),
    "footage": StageBackends("TTVD_FOOTAGE", "local", "pexels", "PEXELS_API_KEY", {
        "local": "ttvd.backends.media_folder:MediaFolder",
        "pexels": "ttvd.backends.pexels:PexelsSource",
    }),
}
AUTO = "auto"


@dataclass(frozen=True)
class Choice:
    """The backend a stage will use, and why (shown by ``ttvd doctor`` and in the job's log)."""

    stage: str
    name: str
    reason: str
    default: bool = False  # the offline default, chosen because nothing asked for another


    @property
    def online(self) -> bool:
        return self.name == STAGES[self.stage].online


def check_choice(stage: str, value: str, allow_auto: bool = False) -> str:
    """``value`` if it names a backend of ``stage``; ValueError naming the choices otherwise."""
    names = list(STAGES[stage].table) + ([AUTO] if allow_auto else [])
    if value not in names:
        raise ValueError(f"must be one of {', '.join(names)}")
    return value


def validate_options(options: Any) -> dict[str, Any]:
    """A job's ``options`` object, checked: backends per stage (``{"speech": "openai"}``) and render options.

    Raises ConfigError with a message fit for a 400 answer on an unknown option or value.
    """
    from ttvd.render import options as render_options

    if not isinstance(options, dict):
        raise ConfigError("Field 'options' must be an object")
    known = list(STAGES) + list(render_options.OPTION_NAMES)
    checked = dict(options)
    checked.update(render_options.validate(options))
    for name, value in options.items():
        if name in render_options.OPTION_NAMES:
            continue
        if name not in STAGES:
            raise ConfigError(f"Unknown option {name!r}; known options: {', '.join(known)}")
        if not isinstance(value, str):
            raise ConfigError(f"Option {name!r} must be a string")
        try:
            check_choice(name, value, allow_auto=True)
        except ValueError as exc:
            raise ConfigError(f"Option {name!r} {exc}") from None
    return checked


def choose(stage: str, settings, options: Mapping[str, Any] | None = None,
           speech: str | None = None) -> Choice:
    """Which backend ``stage`` uses: job option, then setting, then the key that is set, else offline.

    ``speech`` is the speech stage's backend: caption timing follows it when not forced, because
    only the offline engine reports when each word is spoken.
    """
    spec = STAGES[stage]
    forced = (options or {}).get(stage, AUTO)
    if forced != AUTO:
        return Choice(stage, forced, f"the job's options ask for {forced}")
    setting = settings.get(spec.setting)
    if setting != AUTO:
        return Choice(stage, setting, f"{spec.setting}={setting}")
    if stage == "captions":
        if speech == STAGES["speech"].online:
            return Choice(stage, spec.online, "the narration comes from OpenAI, which reports no word times")
        return Choice(stage, spec.offline, "the speech engine reports when each word is spoken", default=True)
    if settings.get(spec.key):
        return Choice(stage, spec.online, f"{spec.key} is set")
    return Choice(stage, spec.offline, f"{spec.key} is not set", default=True)


def choices(settings, options: Mapping[str, Any] | None = None) -> dict[str, Choice]:
    """The choice of every stage, in pipeline order."""
    speech = choose("speech", settings, options)
    return {"speech": speech,
            "captions": choose("captions", settings, options, speech.name),
            "queries": choose("queries", settings, options),
            "footage": choose("footage", settings, options)}


def resolve(stage: str, name: str) -> Callable:
    """The function (or class) that implements backend ``name`` of ``stage``."""
    module, _, attr = STAGES[stage].table[name].partition(":")
    return getattr(importlib.import_module(module), attr)
