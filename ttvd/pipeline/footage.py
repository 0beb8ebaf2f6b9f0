"""Footage stage: background clips for every passage, covering the narration with no gaps.

Sources are tried in turn for each passage (the user's media folder, then Pexels when chosen);
whatever they leave uncovered gets a generated motion background. Offline, without a media folder,
each passage gets a generated motion background: a slowly turning colour gradient whose shape,
palette and motion are drawn from a seed made of the job id and the passage index, so a job always
renders the same video and neighbouring passages look different.
"""
from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Callable
from typing import Any, Protocol

from ttvd.errors import ServiceUnavailable
from ttvd.timeline import Clip, Passage

log = logging.getLogger(__name__)
MIN_CLIP_SECONDS = 1.0
_EPSILON = 1e-3

GRADIENT_TYPES = ("linear", "radial", "circular", "spiral", "square")
# Curated palettes, deep and saturated: every colour is dark enough for white text to keep a contrast
# of at least 5:1 (WCAG asks 4.5:1), so captions stay readable wherever the gradient turns. The last
# colour of each is its brightest and always drawn, so no background is all near-black.
PALETTES = (
    ("0x0b132b", "0x1c2541", "0x3a506b", "0x1f6f78"),   # midnight teal
    ("0x2d0b3a", "0x240046", "0x5a189a", "0x7b2cbf"),   # violet
    ("0x03071e", "0x6a040f", "0x9d0208", "0xa33c08"),   # ember
    ("0x081c15", "0x1b4332", "0x2d6a4f", "0x23705a"),   # forest
    ("0x10002b", "0x3c096c", "0x3a0ca3", "0xa3005a"),   # neon dusk
    ("0x001219", "0x14486b", "0x005f73", "0x0a6e7d"),   # deep sea
    ("0x1a1423", "0x372549", "0x774c60", "0x8f3f58"),   # plum
    ("0x0d1b2a", "0x1b263b", "0x415a77", "0x8a4b2a"),   # slate and copper
    ("0x041c2c", "0x0b3d3a", "0x4a2a6a", "0x1b5e4a"),   # aurora
    ("0x2b0f2e", "0x3d1a5c", "0x6b1f3a", "0x9e2a2b"),   # wine
)
TURN_SPEED = (0.15, 0.4)   # radians a second: a full turn takes 16 to 40 s, a gentle drift behind the words


def _points(rng: random.Random, kind: str) -> list[float]:
    """Gradient end points as fractions of the frame: opposite edges, random positions along them.

    A radial or square gradient spans the distance between its points; across the short side of a
    vertical frame that leaves the far end of the frame one flat colour, so those run top to bottom.
    """
    a, b = round(rng.uniform(0, 1), 3), round(rng.uniform(0, 1), 3)
    vertical = rng.random() < 0.5 or kind in ("radial", "square")
    return [a, 0.0, b, 1.0] if vertical else [0.0, a, 1.0, b]


def generated_clips(passages: list[Passage], job_id: str) -> list[Clip]:
    """One generated background per passage, deterministic for ``job_id``."""
    clips: list[Clip] = []
    for index, passage in enumerate(passages):
        clips.append(generated_clip(job_id, index, passage.start, passage.end, clips[-1] if clips else None))
    return clips


def generated_clip(job_id: str, index: int, start: float, end: float, previous: Clip | None = None) -> Clip:
    """The generated background of passage ``index``, unlike ``previous`` when that one is generated too."""
    rng = random.Random(hashlib.sha256(f"{job_id}:{index}".encode()).digest())
    palette_index = rng.randrange(len(PALETTES))
    if previous is not None and previous.kind == "generated" \
            and set(previous.params["colours"]) <= set(PALETTES[palette_index]):
        palette_index = (palette_index + 1) % len(PALETTES)
    palette = PALETTES[palette_index]
    colours = [*rng.sample(palette[:-1], 2), palette[-1]]
    rng.shuffle(colours)
    kind = GRADIENT_TYPES[rng.randrange(len(GRADIENT_TYPES))]
    params = {
        "type": kind,
        "colours": colours,
        "speed": round(rng.uniform(*TURN_SPEED), 3),  # radians a second: the same motion at any frame rate
        "seed": rng.randrange(2**31),
        # the gradient runs from one edge to the opposite one, so every frame shows its full range
        "points": _points(rng, kind),
    }
    return Clip(start, end, "generated", params=params)


class Source(Protocol):
    """Where footage comes from: the media folder, Pexels. Generated backgrounds fill what they leave."""

    name: str

    def clip_for(self, passage: Passage, start: float, end: float) -> Clip | None:
        """A clip from ``start`` to at most ``end`` for ``passage``; None when the source has nothing for it."""


def plan_footage(passages: list[Passage], sources: list[Source], job_id: str,
                 note: Callable[[str], None] = lambda line: None,
                 unavailable: Callable[[ServiceUnavailable], ServiceUnavailable] | None = None) -> list[Clip]:
    """Clips tiling every passage with no gap: each source in turn, then a generated background.

    A source whose service stays unavailable is dropped for the rest of the job, with a ``note``; when
    ``unavailable`` is given, the error it makes of that is raised instead (the job must not fall back).
    """
    sources = list(sources)
    clips: list[Clip] = []
    for index, passage in enumerate(passages):
        at = passage.start
        for source in list(sources):
            while passage.end - at > _EPSILON:
                try:
                    clip = source.clip_for(passage, at, passage.end)
                except ServiceUnavailable as exc:
                    if unavailable is not None:
                        raise unavailable(exc) from exc
                    log.warning("job %s: %s", job_id, exc)
                    note(f"{exc}; the remaining footage comes from other sources")
                    sources.remove(source)
                    clip = None
                if clip is None or clip.end <= at + _EPSILON:
                    break
                if passage.end - clip.end < MIN_CLIP_SECONDS:
                    clip.end = passage.end  # the clip's last frame holds rather than flash a sliver of another
                clips.append(clip)
                note(f"Footage {clip.start:.1f}-{clip.end:.1f} s: {credit(clip)}")
                at = clip.end
        if passage.end - at > _EPSILON:
            clips.append(generated_clip(job_id, index, at, passage.end, clips[-1] if clips else None))
    return clips


def footage_credits(clips: list[Clip]) -> list[dict[str, Any]]:
    """The source page and author of every stock clip in the video, for the job's state."""
    return [{"start": clip.start, "end": clip.end, "source": "pexels", "id": clip.params.get("id"),
             "page": clip.params.get("page"), "author": clip.params.get("author"),
             "author_url": clip.params.get("author_url")}
            for clip in clips if clip.params.get("source") == "pexels"]


def credit(clip: Clip) -> str:
    """Where a clip comes from, for the job's log: the source page and author of a stock video."""
    params = clip.params
    if params.get("source") == "pexels":
        return f"Pexels video {params.get('id')} by {params.get('author')} ({params.get('page')})"
    if params.get("source") == "media":
        return f"media folder file {params.get('file')}"
    return clip.kind
