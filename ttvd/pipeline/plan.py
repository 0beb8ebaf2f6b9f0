"""A job's effective choices, resolved once at the start of an attempt: its options over the settings.

The stages read the plan instead of each merging options and settings again, so every stage of one
job agrees on the output size, the caption style and the encoder.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ttvd import options as job_options
from ttvd.config import Settings
from ttvd.render.fonts import find_font
from ttvd.timeline import Style


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
    sized = settings.replace(aspect=render["aspect"], height=render["height"])
    width, height = sized.size()
    return Plan(sized, checked, render["engine"], render["fps"],
                {"codec": render["encoder"], "preset": render["preset"], "crf": render["crf"]},
                width, height, caption_style(settings, width, height),
                {name: checked.get(name, getattr(settings, name)) for name in job_options.LOOK_OPTIONS})


def caption_style(settings: Settings, width: int, height: int) -> Style:
    """The caption look for a ``width`` x ``height`` frame: size, line length and margin follow the frame."""
    font_file, font_name = find_font(settings.font)
    font_size = round(min(width, height) * 0.068)
    return Style(font_file, font_name, font_size, max_line_chars=max(8, int(width * 0.86 / (font_size * 0.62))),
                 margin_v=round(height * 0.22))
