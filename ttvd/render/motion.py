"""Slow pan over stills ("Ken Burns"), planned once so every engine moves the same way.

A still is scaled once to cover the frame with a margin, and a frame-sized window glides across
it in a straight line: cropping an already scaled image costs nearly nothing per frame. The glide
is gentle: at most PAN_SPEED of the frame a second, and never more than TRAVEL in all.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ttvd.timeline import Clip

OVERSCAN = 1.15   # the still covers the frame with 15% to spare in both directions
TRAVEL = 0.15     # the window moves at most this fraction of the frame's size on each axis
PAN_SPEED = 0.03  # ... and at most this fraction a second, so a short clip drifts instead of sliding
# Start and end of the window's centre, -1..1 across the usable margin: diagonals, then sideways.
PATHS = (((-1, -1), (1, 1)), ((1, 1), (-1, -1)), ((-1, 1), (1, -1)), ((1, -1), (-1, 1)),
         ((-1, 0), (1, 0)), ((1, 0), (-1, 0)), ((0, -1), (0, 1)), ((0, 1), (0, -1)))


@dataclass(frozen=True)
class Pan:
    start: tuple[float, float]
    end: tuple[float, float]
    reach: float = TRAVEL  # the fraction of the frame's size the window travels on a moving axis

    def offset(self, axis: int, progress: float, margin: int, size: int) -> float:
        """Left (axis 0) or top (axis 1) of the window at ``progress`` 0..1, in pixels of the still."""
        travel = min(margin, self.reach * size) / 2
        place = self.start[axis] + (self.end[axis] - self.start[axis]) * progress
        return margin / 2 + place * travel


def pan_for(clip: Clip) -> Pan:
    """The pan of ``clip``: chosen by its ``seed`` param, else by its source and start; stable."""
    seed = clip.params.get("seed")
    if seed is None:
        seed = int.from_bytes(hashlib.sha256(f"{clip.source}:{clip.start}".encode()).digest()[:4], "big")
    start, end = PATHS[int(seed) % len(PATHS)]
    reach = round(min(TRAVEL, PAN_SPEED * max(0.0, clip.end - clip.start)), 4)
    return Pan(start, end, reach)


def cover_size(width: int, height: int, frame_w: int, frame_h: int) -> tuple[int, int]:
    """Size a ``width``x``height`` still is scaled to so it covers the frame with OVERSCAN to spare."""
    scale = max(frame_w * OVERSCAN / width, frame_h * OVERSCAN / height)
    return max(frame_w, round(width * scale / 2) * 2), max(frame_h, round(height * scale / 2) * 2)
