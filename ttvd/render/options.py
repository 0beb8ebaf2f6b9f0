"""Render options of a job (``engine``, ``aspect``, ``height``, ``fps``, ``preset``, ``crf``, ``encoder``).

Pure and light: the HTTP facade imports it to answer 400 on a bad option before a job is queued.
A job's option overrides the setting of the same name (``TTVD_ENGINE``, ``TTVD_ASPECT``, ...).
"""
from __future__ import annotations

from typing import Any, Mapping

from ttvd.config import ASPECTS
from ttvd.errors import ConfigError

ENGINE_NAMES = ("ffmpeg", "moviepy")
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
                "veryslow")
# Hardware encoders that take frames from system memory; each is probed before use.
HARDWARE_ENCODERS = ("h264_nvenc", "hevc_nvenc", "h264_qsv", "hevc_qsv", "h264_amf", "hevc_amf",
                     "h264_videotoolbox", "hevc_videotoolbox")
ENCODERS = ("libx264", *HARDWARE_ENCODERS)


def _choice(names: tuple[str, ...] | dict) -> Any:
    def check(value: Any) -> str:
        if not isinstance(value, str) or value not in names:
            raise ValueError(f"must be one of {', '.join(names)}")
        return value
    return check


def _integer(low: int, high: int, even: bool = False) -> Any:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValueError("must be an integer")
        try:
            number = int(value)
        except ValueError:
            raise ValueError("must be an integer") from None
        if not low <= number <= high or (even and number % 2):
            raise ValueError(f"must be {'an even integer' if even else 'an integer'} from {low} to {high}")
        return number
    return check


CHECKS = {
    "engine": _choice(ENGINE_NAMES),
    "aspect": _choice(ASPECTS),
    "height": _integer(64, 4320, even=True),
    "fps": _integer(1, 120),
    "preset": _choice(X264_PRESETS),
    "crf": _integer(0, 51),
    "encoder": _choice(ENCODERS),
}
OPTION_NAMES = tuple(CHECKS)


def check(name: str, value: Any) -> Any:
    """``value`` converted for render option ``name``; ValueError saying what is allowed."""
    return CHECKS[name](value)


def validate(options: Mapping[str, Any]) -> dict[str, Any]:
    """The render options among ``options``, checked and converted; other keys are left to their owners.

    Raises ConfigError with a message fit for a 400 answer.
    """
    checked = {}
    for name in OPTION_NAMES:
        if name in options:
            try:
                checked[name] = check(name, options[name])
            except ValueError as exc:
                raise ConfigError(f"Option {name!r} {exc}") from None
    return checked


def size(aspect: str, height: int) -> tuple[int, int]:
    """Output (width, height) in pixels, both even."""
    aw, ah = ASPECTS[aspect]
    return round(height * aw / ah / 2) * 2, height


def effective(settings: Any, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every render option for a job: its own ``options`` over the settings (``TTVD_ENGINE`` ...)."""
    chosen = {name: getattr(settings, name) for name in OPTION_NAMES}
    chosen.update(validate(options or {}))
    return chosen
