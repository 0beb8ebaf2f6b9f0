"""Captions and the title card as one ASS script for libass, drawn in the render's single pass.

Presets (``Style.preset``):

- ``karaoke``: each word turns from the text colour to the accent as it is spoken;
- ``highlight``: only the spoken word is marked, in dark text on an accent box;
- ``word``: one to three words at a time, large, popping in;
- ``classic``: the lines on a dark box, no highlight;
- ``none``: no captions (a title card still shows).

Every caption has a dark outline and shadow or a box behind it, so its contrast never depends on the
footage. Margins keep it inside the safe area (``Style.margin_*``, set by the plan); a line still too
wide, such as one very long word, is shrunk to fit. Text shows exactly as typed, braces and
backslashes included, and right-to-left scripts get right-to-left lines.
"""
from __future__ import annotations

import math
from pathlib import Path

from ttvd.render.fonts import text_width
from ttvd.timeline import Caption, Style, Timeline

TITLE_SECONDS = 3.0  # the title card shows over the first seconds
TITLE_SIZE = 0.12    # its font size as a fraction of the frame's shorter side
TITLE_LINES = 4      # a longer title is set smaller
POP_FROM = 80        # the word preset scales each caption in from this percent...
POP_MS = 120         # ...over this many milliseconds
_POP = f"{{\\fscx{POP_FROM}\\fscy{POP_FROM}\\t(0,{POP_MS},\\fscx100\\fscy100)}}"
SHADOW_COLOUR = "&H60000000"  # black, 62% opaque
_INVISIBLE = "&HFF000000"

_HEADER = """[Script Info]
ScriptType: v4.00+
PlayResX: {width}
PlayResY: {height}
WrapStyle: 2
ScaledBorderAndShadow: yes
YCbCr Matrix: TV.709

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, \
Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, \
MarginL, MarginR, MarginV, Encoding
"""
# Encoding -1 makes libass choose each line's direction from its first strong character (Arabic and
# Hebrew lines read right to left). BorderStyle 1 is an outline, 3 a box around each glyph in the
# OutlineColour, 4 one box around the whole event in the BackColour; Outline is the box's padding.
_STYLE = ("Style: {name},{font},{size},{primary},{secondary},{outline_colour},{back},-1,0,0,0,100,100,0,0,"
          "{border_style},{outline:.1f},{shadow:.1f},{alignment},{margin_l},{margin_r},{margin_v},-1\n")
_EVENTS = """
[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
"""
_ALIGNMENT = {"bottom": 2, "middle": 5, "top": 8}


def write_ass(timeline: Timeline, path: Path) -> None:
    """Write the timeline's captions in its style's preset, and its title card, as an ASS script."""
    path.write_text(script(timeline), encoding="utf-8")


def script(timeline: Timeline) -> str:
    """The ASS script of ``timeline``'s captions and title card."""
    layout = Layout(timeline.width, timeline.height, timeline.style)
    parts = [_HEADER.format(width=timeline.width, height=timeline.height), *layout.styles(), _EVENTS]
    draw = PRESETS.get(timeline.style.preset, karaoke)
    for caption in timeline.captions:
        parts += draw(caption, layout)
    if timeline.style.title:
        parts.append(title_card(timeline.style.title, min(TITLE_SECONDS, timeline.duration), layout))
    return "".join(parts)


class Layout:
    """Sizes, borders and margins of one frame's captions, and the width a line may take."""

    def __init__(self, width: int, height: int, style: Style) -> None:
        self.width, self.height, self.style = width, height, style
        self.size = style.font_size
        self.outline = max(1.5, self.size * 0.08)
        self.shadow = max(1.0, self.size * 0.05)
        self.box = max(2.0, self.size * 0.2)  # the padding of the classic box
        self.edges = (self.outline, self.shadow)
        self.mark = self.outline + self.shadow  # the padding of the highlight box
        pad = math.ceil(max(self.outline + self.shadow, self.box))  # what outline, shadow or box add around the text
        self.margin_l = style.margin_l + pad
        self.margin_r = style.margin_r + pad
        self.margin_v = (style.margin_t if style.position == "top" else style.margin_v) + pad
        self.alignment = _ALIGNMENT.get(style.position, 2)
        self.room = width - self.margin_l - self.margin_r
        self.title_size = round(min(width, height) * TITLE_SIZE)
        self.title_box = max(2.0, self.title_size * 0.15)  # the padding of the title's box
        self.title_margin = math.ceil(self.title_box)
        self.title_room = width - style.margin_l - style.margin_r - 2 * self.title_margin

    def styles(self) -> list[str]:
        s = self.style
        common = {"font": s.font_name, "size": self.size, "alignment": self.alignment, "margin_l": self.margin_l,
                  "margin_r": self.margin_r, "margin_v": self.margin_v}
        # Captions (karaoke, word): to-come words in the text colour, spoken ones in the accent.
        caption = _STYLE.format(name="Caption", primary=s.primary_colour, secondary=s.secondary_colour,
                                outline_colour=s.outline_colour, back=SHADOW_COLOUR, border_style=1,
                                outline=self.outline, shadow=self.shadow, **common)
        plain = _STYLE.format(name="Plain", primary=s.secondary_colour, secondary=s.secondary_colour,
                              outline_colour=s.outline_colour, back=SHADOW_COLOUR, border_style=1,
                              outline=self.outline, shadow=self.shadow, **common)
        # The highlight: dark text on an accent box, drawn over the spoken word of a Plain caption and
        # padded to cover that word's outline and shadow.
        mark = _STYLE.format(name="Mark", primary=s.outline_colour, secondary=s.outline_colour,
                             outline_colour=s.primary_colour, back=_INVISIBLE, border_style=3,
                             outline=self.mark, shadow=0, **common)
        # Classic: one box behind the whole caption.
        boxed = _STYLE.format(name="Boxed", primary=s.secondary_colour, secondary=s.secondary_colour,
                              outline_colour=_INVISIBLE, back=s.box_colour, border_style=4,
                              outline=self.box, shadow=0, **common)
        # The title sits in the middle, or at the top when the captions take the middle (a Style saved
        # before it had a top margin keeps a tenth of the height).
        style_top = s.margin_t or round(self.height * 0.1)
        title = _STYLE.format(name="Title", font=s.font_name, size=self.title_size, primary=s.outline_colour,
                              secondary=s.outline_colour, outline_colour=_INVISIBLE, back=s.primary_colour,
                              border_style=4, outline=self.title_box, shadow=0,
                              alignment=8 if s.position == "middle" else 5,
                              margin_l=s.margin_l + self.title_margin, margin_r=s.margin_r + self.title_margin,
                              margin_v=style_top + self.title_margin)
        return [caption, plain, mark, boxed, title]

    def scales(self, lines: list[str], size: float, room: float) -> list[float]:
        """Each line's scale: 1, or less for a line wider than ``room`` pixels (one very long word)."""
        widths = [text_width(line, self.style.font_file, size) for line in lines]
        return [1.0 if width <= room else room / width for width in widths]


def karaoke(caption: Caption, layout: Layout) -> list[str]:
    return [_dialogue(0, caption.start, caption.end, "Caption", _words(caption, layout, layout.edges, timed=True))]


def highlight(caption: Caption, layout: Layout) -> list[str]:
    """The caption in plain text, and over it, word by word, the spoken word on its box."""
    events = [_dialogue(0, caption.start, caption.end, "Plain", _words(caption, layout, layout.edges))]
    for index, (start, end) in enumerate(_word_spans(caption)):
        events.append(_dialogue(1, start, end, "Mark", _words(caption, layout, (layout.mark, 0), marked=index)))
    return events


def word(caption: Caption, layout: Layout) -> list[str]:
    text = _words(caption, layout, layout.edges, timed=True, pop=True)
    return [_dialogue(0, caption.start, caption.end, "Caption", text)]


def classic(caption: Caption, layout: Layout) -> list[str]:
    return [_dialogue(0, caption.start, caption.end, "Boxed", _words(caption, layout, (layout.box, 0)))]


def none(caption: Caption, layout: Layout) -> list[str]:
    return []


PRESETS = {"karaoke": karaoke, "highlight": highlight, "word": word, "classic": classic, "none": none}


def title_card(text: str, end: float, layout: Layout) -> str:
    """The title, large on an accent box over the first seconds, in at most TITLE_LINES balanced lines."""
    size = float(layout.title_size)
    lines = wrap(text, layout.style.font_file, size, layout.title_room)
    while len(lines) > TITLE_LINES:
        size *= 0.9
        lines = wrap(text, layout.style.font_file, size, layout.title_room)
    scales = layout.scales(lines, size, layout.title_room)
    sized = min(scales) < 1.0 or size < layout.title_size
    body = "\\N".join((_line_size(size, (layout.title_box, 0.0), scale) if sized else "") + escape(line)
                       for line, scale in zip(lines, scales, strict=True))
    return _dialogue(2, 0.0, end, "Title", f"{{\\fad(150,250)}}{body}")


def wrap(text: str, font_file: str, size: float, room: float) -> list[str]:
    """``text`` in as few lines of at most ``room`` pixels as it takes, the lines about equally long."""
    words = text.split()
    if not words:
        return []
    count = max(1, math.ceil(text_width(" ".join(words), font_file, size) / room))
    balanced = _greedy(words, font_file, size, min(room, 1.15 * text_width(" ".join(words), font_file, size) / count))
    return balanced if len(balanced) <= count else _greedy(words, font_file, size, room)


def _greedy(words: list[str], font_file: str, size: float, room: float) -> list[str]:
    lines = [words[0]]
    for item in words[1:]:
        joined = f"{lines[-1]} {item}"
        if text_width(joined, font_file, size) <= room:
            lines[-1] = joined
        else:
            lines.append(item)
    return lines


def escape(text: str) -> str:
    """``text`` as libass shows it literally: braces escaped, each backslash followed by a word joiner
    (invisible) so that it never starts a tag such as ``\\N``."""
    return text.replace("\\", "\\\u2060").replace("{", "\\{").replace("}", "\\}")


def _words(caption: Caption, layout: Layout, edges: tuple[float, float], timed: bool = False,
           marked: int | None = None, pop: bool = False) -> str:
    """The caption's text in its lines, a line too wide set smaller with its ``edges`` (border, shadow).

    ``timed``: karaoke timing, each word turning to the accent colour when it is spoken; ``marked``:
    every word but that one fully transparent; ``pop``: each line scales in.
    """
    scales = layout.scales(caption.lines, layout.size, layout.room)
    sized = min(scales) < 1.0
    parts = ["{\\alpha&HFF&}"] if marked is not None else []
    spans = _word_spans(caption)
    for index, (item, (line, before)) in enumerate(zip(caption.words, _placed(caption), strict=True)):
        parts.append(before)
        if index == 0 or before == "\\N":  # a line starts
            parts.append((_line_size(layout.size, edges, scales[line]) if sized else "") + (_POP if pop else ""))
        if timed:
            start, end = spans[index]
            parts.append(f"{{\\k{max(1, round((end - start) * 100))}}}")
        text = escape(item.text)
        parts.append(f"{{\\alpha&H00&}}{text}{{\\alpha&HFF&}}" if index == marked else text)
    return "".join(parts)


def _placed(caption: Caption) -> list[tuple[int, str]]:
    """Each word's line, and what comes before it: a line break, a space, or nothing (text written
    without spaces), read from the caption's lines, which hold its words in order."""
    placed, line, position = [], 0, 0
    for index, item in enumerate(caption.words):
        text = caption.lines[line] if line < len(caption.lines) else ""
        if index and position >= len(text) and line + 1 < len(caption.lines):
            line, position, before = line + 1, 0, "\\N"
            text = caption.lines[line]
        elif index and text.startswith(" ", position):
            position, before = position + 1, " "
        else:
            before = " " if index and not text.startswith(item.text, position) else ""
        placed.append((line, before))
        position += len(item.text)
    return placed


def _line_size(size: float, edges: tuple[float, float], scale: float) -> str:
    """The tags that set a line's font size and its ``edges`` (border, shadow) to ``scale`` of theirs.

    The font size itself shrinks, not a scale of the glyphs: only then does libass fit a box to them.
    """
    border, shadow = (round(value * scale, 1) for value in edges)
    return f"{{\\fs{size * scale:.1f}\\bord{border}\\shad{shadow}}}"


def _word_spans(caption: Caption) -> list[tuple[float, float]]:
    """From each word's start to the next one's (the first from the caption's start, the last to its end)."""
    starts = [caption.start] + [w.start for w in caption.words[1:]]
    ends = starts[1:] + [caption.end]
    return [(start, max(start, end)) for start, end in zip(starts, ends, strict=True)]


def _dialogue(layer: int, start: float, end: float, style: str, text: str) -> str:
    return f"Dialogue: {layer},{_clock(start)},{_clock(end)},{style},,0,0,0,,{text}\n"


def _clock(seconds: float) -> str:
    centis = max(0, round(seconds * 100))
    hours, rest = divmod(centis, 360000)
    minutes, rest = divmod(rest, 6000)
    return f"{hours}:{minutes:02d}:{rest // 100:02d}.{rest % 100:02d}"
