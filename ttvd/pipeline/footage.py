"""Footage stage: a background clip for every passage, covering the narration with no gaps.

Offline, each passage gets a generated motion background: a slowly turning colour gradient whose
shape, palette and motion are drawn from a seed made of the job id and the passage index, so a
job always renders the same video and neighbouring passages look different.
"""
from __future__ import annotations

import hashlib
import random

from ttvd.timeline import Clip, Passage

GRADIENT_TYPES = ("linear", "radial", "circular", "spiral", "square")
# Deep, saturated palettes: white captions with a dark outline stay readable over all of them.
PALETTES = (
    ("0x0b132b", "0x1c2541", "0x3a506b", "0x5bc0be"),
    ("0x2d0b3a", "0x5a189a", "0x9d4edd", "0x240046"),
    ("0x03071e", "0x6a040f", "0xd00000", "0xe85d04"),
    ("0x081c15", "0x1b4332", "0x2d6a4f", "0x52b788"),
    ("0x10002b", "0x3c096c", "0xff006e", "0x3a0ca3"),
    ("0x001219", "0x005f73", "0x0a9396", "0xee9b00"),
    ("0x1a1423", "0x372549", "0x774c60", "0xb75d69"),
    ("0x0d1b2a", "0x1b263b", "0x415a77", "0xe0a458"),
)


def _points(rng: random.Random) -> list[float]:
    """Gradient end points as fractions of the frame: opposite edges, random positions along them."""
    a, b = round(rng.uniform(0, 1), 3), round(rng.uniform(0, 1), 3)
    return [a, 0.0, b, 1.0] if rng.random() < 0.5 else [0.0, a, 1.0, b]


def generated_clips(passages: list[Passage], job_id: str) -> list[Clip]:
    """One generated background per passage, deterministic for ``job_id``."""
    clips = []
    previous = None
    for index, passage in enumerate(passages):
        rng = random.Random(hashlib.sha256(f"{job_id}:{index}".encode()).digest())
        palette_index = rng.randrange(len(PALETTES))
        if palette_index == previous:
            palette_index = (palette_index + 1) % len(PALETTES)
        previous = palette_index
        colours = list(PALETTES[palette_index])
        rng.shuffle(colours)
        params = {
            "type": GRADIENT_TYPES[rng.randrange(len(GRADIENT_TYPES))],
            "colours": colours[:3],
            "speed": round(rng.uniform(0.008, 0.025), 4),
            "seed": rng.randrange(2**31),
            # the gradient runs from one edge to the opposite one, so every frame shows its full range
            "points": _points(rng),
        }
        clips.append(Clip(passage.start, passage.end, "generated", params=params))
    return clips
