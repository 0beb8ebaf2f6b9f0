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


def _non_negative_int(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError("must be zero or a positive integer")
    return number


def _backend(stage: str, value: str) -> str:
    from ttvd.backends import check_choice

    return check_choice(stage, value, allow_auto=True)


ASPECTS = {"9:16": (9, 16), "16:9": (16, 9), "1:1": (1, 1)}


def _render_option(name: str) -> Callable[[str], Any]:
    """The parser of a setting that is also a job's render option (one rule for both)."""
    def parse(value: str) -> Any:
        from ttvd.render.options import check

        return check(name, value)
    return parse


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
    Setting("TTVD_PRESET", "veryfast", "x264 preset of the encoder (ultrafast ... veryslow); a hardware encoder gets the nearest preset of its own.", _render_option("preset")),
    Setting("TTVD_CRF", "23", "x264 constant rate factor (0-51, lower is better quality).", _crf),
    Setting("TTVD_ENGINE", "ffmpeg", "Render engine: ffmpeg (one pass, fast) or moviepy (the familiar composition, slower).", _render_option("engine")),
    Setting("TTVD_ENCODER", "libx264", "Video encoder: libx264, or a hardware one (h264_nvenc, h264_qsv, h264_amf, ...) that is probed first and falls back to libx264 when unusable.", _render_option("encoder")),
    Setting("TTVD_FONT", "", "Caption font file (TTF/OTF); default: DejaVu Sans Bold if installed."),
    Setting("TTVD_POLL_SECONDS", "1.0", "How often an idle daemon looks for new jobs.", _positive_float),
    Setting("TTVD_RESCAN_SECONDS", "5.0", "How often the daemon rescans the watch folder for missed files.", _positive_float),
    Setting("TTVD_WATCH_SETTLE_SECONDS", "1.0", "How long a watched file must stay unchanged before it is taken.", _positive_float),
    Setting("TTVD_STOP_GRACE_SECONDS", "30", "On SIGTERM, how long the running job may take to finish before it is stopped and requeued.", _positive_float),
    Setting("TTVD_STALL_SECONDS", "600", "How long the daemon may go without progress (a loop round or a job step) before it counts as hung: its watchdog pings and heartbeats stop.", _positive_float),
    Setting("TTVD_MAX_ATTEMPTS", "3", "How many times a job is started before it is given up as failed.", _positive_int),
    Setting("TTVD_LEASE_SECONDS", "120", "A claimed job whose daemon has not renewed its heartbeat for this long is taken back into the queue (the heartbeat is renewed every 10 s or a quarter of this, whichever is sooner).", _positive_float),
    Setting("TTVD_LOG_LEVEL", "INFO", "Logging level: DEBUG, INFO, WARNING or ERROR."),
    # Online backends: each stage picks one by name (see ttvd/backends); keys are never written anywhere.
    Setting("TTVD_SPEECH", "auto", "Speech backend: auto (openai when OPENAI_API_KEY is set, else espeak), espeak or openai.",
            lambda v: _backend("speech", v)),
    Setting("TTVD_CAPTIONS", "auto", "Caption timing: auto (openai when the speech came from OpenAI, else speech), speech "
            "(the speech engine's word times) or openai (transcription with word timestamps).",
            lambda v: _backend("captions", v)),
    Setting("TTVD_QUERIES", "auto", "Search queries: auto (openai when OPENAI_API_KEY is set, else keywords), keywords or openai.",
            lambda v: _backend("queries", v)),
    Setting("TTVD_FOOTAGE", "auto", "Footage: auto (pexels when PEXELS_API_KEY is set, else local), local (media folder, "
            "then generated backgrounds) or pexels (media folder, then Pexels, then generated).",
            lambda v: _backend("footage", v)),
    Setting("TTVD_MEDIA_DIR", "", "Folder of your own video clips and still images, matched to passages by file name and tags."),
    Setting("TTVD_CACHE_DIR", "", "Shared download cache (default: cache/ under the home)."),
    Setting("TTVD_HTTP_TIMEOUT", "30", "Seconds to wait to connect to, or hear from, an online service.", _positive_float),
    Setting("TTVD_HTTP_RETRIES", "3", "Retries of a request refused for a rate limit, a timeout or a server error.",
            _non_negative_int),
    Setting("TTVD_RETRY_BACKOFF", "1.0", "Seconds before the first retry; each further retry waits twice as long.",
            _positive_float),
    Setting("TTVD_RETRY_MAX_WAIT", "60", "Longest wait before a retry, in seconds, even when a service asks for more.",
            _positive_float),
    Setting("TTVD_DOWNLOAD_MAX_BYTES", "209715200", "Largest footage file downloaded, in bytes.", _positive_int),
    Setting("OPENAI_API_KEY", "", "OpenAI key: when set, speech, caption timing and queries use OpenAI."),
    Setting("OPENAI_BASE_URL", "", "Base URL of an OpenAI-compatible server (default: the OpenAI API)."),
    Setting("OPENAI_SPEECH_MODEL", "tts-1", "Model of the speech endpoint."),
    Setting("OPENAI_VOICE", "alloy", "Voice of the speech endpoint."),
    Setting("OPENAI_SPEECH_MAX_CHARS", "4000", "Longest input sent in one speech request; longer texts are split at "
            "sentence ends.", _positive_int),
    Setting("OPENAI_TRANSCRIBE_MODEL", "whisper-1", "Model of the transcription endpoint (must give word timestamps)."),
    Setting("OPENAI_CHAT_MODEL", "gpt-4o-mini", "Chat model that writes the footage search queries."),
    Setting("PEXELS_API_KEY", "", "Pexels key: when set, footage comes from Pexels video search."),
    Setting("PEXELS_API_URL", "https://api.pexels.com", "Base URL of the Pexels API."),
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

    def get(self, name: str) -> Any:
        """The value of the setting called ``name`` in full (``OPENAI_API_KEY``, ``TTVD_HOME``)."""
        return self._values[name]

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


def markdown_table() -> str:
    """The settings as the Markdown table of ``docs/settings.md`` (``python -m ttvd.config`` prints it)."""
    rows = ["| name | default | meaning |", "|---|---|---|"]
    rows += [f"| `{s.name}` | `{s.default}` | {s.help} |" for s in SETTINGS]
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
