"""Aligning what a recogniser heard back onto the source text.

Captions must show the user's words and punctuation, never the recogniser's spelling; only the
times come from the transcript. Words the recogniser heard differently ("42" / "forty two") take
the span of what it heard in their place; words it missed share the gap between their neighbours.
"""
from __future__ import annotations

import difflib
import re

from ttvd.timeline import Word

_NOT_ALNUM = re.compile(r"[\W_]+", re.UNICODE)
MIN_WORD_SECONDS = 0.02


def normalise(token: str) -> str:
    return _NOT_ALNUM.sub("", token.casefold())


def align(source: list[Word], heard: list[tuple[str, float, float]], duration: float) -> list[Word]:
    """``source`` words (their text kept as is) timed from ``heard`` (recognised word, start, end)."""
    times: list[tuple[float, float] | None] = [None] * len(source)
    matcher = difflib.SequenceMatcher(None, [normalise(w.text) for w in source],
                                      [normalise(h[0]) for h in heard], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for k in range(i2 - i1):
                times[i1 + k] = (heard[j1 + k][1], heard[j1 + k][2])
        elif tag == "replace":
            _spread(source, times, i1, i2, heard[j1][1], heard[j2 - 1][2])
    _fill_missing(source, times, duration)
    filled = [t if t is not None else (0.0, 0.0) for t in times]  # _fill_missing left none empty
    return _monotonic([Word(w.text, t[0], t[1]) for w, t in zip(source, filled, strict=True)], duration)


def _spread(source: list[Word], times: list, i1: int, i2: int, start: float, end: float) -> None:
    """Share ``start..end`` among ``source[i1:i2]`` in proportion to their lengths."""
    weights = [len(normalise(w.text)) + 1 for w in source[i1:i2]]
    total = sum(weights)
    at = start
    for k, weight in enumerate(weights):
        span = (end - start) * weight / total
        times[i1 + k] = (at, at + span)
        at += span


def _fill_missing(source: list[Word], times: list, duration: float) -> None:
    index = 0
    while index < len(times):
        if times[index] is not None:
            index += 1
            continue
        stop = index
        while stop < len(times) and times[stop] is None:
            stop += 1
        start = times[index - 1][1] if index > 0 else 0.0
        end = times[stop][0] if stop < len(times) else duration
        _spread(source, times, index, stop, start, max(start, end))
        index = stop


def _monotonic(words: list[Word], duration: float) -> list[Word]:
    previous = 0.0
    for word in words:
        start = min(max(word.start, previous), duration)
        word.start = round(start, 3)
        word.end = round(min(max(word.end, start + MIN_WORD_SECONDS), duration), 3)
        previous = word.start
    return words
