"""Settings, declared once: each field of ``Settings`` names its variable, default, help and check.

``load()`` reads every setting from the environment and validates all of them at start-up, so a bad
value stops a command at once with a message naming the variable. ``Settings`` is frozen and typed;
``SETTINGS`` (the table the docs are generated from) is read off its fields. Values a job may also
ask for are checked by the same rule as the job option (``ttvd.options``).
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ttvd import options
from ttvd.errors import ConfigError


@dataclass(frozen=True)
class Setting:
    name: str                      # the environment variable
    default: str
    help: str
    parse: Callable[[str], Any] = str
    secret: bool = False           # never shown: not in repr, not in logs


def _setting(name: str, default: str, help: str, parse: Callable[[str], Any] = str,
             secret: bool = False) -> Any:
    return field(metadata={"setting": Setting(name, default, help, parse, secret)}, repr=not secret)


def _positive_int(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError("must be a positive integer")
    return number


def _non_negative_int(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError("must be zero or a positive integer")
    return number


def _positive_float(value: str) -> float:
    number = float(value)
    if not 0 < number < float("inf"):
        raise ValueError("must be a positive number")
    return number


def _flag(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("", "0", "false", "no", "off"):
        return False
    raise ValueError("must be 1/true/yes/on or 0/false/no/off")


def _non_negative_float(value: str) -> float:
    number = float(value)
    if not 0 <= number < float("inf"):
        raise ValueError("must be zero or a positive number")
    return number


def _names(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _tokens(value: str) -> tuple[str, ...]:
    """Comma-separated tokens, or the path of a file holding one token per line (``#`` comments)."""
    if value.startswith(("/", "~", "./")):
        path = Path(value).expanduser()
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ValueError(f"the token file cannot be read: {exc.strerror or exc}") from None
        tokens = tuple(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))
        if not tokens:
            raise ValueError("the token file holds no token")
    else:
        tokens = _names(value)
    for token in tokens:
        if len(token) < 16 or not token.isascii() or not token.isprintable() or " " in token:
            raise ValueError("each token must be at least 16 printable ASCII characters without spaces")
    return tokens


def _home(value: str) -> Path:
    return Path(value or os.getcwd())


def _optional_path(value: str) -> Path | None:
    return Path(value).expanduser() if value else None


def _log_level(value: str) -> str:
    return options.choice(("DEBUG", "INFO", "WARNING", "ERROR"))(value.upper())


def _captions(value: str) -> str:
    # A timing backend name is the older spelling of TTVD_TIMING; load() moves it there.
    return options.choice((*options.CAPTION_PRESETS, *options.BACKENDS["timing"], options.AUTO))(value)


@dataclass(frozen=True)
class Settings:
    """Validated settings; build them with ``load()``."""

    home: Path = _setting("TTVD_HOME", "", "Home directory holding spool/, watch/, work/ and output/ "
                          "(default: the current directory).", _home)
    host: str = _setting("TTVD_HOST", "127.0.0.1", "Address `ttvd serve` binds.")
    port: int = _setting("TTVD_PORT", "5000", "Port `ttvd serve` binds (1-65535).",
                         options.integer((1, 65535)))
    threads: int = _setting("TTVD_THREADS", "8", "Worker threads of the HTTP server.", _positive_int)
    max_text_chars: int = _setting("TTVD_MAX_TEXT_CHARS", "20000", "Longest text accepted, in characters.",
                                   _positive_int)
    max_body_bytes: int = _setting("TTVD_MAX_BODY_BYTES", "1048576",
                                   "Largest HTTP request body accepted, in bytes.", _positive_int)
    request_timeout: float = _setting("TTVD_REQUEST_TIMEOUT", "10", "Seconds a request may take to arrive "
                                      "whole, from the connection's opening (or, kept alive, from its first "
                                      "byte); a slower client is disconnected, so slow clients cannot hold "
                                      "every connection.",
                                      _positive_float)
    voice: str = _setting("TTVD_VOICE", "auto", "Narration voice: an id from `ttvd voices`, or `auto` (a voice "
                          "for the text's language).", options.CHECKS["voice"])
    voices_dir: Path | None = _setting("TTVD_VOICES_DIR", "", "Folder of Piper voices (`.onnx` with their "
                                       "`.onnx.json`), for `pip install 'ttvd[piper]'`.", _optional_path)
    speech_rate: int = _setting("TTVD_SPEECH_RATE", "165", "Offline narration speed in words per minute.",
                                _positive_int)
    aspect: str = _setting("TTVD_ASPECT", "9:16", "Output aspect ratio: 9:16, 16:9 or 1:1.",
                           options.CHECKS["aspect"])
    height: int = _setting("TTVD_HEIGHT", "1920", "Output height in pixels (even, 64-4320); the width "
                           "follows from the aspect.", options.CHECKS["height"])
    fps: int = _setting("TTVD_FPS", "30", "Output frames per second (1-120).", options.CHECKS["fps"])
    preset: str = _setting("TTVD_PRESET", "veryfast", "x264 preset of the encoder (ultrafast ... veryslow); "
                           "a hardware encoder gets the nearest preset of its own.", options.CHECKS["preset"])
    crf: int = _setting("TTVD_CRF", "23", "x264 constant rate factor (0-51, lower is better quality).",
                        options.CHECKS["crf"])
    engine: str = _setting("TTVD_ENGINE", "ffmpeg", "Render engine: `ffmpeg` (one pass, fast) or `moviepy` "
                           "(the familiar composition, slower).", options.CHECKS["engine"])
    encoder: str = _setting("TTVD_ENCODER", "libx264", "Video encoder: `libx264`, or a hardware one "
                            "(`h264_nvenc`, `h264_qsv`, `h264_amf`, ...) that is probed first and falls back "
                            "to `libx264` when unusable.", options.CHECKS["encoder"])
    font: Path | None = _setting("TTVD_FONT", "", "Caption font file (TTF/OTF); default: the bundled Noto "
                                 "Sans Bold.", _optional_path)
    language: str = _setting("TTVD_LANGUAGE", "auto", "Language of the narration (`en`, `fr`, `pt-br`, ...); "
                             "`auto` detects it from the text.", options.CHECKS["language"])
    captions: str = _setting("TTVD_CAPTIONS", "karaoke", "Caption preset: `karaoke` (each word fills as it "
                             "is spoken), `highlight`, `word`, `classic` or `none`. A timing backend name here "
                             "(`speech`, `openai`, `auto`) is the older spelling of `TTVD_TIMING`.", _captions)
    caption_position: str = _setting("TTVD_CAPTION_POSITION", "bottom", "Where captions sit, inside the "
                                     "platforms' safe area: `bottom`, `middle` or `top`.",
                                     options.CHECKS["caption_position"])
    music: str = _setting("TTVD_MUSIC", "auto", "Music bed: `none`, `auto` (chosen from the text's mood), a mood "
                          "(`calm`, `bright`, `tense`, `dreamy`) or a file name in `TTVD_MUSIC_DIR`.",
                          options.CHECKS["music"])
    music_volume: int = _setting("TTVD_MUSIC_VOLUME", "30", "Level of the music bed in percent (0-100), before "
                                 "it is ducked under the voice.", options.CHECKS["music_volume"])
    music_dir: Path | None = _setting("TTVD_MUSIC_DIR", "", "Folder of your own music files, chosen by the "
                                      "`music` option by name.", _optional_path)
    transition: str = _setting("TTVD_TRANSITION", "fade", "Transition between background clips: `none`, "
                               "`fade`, `slide` or `zoom`.", options.CHECKS["transition"])
    title: str = _setting("TTVD_TITLE", "", "Title card shown large over the first seconds (empty: none).",
                          options.CHECKS["title"])
    poll_seconds: float = _setting("TTVD_POLL_SECONDS", "1.0", "How often an idle daemon looks for new jobs.",
                                   _positive_float)
    rescan_seconds: float = _setting("TTVD_RESCAN_SECONDS", "5.0", "How often the daemon rescans the watch "
                                     "folder for missed files.", _positive_float)
    watch_settle_seconds: float = _setting("TTVD_WATCH_SETTLE_SECONDS", "1.0", "How long a watched file must "
                                           "stay unchanged before it is taken.", _positive_float)
    stop_grace_seconds: float = _setting("TTVD_STOP_GRACE_SECONDS", "30", "On SIGTERM, how long the running "
                                         "job may take to finish before it is stopped and requeued.",
                                         _positive_float)
    stall_seconds: float = _setting("TTVD_STALL_SECONDS", "600", "How long the daemon may go without progress "
                                    "(a loop round or a job step) before it counts as hung: its watchdog pings "
                                    "and its daemon file stop.", _positive_float)
    max_attempts: int = _setting("TTVD_MAX_ATTEMPTS", "3", "How many times a job is started before it is "
                                 "given up as failed.", _positive_int)
    lease_seconds: float = _setting("TTVD_LEASE_SECONDS", "120", "A claimed job whose daemon has not renewed "
                                    "its lease for this long is taken back into the queue (the lease is renewed "
                                    "every 10 s or a quarter of this, whichever is sooner).", _positive_float)
    # The HTTP API: who may use it and what a request may cost (ttvd.guard).
    api_tokens: tuple[str, ...] = _setting("TTVD_API_TOKENS", "", "Bearer tokens the API accepts, comma-separated, "
                                           "or the path of a file with one per line. When set, every endpoint but "
                                           "`/api/v1/health` needs `Authorization: Bearer <token>`; without it, "
                                           "`ttvd serve` listens on loopback only (unless `--insecure`).",
                                           _tokens, secret=True)
    allowed_hosts: tuple[str, ...] = _setting("TTVD_ALLOWED_HOSTS", "", "Extra host names the API answers for "
                                              "(the Host header), comma-separated; loopback names and the bound "
                                              "address are always allowed.", _names)
    max_queued: int = _setting("TTVD_MAX_QUEUED", "500", "Jobs that may wait in the queue; over it a submission "
                               "gets 429 with Retry-After.", _positive_int)
    rate_limit: float = _setting("TTVD_RATE_LIMIT", "10", "Requests a second one client (token, or address "
                                 "without tokens) may make on average; over it, 429. 0 turns the limit off.",
                                 _non_negative_float)
    rate_burst: int = _setting("TTVD_RATE_BURST", "60", "Requests one client may make at once before "
                               "`TTVD_RATE_LIMIT` applies.", _positive_int)
    max_height: int = _setting("TTVD_MAX_HEIGHT", "2160", "Highest `height` a job may ask for over the API.",
                               options.CHECKS["height"])
    max_fps: int = _setting("TTVD_MAX_FPS", "60", "Highest `fps` a job may ask for over the API.",
                            options.CHECKS["fps"])
    slowest_preset: str = _setting("TTVD_SLOWEST_PRESET", "medium", "Slowest x264 `preset` a job may ask for "
                                   "over the API.", options.CHECKS["preset"])
    min_crf: int = _setting("TTVD_MIN_CRF", "16", "Lowest `crf` (the largest files) a job may ask for over the "
                            "API.", options.CHECKS["crf"])
    # Webhooks (ttvd.webhooks): an outbox in the spool, retried with backoff.
    webhook_url: str = _setting("TTVD_WEBHOOK_URL", "", "Where job events are POSTed when a job has no "
                                "`callback_url` of its own (empty: nowhere).")
    webhook_secret: str = _setting("TTVD_WEBHOOK_SECRET", "", "Key of the HMAC-SHA256 signature in each "
                                   "event's `X-Ttvd-Signature` header.", secret=True)
    webhook_allow_private: bool = _setting("TTVD_WEBHOOK_ALLOW_PRIVATE", "0", "Allow callback URLs on "
                                           "loopback and private addresses (refused by default).", _flag)
    webhook_max_attempts: int = _setting("TTVD_WEBHOOK_MAX_ATTEMPTS", "12", "Deliveries of one event before "
                                         "it is given up (backoff doubles from 5 s to at most 1 h).",
                                         _positive_int)
    # Housekeeping and scale.
    retain_days: float = _setting("TTVD_RETAIN_DAYS", "0", "Finished jobs older than this many days are "
                                  "deleted with all their files by the daemon (0: kept forever).",
                                  _non_negative_float)
    keep_work: bool = _setting("TTVD_KEEP_WORK", "0", "Keep a job's work folder after it completes (for "
                               "debugging); by default it is removed.", _flag)
    workers: int = _setting("TTVD_WORKERS", "1", "Jobs one daemon runs at once.", _positive_int)
    log_level: str = _setting("TTVD_LOG_LEVEL", "INFO", "Logging level: DEBUG, INFO, WARNING or ERROR.",
                              _log_level)
    # Online backends: each stage picks one by name (ttvd.backends); keys are never written anywhere.
    speech: str = _setting("TTVD_SPEECH", "auto", "Speech backend: auto (openai when OPENAI_API_KEY is set, "
                           "else espeak), espeak, piper (the optional natural offline voices) or openai.",
                           options.CHECKS["speech"])
    timing: str = _setting("TTVD_TIMING", "auto", "Caption timing: auto (openai when the speech came from "
                           "OpenAI, else speech), speech (the speech engine's word times) or openai "
                           "(transcription with word timestamps).", options.CHECKS["timing"])
    queries: str = _setting("TTVD_QUERIES", "auto", "Search queries: auto (openai when OPENAI_API_KEY is set, "
                            "else keywords), keywords or openai.", options.CHECKS["queries"])
    footage: str = _setting("TTVD_FOOTAGE", "auto", "Footage: auto (pexels when PEXELS_API_KEY is set, else "
                            "local), local (media folder, then generated backgrounds) or pexels (media folder, "
                            "then Pexels, then generated).", options.CHECKS["footage"])
    fallback: str = _setting("TTVD_FALLBACK", "auto", "When an online backend stays unavailable after the "
                             "retries: `auto` falls back to the stage's offline backend if the online one was "
                             "chosen by `auto` (a key is set), and fails the job if a setting or the job's "
                             "options named it; `offline` always falls back; `never` always fails the job.",
                             options.choice(("auto", "offline", "never")))
    media_dir: Path | None = _setting("TTVD_MEDIA_DIR", "", "Folder of your own video clips and still images, "
                                      "matched to passages by file name and tags.", _optional_path)
    cache_dir: Path | None = _setting("TTVD_CACHE_DIR", "", "Shared download cache (default: cache/ under "
                                      "the home).", _optional_path)
    http_timeout: float = _setting("TTVD_HTTP_TIMEOUT", "30", "Seconds to wait to connect to, or hear from, "
                                   "an online service.", _positive_float)
    http_retries: int = _setting("TTVD_HTTP_RETRIES", "3", "Retries of a request refused for a rate limit, "
                                 "a timeout or a server error.", _non_negative_int)
    retry_backoff: float = _setting("TTVD_RETRY_BACKOFF", "1.0", "Seconds before the first retry; each "
                                    "further retry waits twice as long.", _positive_float)
    retry_max_wait: float = _setting("TTVD_RETRY_MAX_WAIT", "60", "Longest wait before a retry, in seconds, "
                                     "even when a service asks for more.", _positive_float)
    download_max_bytes: int = _setting("TTVD_DOWNLOAD_MAX_BYTES", "209715200", "Largest footage file "
                                       "downloaded, in bytes.", _positive_int)
    openai_api_key: str = _setting("OPENAI_API_KEY", "", "OpenAI key: when set, speech, caption timing and "
                                   "queries use OpenAI.", secret=True)
    openai_base_url: str = _setting("OPENAI_BASE_URL", "", "Base URL of an OpenAI-compatible server "
                                    "(default: the OpenAI API).")
    openai_speech_model: str = _setting("OPENAI_SPEECH_MODEL", "tts-1", "Model of the speech endpoint.")
    openai_voice: str = _setting("OPENAI_VOICE", "alloy", "Voice of the speech endpoint.")
    openai_speech_max_chars: int = _setting("OPENAI_SPEECH_MAX_CHARS", "4000", "Longest input sent in one "
                                            "speech request; longer texts are split at sentence ends.",
                                            _positive_int)
    openai_transcribe_model: str = _setting("OPENAI_TRANSCRIBE_MODEL", "whisper-1", "Model of the "
                                            "transcription endpoint (must give word timestamps).")
    openai_chat_model: str = _setting("OPENAI_CHAT_MODEL", "gpt-4o-mini", "Chat model that writes the footage "
                                      "search queries.")
    pexels_api_key: str = _setting("PEXELS_API_KEY", "", "Pexels key: when set, footage comes from Pexels "
                                   "video search.", secret=True)
    pexels_api_url: str = _setting("PEXELS_API_URL", "https://api.pexels.com", "Base URL of the Pexels API.")

    def size(self) -> tuple[int, int]:
        """Output (width, height) in pixels, both even."""
        return options.frame_size(self.aspect, self.height)

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` (attribute names and already-checked values)."""
        return dataclasses.replace(self, **changes)


SETTINGS: tuple[Setting, ...] = tuple(f.metadata["setting"] for f in fields(Settings))
_ATTRIBUTE = {f.metadata["setting"].name: f.name for f in fields(Settings)}
_BY_NAME = {s.name: s for s in SETTINGS}


def load(env: Mapping[str, str] | None = None, **overrides: str) -> Settings:
    """Read every setting from ``env`` (default ``os.environ``), apply ``overrides``, validate all."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = overrides.get(setting.name)
        if raw is None:
            raw = env.get(setting.name, setting.default)
        try:
            values[_ATTRIBUTE[setting.name]] = setting.parse(raw.strip())
        except ValueError as exc:
            shown = "(hidden)" if setting.secret else repr(raw)
            raise ConfigError(f"{setting.name}={shown} is not valid: {exc}") from None
    if values["captions"] not in options.CAPTION_PRESETS:  # the older spelling of TTVD_TIMING
        if values["timing"] == options.AUTO:
            values["timing"] = values["captions"]
        values["captions"] = describe("TTVD_CAPTIONS").default
    return Settings(**values)


def describe(name: str) -> Setting:
    """The declaration of the setting called ``name``; KeyError for a name ttvd does not know."""
    return _BY_NAME[name]


def markdown_table() -> str:
    """The settings as the Markdown table of ``docs/settings.md`` (``python -m ttvd.config`` prints it)."""
    rows = ["| name | default | meaning |", "|---|---|---|"]
    rows += [f"| `{s.name}` | `{s.default}` | {s.help} |" for s in SETTINGS]
    return "\n".join(rows) + "\n"


def update_page(path: Path) -> None:
    """Put the current table between the marker lines of the settings page at ``path``."""
    page = path.read_text(encoding="utf-8")
    start = page.index("\n", page.index(TABLE_START)) + 1
    end = page.index(TABLE_END)
    path.write_text(page[:start] + markdown_table() + page[end:], encoding="utf-8")


TABLE_START = "<!-- settings table"
TABLE_END = "<!-- end of settings table"
ENV_START = "# --- every setting"
ENV_END = "# --- end of every setting"


def env_listing() -> str:
    """Every setting as a commented ``#NAME=default`` line under its help, for the env file example."""
    lines = []
    for setting in SETTINGS:
        words, line = setting.help.replace("`", "").split(), "#"
        for word in words:  # wrapped at 100 columns
            if len(line) + len(word) + 1 > 100:
                lines.append(line)
                line = "#"
            line += " " + word
        lines += [line, f"#{setting.name}={'' if setting.secret else setting.default}"]
    return "\n".join(lines) + "\n"


def update_env_example(path: Path) -> None:
    """Put the current listing between the marker lines of the env file example at ``path``."""
    text = path.read_text(encoding="utf-8")
    start = text.index("\n", text.index(ENV_START)) + 1
    end = text.index(ENV_END)
    path.write_text(text[:start] + env_listing() + text[end:], encoding="utf-8")

if __name__ == "__main__":  # python -m ttvd.config [--update docs/settings.md | --update-env FILE]
    import sys

    if sys.argv[1:2] == ["--update"]:
        update_page(Path(sys.argv[2]))
    elif sys.argv[1:2] == ["--update-env"]:
        update_env_example(Path(sys.argv[2]))
    else:
        print(markdown_table(), end="")
