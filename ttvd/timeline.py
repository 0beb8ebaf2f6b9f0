"""Plain data passed between stages and to render engines; every type round-trips through JSON."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Word:
    """A word as shown in captions, with the seconds it is spoken."""

    text: str
    start: float
    end: float


@dataclass
class Speech:
    audio: str
    duration: float
    words: list[Word]
    engine: str = ""  # the speech backend that made it: caption timing depends on it

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Speech:
        return cls(data["audio"], data["duration"], [Word(**w) for w in data["words"]], data.get("engine", ""))


@dataclass
class Caption:
    """One caption event: at most two lines, shown from ``start`` to ``end``."""

    start: float
    end: float
    lines: list[str]
    words: list[Word]

    @property
    def text(self) -> str:
        return " ".join(self.lines)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Caption:
        return cls(data["start"], data["end"], data["lines"], [Word(**w) for w in data["words"]])


@dataclass
class Passage:
    """A stretch of narration shown over one background, with the queries that describe it."""

    start: float
    end: float
    text: str
    queries: list[str] = field(default_factory=list)


@dataclass
class Clip:
    """Footage for ``start..end`` of the video.

    ``kind`` is ``generated`` (``params`` describe a synthetic motion background), ``video`` or
    ``image`` (``source`` is a local file; ``in_point`` is where playback of a video starts).
    """

    start: float
    end: float
    kind: str
    source: str | None = None
    in_point: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Style:
    """How captions and the title card look; ``preset`` and ``position`` are the job's option values.

    Margins are the edges of the platforms' safe area, in pixels from the frame's edges; ``position``
    says which edge captions keep to.
    """

    font_file: str
    font_name: str
    font_size: int
    max_line_chars: int
    primary_colour: str = "&H0000D7FF"   # the accent: spoken words, the highlight box (ASS is &HAABBGGRR)
    secondary_colour: str = "&H00FFFFFF"  # the text: white
    outline_colour: str = "&H00000000"
    margin_v: int = 0                     # from the bottom
    preset: str = "karaoke"               # karaoke, highlight, word, classic or none
    position: str = "bottom"              # bottom, middle or top
    margin_l: int = 0
    margin_r: int = 0
    margin_t: int = 0                     # from the top
    box_colour: str = "&H50000000"        # the box behind classic captions and the title: black, 69% opaque
    title: str = ""                       # the title card's text, shown over the first seconds; empty: none


@dataclass
class Timeline:
    """Everything a render engine needs, and nothing else."""

    audio: str
    duration: float
    width: int
    height: int
    fps: int
    clips: list[Clip]
    captions: list[Caption]
    style: Style
    encoder: dict[str, Any] = field(default_factory=dict)
    # How one clip gives way to the next: none (a cut), fade, slide or zoom. With a transition every
    # clip after the first starts early, playing under the last frames of the clip before it.
    transition: str = "none"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Timeline:
        data = dict(data)
        data["clips"] = [Clip(**c) for c in data["clips"]]
        data["captions"] = [Caption.from_dict(c) for c in data["captions"]]
        data["style"] = Style(**data["style"])
        return cls(**data)
