"""Captions as an ASS subtitle script for libass: one event per caption, karaoke timing per word."""
from __future__ import annotations

from pathlib import Path

from ttvd.timeline import Caption, Style, Timeline

_HEADER = """[Script Info]
ScriptType: v4.00+
PlayResX: {width}
PlayResY: {height}
WrapStyle: 2
ScaledBorderAndShadow: yes

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, \
Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, \
MarginL, MarginR, MarginV, Encoding
Style: Default,{s.font_name},{s.font_size},{s.primary_colour},{s.secondary_colour},{s.outline_colour},\
&H80000000,-1,0,0,0,100,100,0,0,1,{outline},{shadow},2,{margin_h},{margin_h},{s.margin_v},1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
"""


def write_ass(timeline: Timeline, path: Path) -> None:
    """Write the timeline's captions; words turn from secondary to primary colour as they are spoken.

    The thick outline alone keeps them readable; a shadow would cost libass another layer to blend
    on every frame (about 15% of the caption cost).
    """
    style = timeline.style
    lines = [_HEADER.format(width=timeline.width, height=timeline.height, s=style,
                            outline=max(2, style.font_size // 14), shadow=0,
                            margin_h=timeline.width // 20)]
    for caption in timeline.captions:
        lines.append(f"Dialogue: 0,{_clock(caption.start)},{_clock(caption.end)},Default,,0,0,0,,"
                     f"{_karaoke(caption, style)}\n")
    path.write_text("".join(lines), encoding="utf-8")


def _karaoke(caption: Caption, style: Style) -> str:
    line_ends = _line_end_indexes(caption)
    parts = []
    for index, word in enumerate(caption.words):
        following = caption.words[index + 1].start if index + 1 < len(caption.words) else caption.end
        start = caption.start if index == 0 else word.start
        centis = max(1, round((following - start) * 100))
        separator = r"\N" if index in line_ends else " "
        parts.append(f"{{\\k{centis}}}{_escape(word.text)}{separator}")
    return "".join(parts).rstrip()


def _line_end_indexes(caption: Caption) -> set[int]:
    """Indexes of the words that end a line other than the last."""
    ends, count = set(), 0
    for line in caption.lines[:-1]:
        count += len(line.split())
        ends.add(count - 1)
    return ends


def _escape(text: str) -> str:
    # ASS has no escape for override braces or backslashes; show look-alikes instead.
    return text.replace("\\", "\u29f5").replace("{", "(").replace("}", ")")


def _clock(seconds: float) -> str:
    centis = max(0, round(seconds * 100))
    hours, rest = divmod(centis, 360000)
    minutes, rest = divmod(rest, 6000)
    return f"{hours}:{minutes:02d}:{rest // 100:02d}.{rest % 100:02d}"
