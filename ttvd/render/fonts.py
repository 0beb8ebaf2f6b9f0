"""Finding the caption font: the TTVD_FONT setting, else a bold sans installed on the system."""
from __future__ import annotations

import functools
from pathlib import Path

from PIL import ImageFont

from ttvd.errors import ConfigError

CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSansBold.ttf",
    "/Library/Fonts/Arial Bold.ttf",
)


@functools.lru_cache(maxsize=8)
def find_font(configured: Path | None = None) -> tuple[str, str]:
    """(path, family name) of the caption font; a ConfigError says how to fix a missing one."""
    if configured is not None:
        if not configured.is_file():
            raise ConfigError(f"TTVD_FONT={str(configured)!r} is not a readable font file")
        return str(configured), _family(configured)
    for candidate in CANDIDATES:
        if Path(candidate).is_file():
            return candidate, _family(Path(candidate))
    raise ConfigError("no caption font found: install fonts-dejavu-core or set TTVD_FONT to a .ttf file")


def _family(path: Path) -> str:
    try:
        family = ImageFont.truetype(str(path), 12).getname()[0]
    except OSError as exc:
        raise ConfigError(f"cannot read font {path}: {exc}") from None
    if not family:
        raise ConfigError(f"font {path} has no family name")
    return family
