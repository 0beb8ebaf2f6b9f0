"""What a job may ask for: every job option, its allowed values, and the one check of each.

A leaf module: it imports nothing of ttvd's but errors, so the settings, the HTTP facade, the
pipeline and the render engines all check a value by the same rule. A job's option overrides the
setting of the same meaning (``height`` over ``TTVD_HEIGHT``, ``speech`` over ``TTVD_SPEECH``).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from ttvd.errors import ConfigError

ASPECTS: dict[str, tuple[int, int]] = {"9:16": (9, 16), "16:9": (16, 9), "1:1": (1, 1)}
ENGINES = ("ffmpeg", "moviepy")
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
                "veryslow")
SOFTWARE_ENCODER = "libx264"
# Hardware encoders that take frames from system memory; each is probed before use.
HARDWARE_ENCODERS = ("h264_nvenc", "hevc_nvenc", "h264_qsv", "hevc_qsv", "h264_amf", "hevc_amf",
                     "h264_videotoolbox", "hevc_videotoolbox")
ENCODERS = (SOFTWARE_ENCODER, *HARDWARE_ENCODERS)
HEIGHTS = (64, 4320)   # even heights only
FPS = (1, 120)
CRF = (0, 51)

AUTO = "auto"
# Backend names per pipeline stage; ``auto`` lets keys and settings decide (see ttvd.backends).
BACKENDS: dict[str, tuple[str, ...]] = {
    "speech": ("espeak", "openai", "piper"),
    "timing": ("speech", "openai"),
    "queries": ("keywords", "openai"),
    "footage": ("local", "pexels"),
}
# How captions look, and where they sit (always inside the platforms' safe area).
CAPTION_PRESETS = ("karaoke", "highlight", "word", "classic", "none")
CAPTION_POSITIONS = ("bottom", "middle", "top")
# Music beds ttvd synthesises itself; ``auto`` picks one from the text's mood, ``none`` has no bed.
MUSIC_MOODS = ("calm", "bright", "tense", "dreamy")
TRANSITIONS = ("none", "fade", "slide", "zoom")
MUSIC_VOLUME = (0, 100)   # the bed's level in percent of full scale before ducking
MAX_TITLE_CHARS = 200
MAX_URL_CHARS = 2000
RENDER_OPTIONS = ("engine", "aspect", "height", "fps", "preset", "crf", "encoder")
LOOK_OPTIONS = ("captions", "caption_position", "music", "music_volume", "transition", "title", "voice",
                "language")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._+()-]{0,99}")  # a voice id or a music file name: no paths
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")


def choice(names: tuple[str, ...] | Mapping[str, Any]) -> Callable[[Any], str]:
    """A check that accepts exactly one of ``names``."""
    def check(value: Any) -> str:
        if not isinstance(value, str) or value not in names:
            raise ValueError(f"must be one of {', '.join(names)}")
        return value
    return check


def integer(bounds: tuple[int, int], even: bool = False) -> Callable[[Any], int]:
    """A check that accepts an integer (or its digits as text) within ``bounds``, inclusive."""
    low, high = bounds

    def check(value: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # JSON's 720.0 is the integer 720 (JSON Schema says so too)
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValueError("must be an integer")
        digits = value.strip().lstrip("+-") if isinstance(value, str) else "0"
        if not (digits.isascii() and digits.isdigit()):  # int() would also read "٣٢٠"
            raise ValueError("must be an integer")
        try:
            number = int(value)
        except ValueError:
            raise ValueError("must be an integer") from None
        if not low <= number <= high or (even and number % 2):
            raise ValueError(f"must be {'an even integer' if even else 'an integer'} from {low} to {high}")
        return number
    return check


def pattern(regex: re.Pattern[str], what: str, extra: tuple[str, ...] = ()) -> Callable[[Any], str]:
    """A check that accepts text matching ``regex`` in full (or one of ``extra``); ``what`` says what it is."""
    def check(value: Any) -> str:
        if not isinstance(value, str) or not (value in extra or regex.fullmatch(value)):
            raise ValueError(f"must be {what}")
        return value
    return check


def title(value: Any) -> str:
    """A title card's text: one line of at most MAX_TITLE_CHARS characters (empty: no title)."""
    if not isinstance(value, str) or len(value) > MAX_TITLE_CHARS or "\n" in value:
        raise ValueError(f"must be one line of at most {MAX_TITLE_CHARS} characters")
    return value.strip()


def url(value: Any) -> str:
    """An http(s) URL with a host, in printable ASCII without blanks or credentials, at most MAX_URL_CHARS.

    Only its form is checked here; where it may lead (no private addresses) is decided at delivery.
    """
    if not isinstance(value, str) or len(value) > MAX_URL_CHARS or not value.isascii() or not value.isprintable() \
            or " " in value:
        raise ValueError(f"must be an http or https URL of at most {MAX_URL_CHARS} printable ASCII characters, "
                         "without blanks")
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 (parsing it is the check)
    except ValueError:
        raise ValueError("must have a port from 0 to 65535") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http or https URL with a host")
    if "@" in parts.netloc:
        raise ValueError("must not carry credentials (user:password@)")
    return value


def backend(stage: str) -> Callable[[Any], str]:
    """A check for the backend name of ``stage``, ``auto`` included."""
    return choice((*BACKENDS[stage], AUTO))


CHECKS: dict[str, Callable[[Any], Any]] = {
    "engine": choice(ENGINES),
    "aspect": choice(ASPECTS),
    "height": integer(HEIGHTS, even=True),
    "fps": integer(FPS),
    "preset": choice(X264_PRESETS),
    "crf": integer(CRF),
    "encoder": choice(ENCODERS),
    **{stage: backend(stage) for stage in BACKENDS},
    "caption_position": choice(CAPTION_POSITIONS),
    "music": pattern(_NAME, f"none, auto, a mood ({', '.join(MUSIC_MOODS)}) or a file of the music folder",
                     ("none", AUTO, *MUSIC_MOODS)),
    "music_volume": integer(MUSIC_VOLUME),
    "transition": choice(TRANSITIONS),
    "title": title,
    "voice": pattern(_NAME, "a voice id (see `ttvd voices`) or auto", (AUTO,)),
    "language": pattern(_LANGUAGE, "a language code such as en, fr or pt-br, or auto", (AUTO,)),
    "callback_url": url,  # where this job's events are POSTed (ttvd.webhooks)
}
OPTION_NAMES = (*CHECKS, "captions")


def check(name: str, value: Any) -> Any:
    """``value`` converted for option ``name``; ValueError saying what is allowed."""
    return CHECKS[name](value)


def validate(options: Any) -> dict[str, Any]:
    """A job's ``options`` object, checked and converted; ConfigError fit for a 400 answer otherwise.

    ``captions`` names the caption preset; a timing backend name there (``openai``, ``speech``) is
    the older spelling of ``timing`` and is moved to it, so existing clients keep working.
    """
    if not isinstance(options, dict):
        raise ConfigError("Field 'options' must be an object")
    checked: dict[str, Any] = {}
    for name, value in options.items():
        if name == "captions" and value in (*BACKENDS["timing"], AUTO):
            name = "timing"
        if name == "timing" and "timing" in checked:
            raise ConfigError("Options 'captions' and 'timing' both name the caption timing")
        try:
            checked[name] = choice(CAPTION_PRESETS)(value) if name == "captions" else check(name, value)
        except KeyError:
            raise ConfigError(f"Unknown option {name!r}; known options: {', '.join(OPTION_NAMES)}") from None
        except ValueError as exc:
            raise ConfigError(f"Option {name!r} {exc}") from None
    return checked


def frame_size(aspect: str, height: int) -> tuple[int, int]:
    """Output (width, height) in pixels for ``aspect`` at ``height``, both even."""
    aw, ah = ASPECTS[aspect]
    return round(height * aw / ah / 2) * 2, height
