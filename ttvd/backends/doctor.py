"""``ttvd doctor``: which backend each stage will use and why, and whether each answers."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ttvd import backends
from ttvd.config import Settings
from ttvd.errors import TtvdError


@dataclass
class Check:
    stage: str
    backend: str
    reason: str
    ok: bool
    detail: str


def run_checks(settings: Settings) -> list[Check]:
    """One check per stage, in pipeline order, each trying its backend once (no retries)."""
    settings = settings.replace(http_retries=0)
    checks = []
    for stage, choice in backends.choices(settings).items():
        probe = PROBES[(stage, choice.name)]
        try:
            detail, ok = probe(settings), True
        except TtvdError as exc:
            detail, ok = str(exc), False
        except Exception as exc:  # a check must report, not crash: this is a diagnostic tool
            detail, ok = f"{type(exc).__name__}: {exc}", False
        checks.append(Check(stage, choice.name, choice.reason, ok, detail))
    checks.append(_fonts(settings))
    return checks


def _fonts(settings: Settings) -> Check:
    """The caption font, and which scripts beyond it libass draws with the system's fallback fonts."""
    from ttvd.render import fonts

    reason = "TTVD_FONT is set" if settings.font else "the bundled Noto Sans Bold"
    try:
        font_file, family = fonts.find_font(settings.font)
        drawn, fallbacks = fonts.fallback_report(font_file)
    except TtvdError as exc:
        return Check("fonts", "libass", reason, False, str(exc))
    missing = [script for script, ok in drawn.items() if not ok]
    detail = f"captions in {family}; fallback fonts {', '.join(fallbacks) or 'none'}; " + (
        f"no font draws {', '.join(missing)} (see docs/captions.md)" if missing else "every sample script draws")
    return Check("fonts", "libass", reason, True, detail)


# Each probe imports its backend inside itself: only the backends a stage chose are loaded, so an
# offline check never imports the OpenAI SDK or requests.


def _voice(settings: Settings, backend: str) -> str:
    from ttvd.pipeline import speech

    return speech.check(settings, backend)


def _openai(settings: Settings) -> str:
    from ttvd.backends import openai_client

    client = openai_client.client(settings)
    openai_client.request(settings, "model list", lambda: client.models.list())
    return f"{openai_client.base_url(settings)} accepts the key"


def _speech_times(settings: Settings) -> str:
    return "word times come from the speech engine"


def _keywords(settings: Settings) -> str:
    return "keywords are picked from the text"


def _local(settings: Settings) -> str:
    from ttvd.backends.media_folder import MediaFolder

    folder = MediaFolder(settings)
    if not settings.media_dir:
        return "no TTVD_MEDIA_DIR: generated backgrounds"
    return f"{len(folder.items)} usable files in {settings.media_dir}, then generated backgrounds"


def _pexels(settings: Settings) -> str:
    from ttvd.backends.pexels import PexelsSource

    source = PexelsSource(settings)
    found = source.search("nature", source.orientation)
    return f"{source.base} accepts the key ({len(found)} results for a test search)"


PROBES: dict[tuple[str, str], Callable] = {
    ("speech", "espeak"): lambda s: _voice(s, "espeak"), ("speech", "piper"): lambda s: _voice(s, "piper"),
    ("speech", "openai"): _openai,
    ("captions", "speech"): _speech_times, ("captions", "openai"): _openai,
    ("queries", "keywords"): _keywords, ("queries", "openai"): _openai,
    ("footage", "local"): _local, ("footage", "pexels"): _pexels,
}
