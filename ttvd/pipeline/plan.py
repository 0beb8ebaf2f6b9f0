"""A job's effective choices, resolved once at the start of an attempt: its options over the settings.

The stages read the plan instead of each merging options and settings again, so every stage of one
job agrees on the output size, the caption style and the encoder.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ttvd import options as job_options
from ttvd.config import Settings
from ttvd.render.fonts import average_char_width, find_font
from ttvd.timeline import Style

# The safe area: the parts of the frame the short-video platforms leave free of their own buttons and
# text, as fractions of the frame. Captions and the title card stay inside it.
SAFE_TOP = 0.10     # the top: account name, search
SAFE_BOTTOM = 0.20  # the bottom: description, music, progress bar
SAFE_RAIL = 0.15    # the right of a portrait frame: like, comment and share buttons
SAFE_LEFT = 0.10    # the left of a portrait frame, a little narrower than the rail
SAFE_SIDE = 0.08    # each side of a landscape or square frame
CAPTION_SIZE = 0.09   # caption font size, as a fraction of the frame's shorter side
WORD_SIZE = 0.13      # ... for the word preset: one to three words, larger


@dataclass(frozen=True)
class Plan:
    settings: Settings          # with the job's aspect and height, for sources that size their footage
    options: dict[str, Any]     # the job's own options, checked
    engine: str
    fps: int
    encoder: dict[str, Any]     # codec, preset, crf: what the render engines take
    width: int
    height: int
    style: Style
    look: dict[str, Any]        # captions, caption_position, music, music_volume, transition, title, voice, language


def resolve(settings: Settings, options: dict[str, Any] | None = None) -> Plan:
    """The plan of a job asking for ``options`` under ``settings``; ConfigError for a bad option."""
    checked = job_options.validate(dict(options or {}))
    render = {name: checked.get(name, getattr(settings, name)) for name in job_options.RENDER_OPTIONS}
    look = {name: checked.get(name, getattr(settings, name)) for name in job_options.LOOK_OPTIONS}
    # The stages' backends read settings: hand them the job's own size, voice and language.
    sized = settings.replace(aspect=render["aspect"], height=render["height"], voice=look["voice"],
                             language=look["language"])
    width, height = sized.size()
    return Plan(sized, checked, render["engine"], render["fps"],
                {"codec": render["encoder"], "preset": render["preset"], "crf": render["crf"]},
                width, height, caption_style(settings, width, height, look), look)


def caption_style(settings: Settings, width: int, height: int, look: dict[str, Any] | None = None) -> Style:
    """The caption look for a ``width`` x ``height`` frame: preset, position and title from ``look`` (else
    the settings); size, line length and margins follow the frame and keep inside the safe area."""
    def chosen(name: str) -> Any:
        return (look or {}).get(name, getattr(settings, name))

    font_file, font_name = find_font(settings.font)
    preset, position = chosen("captions"), chosen("caption_position")
    font_size = round(min(width, height) * (WORD_SIZE if preset == "word" else CAPTION_SIZE))
    portrait = height > width
    margin_l = round(width * (SAFE_LEFT if portrait else SAFE_SIDE))
    margin_r = round(width * (SAFE_RAIL if portrait else SAFE_SIDE))
    # a little under the full width: the outline takes some, and ass.py shrinks what is still too wide
    line_chars = 0.9 * (width - margin_l - margin_r) / average_char_width(font_file, font_size)
    return Style(font_file, font_name, font_size, max_line_chars=max(8, int(line_chars)),
                 margin_v=round(height * SAFE_BOTTOM), preset=preset, position=position, margin_l=margin_l,
                 margin_r=margin_r, margin_t=round(height * SAFE_TOP), title=chosen("title"))
