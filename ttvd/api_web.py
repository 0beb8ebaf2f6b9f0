"""The web page at ``/``: static files inside the package, a client of the public API and nothing more.

The page needs no token to load (it holds no data; ``ttvd.guard`` leaves ``/`` and ``/ui/`` open);
every call it makes goes through the API with the token the user gives it. The job options it offers
are read from ``ttvd.options`` and injected into the page, so its menus cannot drift from what the
API accepts.
"""
from __future__ import annotations

import json
from pathlib import Path

import bottle

from ttvd import options
from ttvd.config import Settings
from ttvd.job import JobStatus
from ttvd.spool import Spool

WEB = Path(__file__).with_name("web")
FILES = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}
HEADERS = {
    # Only our own files, no inline script, no framing: a page that is safe to open beside the API.
    "Content-Security-Policy": "default-src 'self'; media-src 'self' blob:; img-src 'self' data:; "
                               "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def choices(settings: Settings) -> dict[str, object]:
    """The menus of the page and their defaults."""
    return {
        "captions": list(options.CAPTION_PRESETS),
        "caption_position": list(options.CAPTION_POSITIONS),
        "music": [options.AUTO, "none", *options.MUSIC_MOODS],
        "transition": list(options.TRANSITIONS),
        "aspect": list(options.ASPECTS),
        "status": [status.value for status in JobStatus],
        "defaults": {"captions": settings.captions, "caption_position": settings.caption_position,
                     "music": settings.music if settings.music in (options.AUTO, "none", *options.MUSIC_MOODS)
                     else options.AUTO,
                     "transition": settings.transition, "aspect": settings.aspect},
    }


def register(app: bottle.Bottle, settings: Settings, spool: Spool) -> None:
    # "<" escaped so no value can close the script element the JSON sits in
    menus = json.dumps(choices(settings)).replace("<", "\\u003c")
    page = (WEB / "index.html").read_text(encoding="utf-8").replace("__CHOICES__", menus).encode("utf-8")

    @app.route("/", "GET")
    def index():
        return bottle.HTTPResponse(page, status=200, headers={"Content-Type": "text/html; charset=utf-8", **HEADERS})

    @app.route("/ui/<name>", "GET")
    def static(name: str):
        if name not in FILES:
            return bottle.HTTPResponse(json.dumps({"error": "Not found"}), status=404,
                                       headers={"Content-Type": "application/json"})
        body = (WEB / name).read_bytes()
        return bottle.HTTPResponse(body, status=200, headers={"Content-Type": FILES[name], **HEADERS})
