"""``ttvd doctor``: what a job will use and whether it works, one line per check with what to do.

The checks cover what breaks jobs: each stage's backend (one request to each online service) and
whether a job falls back offline when that service is down, the caption font and the fallback fonts,
ffmpeg and the encoder, the home, the cache, free disk space and a live daemon. Nothing is changed:
no folder is created, no job is queued.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ttvd import backends, daemons
from ttvd.config import Settings
from ttvd.errors import ServiceUnavailable, TtvdError
from ttvd.home import Home

LOW_DISK_BYTES = 1 << 30
COMMON_SCRIPTS = ("CJK", "emoji")  # missing fallback fonts for these make a warning; for the others, a note
PROBE_TIMEOUT = 10.0  # seconds an online probe waits at most, whatever TTVD_HTTP_TIMEOUT says
# The Debian package that draws each sample script of ``ttvd.render.fonts.SAMPLES`` (docs/captions.md).
FONT_PACKAGES = {"CJK": "fonts-noto-cjk", "emoji": "fonts-symbola", "Arabic": "fonts-dejavu-core",
                 "Hebrew": "fonts-dejavu-core", "Devanagari": "fonts-noto-core", "Thai": "fonts-noto-core"}


@dataclass
class Check:
    stage: str     # what is checked: a pipeline stage, or fonts, ffmpeg, encoder, home, cache, disk, daemon
    backend: str
    reason: str
    ok: bool
    detail: str
    warning: bool = False  # it works, but something is worth fixing: shown as ``warn``; not a failure

    @property
    def verdict(self) -> str:
        return "FAILED" if not self.ok else "warn" if self.warning else "ok"


def run_checks(settings: Settings) -> list[Check]:
    """Every check: the stages in pipeline order, then what every job needs; each tried once, no retries."""
    return [*_stages(settings), _fonts(settings), _ffmpeg(), _encoder(settings), _home(settings),
            _cache(settings), _disk(settings), _daemon(settings)]


def _stages(settings: Settings) -> list[Check]:
    settings = settings.replace(http_retries=0, http_timeout=min(settings.http_timeout, PROBE_TIMEOUT))
    checks = []
    for stage, choice in backends.choices(settings).items():
        probe = PROBES[(stage, choice.name)]
        try:
            detail, ok = probe(settings), True
        except TtvdError as exc:
            detail, ok = f"{exc}; {_when_down(choice, settings, exc)}", False
        except Exception as exc:  # a check must report, not crash: this is a diagnostic tool
            detail, ok = f"{type(exc).__name__}: {exc}", False
        checks.append(Check(stage, choice.name, choice.reason, ok, detail))
    return checks


def _when_down(choice: backends.Choice, settings: Settings, error: TtvdError) -> str:
    """What a job does at this stage while its backend fails like this."""
    offline = backends.STAGES[choice.stage].offline
    if not (choice.online and isinstance(error, ServiceUnavailable)):
        return "jobs fail at this stage until this is fixed"
    if backends.falls_back(choice, settings):
        return f"while it is down, jobs fall back to {offline}"
    why = "TTVD_FALLBACK=never" if settings.fallback == "never" else f"{choice.reason} names it"
    return f"while it is down, jobs fail at this stage: {why} (TTVD_FALLBACK=offline lets them use {offline})"


def _fonts(settings: Settings) -> Check:
    """The caption font loads, and which scripts beyond it libass draws with the system's fallback fonts."""
    from ttvd.render import fonts

    reason = f"TTVD_FONT={settings.font}" if settings.font else "the bundled Noto Sans Bold"
    try:
        font_file, family = fonts.find_font(settings.font)
    except TtvdError as exc:
        return Check("fonts", "libass", reason, False,
                     f"{exc}: set TTVD_FONT to a TTF or OTF file, or unset it for the bundled font")
    try:
        drawn, fallbacks = fonts.fallback_report(font_file)
    except TtvdError as exc:
        return Check("fonts", "libass", reason, False, str(exc))
    missing = [script for script, ok in drawn.items() if not ok]
    packages = sorted({FONT_PACKAGES[script] for script in missing if script in FONT_PACKAGES})
    detail = f"captions in {family}; fallback fonts {', '.join(fallbacks) or 'none'}; " + (
        f"no font draws {', '.join(missing)}: such captions show empty boxes; install "
        f"{' '.join(packages)} (see docs/captions.md)" if missing else "every sample script draws")
    return Check("fonts", "libass", reason, True, detail, warning=bool(set(missing) & set(COMMON_SCRIPTS)))


def _ffmpeg() -> Check:
    """The ffmpeg binary that every render and probe runs."""
    from ttvd import media

    reason = "the binary of imageio-ffmpeg"
    fix = "reinstall it (pip install --force-reinstall imageio-ffmpeg) or set IMAGEIO_FFMPEG_EXE to an ffmpeg"
    try:
        exe = media.ffmpeg_exe()
        result = subprocess.run([exe, "-hide_banner", "-version"], capture_output=True, text=True,
                                errors="replace", timeout=30)
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
        return Check("ffmpeg", "ffmpeg", reason, False, f"cannot run ffmpeg ({exc}); {fix}")
    version = (result.stdout.splitlines() or ["?"])[0]
    if result.returncode != 0:
        return Check("ffmpeg", "ffmpeg", reason, False, f"{exe} exits with {result.returncode}; {fix}")
    return Check("ffmpeg", "ffmpeg", reason, True, f"{version.split(' Copyright')[0]} runs ({exe})")


def _encoder(settings: Settings) -> Check:
    """The video encoder encodes a few frames here (a hardware one falls back to libx264 in a job)."""
    from ttvd.render import encoders

    codec, reason = settings.encoder, f"TTVD_ENCODER={settings.encoder}"
    problem = encoders.probe(codec)
    if not problem:
        return Check("encoder", codec, reason, True, "encodes a test clip")
    if codec != encoders.SOFTWARE and not encoders.probe(encoders.SOFTWARE):
        return Check("encoder", codec, reason, True, f"not usable here ({problem}); jobs encode with "
                     f"{encoders.SOFTWARE} instead (set TTVD_ENCODER={encoders.SOFTWARE} to stop trying)",
                     warning=True)
    return Check("encoder", codec, reason, False, f"cannot encode here ({problem}); every render fails: "
                 "check that ffmpeg runs (the ffmpeg line)")


def _home(settings: Settings) -> Check:
    """The home and the spool folders in it can be written; a missing home is reported, not created."""
    home = Home(settings.home)
    root, reason = home.root, str(home.root)
    if not root.exists():
        problem = _unwritable(_existing_parent(root))
        if problem:
            return Check("home", "folder", reason, False, f"does not exist and cannot be created ({problem}); "
                         "choose another with --home DIR or TTVD_HOME")
        return Check("home", "folder", reason, True, "does not exist yet (doctor creates nothing); ttvd serve, "
                     "daemon or submit creates it", warning=True)
    if not root.is_dir():
        return Check("home", "folder", reason, False, "is a file, not a folder; choose another with --home DIR")
    folders = [root, home.spool, *map(home.queue, ("tmp", "incoming", "active")), home.states, home.output,
               home.work, home.watch]
    problems = [f"{path} ({problem})" for path in folders if path.is_dir() and (problem := _unwritable(path))]
    if problems:
        return Check("home", "folder", reason, False, f"cannot write {', '.join(problems)}: jobs cannot be queued "
                     "or run; give it to the user ttvd runs as (chown -R), or choose another with --home DIR")
    if not home.spool.is_dir():
        return Check("home", "folder", reason, True, "writable; no spool/ yet: ttvd serve, daemon or submit "
                     "makes it a ttvd home")
    return Check("home", "folder", reason, True, "writable")


def _cache(settings: Settings) -> Check:
    """The download cache (Pexels footage) can be written, or created when first needed."""
    root = settings.cache_dir or Home(settings.home).cache
    reason = f"TTVD_CACHE_DIR={root}" if settings.cache_dir else f"{root} (under the home)"
    needed = backends.choose("footage", settings).online
    where = root if root.exists() else _existing_parent(root)
    problem = "not a folder" if root.exists() and not root.is_dir() else _unwritable(where)
    if problem:
        effect = "Pexels footage cannot be downloaded" if needed else "unused while footage is local"
        return Check("cache", "folder", reason, not needed, f"cannot write {where} ({problem}): {effect}; set "
                     "TTVD_CACHE_DIR to a folder ttvd can write", warning=not needed)
    return Check("cache", "folder", reason, True, "writable" if root.exists() else "created when first needed")


def _disk(settings: Settings) -> Check:
    """Room for footage, audio and videos on the home's filesystem."""
    where = _existing_parent(Home(settings.home).root)
    free = shutil.disk_usage(where).free
    shown = f"{free / 1e9:.1f} GB free on the filesystem of {where}"
    if free < LOW_DISK_BYTES:
        return Check("disk", "space", shown, True, "under 1 GB: a video and its footage may not fit (a job "
                     "waits when the disk is full); free some space or choose a home elsewhere", warning=True)
    return Check("disk", "space", shown, True, "enough for videos")


def _daemon(settings: Settings) -> Check:
    """A live daemon serves the home, or queued jobs wait for one."""
    beats = daemons.read_all(Home(settings.home))
    live = daemons.alive(beats)
    if live:
        names = ", ".join(f"{b['host']}-{b['pid']} ({b['seconds_since_heartbeat']:g} s ago)" for b in live)
        return Check("daemon", "spool", f"{len(live)} alive", True, f"runs the queued jobs: {names}")
    stale = f"; {len(beats)} daemon file(s) without a fresh heartbeat: hung, stopped or on another host" \
        if beats else ""
    return Check("daemon", "spool", "none alive", True, "queued jobs wait until one starts: ttvd daemon, or "
                 f"systemctl start ttvd.target (ttvd render needs none){stale}", warning=True)


def _existing_parent(path: Path) -> Path:
    """``path``, or its nearest ancestor that exists."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _unwritable(folder: Path) -> str | None:
    """Why a file cannot be created in ``folder`` (a real attempt, removed at once), or None."""
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".ttvd-doctor-"):
            return None
    except OSError as exc:
        return exc.strerror or str(exc)


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
