"""Settings, declared once: name, default, help. Read from the environment and validated at start-up."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from ttvd.errors import ConfigError


def _positive_int(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError("must be a positive integer")
    return number


def _positive_float(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise ValueError("must be a positive number")
    return number


def _aspect(value: str) -> str:
    if value not in ASPECTS:
        raise ValueError(f"must be one of {', '.join(ASPECTS)}")
    return value


def _crf(value: str) -> int:
    number = int(value)
    if not 0 <= number <= 51:
        raise ValueError("must be between 0 and 51")
    return number


def _even_height(value: str) -> int:
    number = _positive_int(value)
    if number < 64 or number > 4320 or number % 2:
        raise ValueError("must be an even number between 64 and 4320")
    return number


ASPECTS = {"9:16": (9, 16), "16:9": (16, 9), "1:1": (1, 1)}


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str
    parse: Callable[[str], Any] = str


SETTINGS: tuple[Setting, ...] = (
    Setting("TTVD_HOME", "", "Home directory holding spool/, watch/, work/ and output/ (default: the current directory)."),
    Setting("TTVD_HOST", "127.0.0.1", "Address `ttvd serve` binds."),
    Setting("TTVD_PORT", "5000", "Port `ttvd serve` binds.", _positive_int),
    Setting("TTVD_THREADS", "8", "Worker threads of the HTTP server.", _positive_int),
    Setting("TTVD_MAX_TEXT_CHARS", "20000", "Longest text accepted, in characters.", _positive_int),
    Setting("TTVD_MAX_BODY_BYTES", "1048576", "Largest HTTP request body accepted, in bytes.", _positive_int),
    Setting("TTVD_VOICE", "en-us", "eSpeak NG voice name for the offline narration."),
    Setting("TTVD_SPEECH_RATE", "165", "Offline narration speed in words per minute.", _positive_int),
    Setting("TTVD_ASPECT", "9:16", "Output aspect ratio: 9:16, 16:9 or 1:1.", _aspect),
    Setting("TTVD_HEIGHT", "1920", "Output height in pixels (even); the width follows from the aspect.", _even_height),
    Setting("TTVD_FPS", "30", "Output frames per second.", _positive_int),
    Setting("TTVD_PRESET", "veryfast", "x264 preset of the encoder."),
    Setting("TTVD_CRF", "23", "x264 constant rate factor (0-51, lower is better quality).", _crf),
    Setting("TTVD_FONT", "", "Caption font file (TTF/OTF); default: DejaVu Sans Bold if installed."),
    Setting("TTVD_POLL_SECONDS", "1.0", "How often an idle daemon looks for new jobs.", _positive_float),
    Setting("TTVD_RESCAN_SECONDS", "5.0", "How often the daemon rescans the watch folder for missed files.", _positive_float),
    Setting("TTVD_WATCH_SETTLE_SECONDS", "1.0", "How long a watched file must stay unchanged before it is taken.", _positive_float),
    Setting("TTVD_STOP_GRACE_SECONDS", "30", "On SIGTERM, how long the running job may take to finish before it is stopped and requeued.", _positive_float),
    Setting("TTVD_STALL_SECONDS", "600", "How long the daemon may go without progress (a loop round or a job step) before it counts as hung: its watchdog pings and heartbeats stop.", _positive_float),
    Setting("TTVD_MAX_ATTEMPTS", "3", "How many times a job is started before it is given up as failed.", _positive_int),
    Setting("TTVD_LOG_LEVEL", "INFO", "Logging level: DEBUG, INFO, WARNING or ERROR."),
)

_BY_NAME = {setting.name: setting for setting in SETTINGS}


class Settings:
    """Validated settings; attribute names are the setting names without ``TTVD_``, lower-cased."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = dict(values)

    def __getattr__(self, attr: str) -> Any:
        try:
            return self._values["TTVD_" + attr.upper()]
        except KeyError:
            raise AttributeError(attr) from None

    @property
    def home(self) -> Path:
        return Path(self._values["TTVD_HOME"] or os.getcwd())

    def size(self, aspect: str | None = None, height: int | None = None) -> tuple[int, int]:
        """Output (width, height) in pixels, both even."""
        aw, ah = ASPECTS[aspect or self.aspect]
        height = height or self.height
        width = round(height * aw / ah / 2) * 2
        return width, height

    def replace(self, **overrides: Any) -> "Settings":
        values = dict(self._values)
        for key, value in overrides.items():
            values["TTVD_" + key.upper()] = value
        return Settings(values)


def load(env: Mapping[str, str] | None = None, **overrides: str) -> Settings:
    """Read every setting from ``env`` (default ``os.environ``), apply ``overrides``, validate all."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = overrides.get(setting.name)
        if raw is None:
            raw = env.get(setting.name, setting.default)
        try:
            values[setting.name] = setting.parse(raw.strip()) if setting.parse is not str else raw.strip()
        except ValueError as exc:
            raise ConfigError(f"{setting.name}={raw!r} is not valid: {exc}") from None
    level = values["TTVD_LOG_LEVEL"].upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"TTVD_LOG_LEVEL={level!r} is not valid: use DEBUG, INFO, WARNING or ERROR")
    values["TTVD_LOG_LEVEL"] = level
    return Settings(values)


def describe(name: str) -> Setting:
    return _BY_NAME[name]
