"""The caption font and its fallbacks: the bundled Noto Sans Bold (or TTVD_FONT), text widths as libass
lays them out, and which characters of a text no installed font can draw.

libass draws the caption font from the ``fontsdir`` of the ``ass`` filter and asks fontconfig for a
fallback font glyph by glyph, so CJK, emoji and other scripts come from the system's fonts (see
docs/captions.md for the Debian packages). It draws outline fonts only: a colour bitmap font such as
Noto Color Emoji is never chosen, an outline emoji font (Symbola) is.
"""
from __future__ import annotations

import functools
import os
import re
import subprocess
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from PIL import ImageFont

from ttvd.errors import ConfigError
from ttvd.media import ffmpeg_exe

BUNDLED = Path(__file__).resolve().parent.parent / "fonts" / "NotoSans-Bold.ttf"
MEASURE_SIZE = 100  # the size Pillow measures at; widths scale linearly from it
# One sample per script a caption may hold beyond the caption font, for `ttvd doctor`.
SAMPLES = {"CJK": "你好世界こんにちは한국어", "emoji": "😀🎉👍", "Arabic": "مرحبا", "Hebrew": "שלום",
           "Devanagari": "नमस्ते", "Thai": "สวัสดี"}
_FONTCONFIG = ("FONTCONFIG_FILE", "FONTCONFIG_PATH", "FONTCONFIG_SYSROOT", "XDG_DATA_HOME", "HOME")
_RUNNING_TEXT = "The night train left the station at dawn, carrying seven sleepy passengers north."
_NO_GLYPH = re.compile(r"failed to find any fallback with glyph 0x([0-9A-Fa-f]+)")
_FALLBACK = re.compile(r"fontselect: .* -> .*, \d+, (\S+)\s*$")
_PROBE = """[Script Info]
ScriptType: v4.00+
PlayResX: 64
PlayResY: 64

[V4+ Styles]
Format: Name, Fontname, Fontsize, Bold, Encoding
Style: Default,{family},8,-1,1

[Events]
Format: Layer, Start, End, Style, Text
Dialogue: 0,0:00:00.00,0:00:01.00,Default,{text}
"""


@dataclass(frozen=True)
class Coverage:
    """What libass makes of a text's characters beyond the caption font."""

    missing: tuple[str, ...]    # characters no installed font draws (libass shows an empty box)
    fallbacks: tuple[str, ...]  # the fonts libass took for the others, by PostScript name


@functools.lru_cache(maxsize=8)
def find_font(configured: Path | None = None) -> tuple[str, str]:
    """(path, family name) of the caption font: TTVD_FONT, else the bundled one; ConfigError if unreadable."""
    if configured is not None:
        if not configured.is_file():
            raise ConfigError(f"TTVD_FONT={str(configured)!r} is not a readable font file")
        return str(configured), _family(configured)
    if not BUNDLED.is_file():
        raise ConfigError(f"the bundled caption font {BUNDLED} is missing: reinstall ttvd or set TTVD_FONT")
    return str(BUNDLED), _family(BUNDLED)


def text_width(text: str, font_file: str, font_size: float) -> float:
    """Width in pixels of ``text`` as libass lays it out at ASS font size ``font_size``.

    libass sizes a font by its ascent plus descent, not by its em. Characters the font lacks come
    from a fallback font; a wide one (CJK, most emoji) is counted as one em.
    """
    face, em = _measuring_face(font_file)
    narrow = "".join(ch for ch in text if unicodedata.east_asian_width(ch) not in "WF")
    wide = len(text) - len(narrow)
    return (face.getlength(narrow) + wide * MEASURE_SIZE) * em * font_size / MEASURE_SIZE


def average_char_width(font_file: str, font_size: float) -> float:
    """The mean width of a character of running text, for choosing how many fit on a line."""
    return text_width(_RUNNING_TEXT, font_file, font_size) / len(_RUNNING_TEXT)


def missing_characters(text: str, font_file: str) -> list[str]:
    """The characters of ``text`` that no font draws, neither the caption font nor a fallback."""
    return list(coverage(_probed(text), font_file).missing)


def coverage_warning(text: str, font_file: str) -> str | None:
    """A job-log line naming the characters of ``text`` that will show as empty boxes, or None."""
    missing = missing_characters(text, font_file)
    if not missing:
        return None
    shown = " ".join(f"{ch} (U+{ord(ch):04X})" for ch in missing[:8]) + (" ..." if len(missing) > 8 else "")
    return (f"No installed font draws {len(missing)} character(s) of the captions: {shown}; they show as "
            f"empty boxes. Install fonts that cover them (see `ttvd doctor`).")


def fallback_report(font_file: str) -> tuple[dict[str, bool], tuple[str, ...]]:
    """For ``ttvd doctor``: which sample scripts are drawn, and the fallback fonts libass found for them."""
    drawn = {}
    for script, sample in SAMPLES.items():
        drawn[script] = not coverage(_probed(sample), font_file).missing
    fonts = coverage(_probed("".join(SAMPLES.values())), font_file).fallbacks
    return drawn, fonts


def coverage(chars: str, font_file: str) -> Coverage:
    """Ask libass itself, in a one-frame render, which of ``chars`` it can draw and with which fonts."""
    if not chars:
        return Coverage((), ())
    return _coverage(chars, font_file, tuple(os.environ.get(name, "") for name in _FONTCONFIG))


@functools.lru_cache(maxsize=64)
def _coverage(chars: str, font_file: str, fontconfig: tuple[str, ...]) -> Coverage:
    """``coverage``, remembered per fontconfig environment (it decides which fallback fonts libass sees)."""
    family = _family(Path(font_file))
    with tempfile.TemporaryDirectory(prefix="ttvd-fonts-") as folder:
        Path(folder, "probe.ass").write_text(_PROBE.format(family=family, text=chars), encoding="utf-8")
        # the render's fontsdir, linked under a name that needs no quoting in a filtergraph
        Path(folder, "fonts").symlink_to(Path(font_file).resolve().parent)
        result = subprocess.run(
            [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "verbose", "-f", "lavfi",
             "-i", "color=s=64x64:d=0.1", "-vf", "ass=filename=probe.ass:fontsdir=fonts",
             "-frames:v", "1", "-f", "null", "-"],
            cwd=folder, capture_output=True, text=True, errors="replace", check=False)
    log = result.stderr
    if result.returncode != 0:
        raise ConfigError(f"cannot check fonts with libass: {log.strip()[-500:]}")
    missing = {chr(int(code, 16)) for code in _NO_GLYPH.findall(log)}
    fallbacks = {m.group(1) for m in map(_FALLBACK.search, log.splitlines()) if m}
    fallbacks.discard(_postscript_name(font_file))
    return Coverage(tuple(ch for ch in chars if ch in missing), tuple(sorted(fallbacks)))


def _probed(text: str) -> str:
    """The characters worth asking about: each once, beyond ASCII, not spaces or invisible marks."""
    seen: dict[str, None] = {}
    for ch in text:
        if ord(ch) > 0x7E and not ch.isspace() and not _invisible(ch):
            seen.setdefault(ch)
    return "".join(seen)


def _invisible(ch: str) -> bool:
    """Format characters and variation selectors: they shape their neighbours and need no glyph."""
    code = ord(ch)
    return unicodedata.category(ch) in ("Cf", "Cc", "Cs") or 0xFE00 <= code <= 0xFE0F \
        or 0xE0100 <= code <= 0xE01EF


@functools.lru_cache(maxsize=8)
def _measuring_face(font_file: str) -> tuple[ImageFont.FreeTypeFont, float]:
    """The font at MEASURE_SIZE, and its em in units of the ASS font size."""
    face = ImageFont.truetype(font_file, MEASURE_SIZE)
    ascent, descent = face.getmetrics()
    return face, MEASURE_SIZE / (ascent + descent)


@functools.lru_cache(maxsize=8)
def _postscript_name(font_file: str) -> str:
    face = ImageFont.truetype(font_file, 12)
    family, style = face.getname()
    return f"{family}-{style}".replace(" ", "") if family else ""


def _family(path: Path) -> str:
    try:
        family = ImageFont.truetype(str(path), 12).getname()[0]
    except OSError as exc:
        raise ConfigError(f"cannot read font {path}: {exc}") from None
    if not family:
        raise ConfigError(f"font {path} has no family name")
    return family
