"""Captions stage: short readable chunks of at most two lines, timed from the spoken words."""
from __future__ import annotations

from ttvd.config import Settings
from ttvd.timeline import Caption, Speech, Word

_SENTENCE_END = (".", "!", "?", "…", ".\"", "!\"", "?\"", ".”", "!”", "?”")
_PHRASE_END = (",", ";", ":", "—", "–", "-", ")")
_PAUSE = 0.45     # a silence this long between words always ends a caption
_HOLD = 0.3       # how long a caption stays after its last word when nothing follows at once
_MIN_FILL = 0.5   # break at a comma only once the caption is at least this full


def speech_word_times(speech: Speech, settings: Settings | None = None) -> list[Word]:
    """The offline caption timing: the words as the speech engine timed them."""
    return speech.words


def make_captions(words: list[Word], max_line_chars: int, duration: float) -> list[Caption]:
    """Group ``words`` into captions broken at sentence, phrase and pause boundaries."""
    chunks: list[list[Word]] = []
    current: list[Word] = []
    for word, following in zip(words, words[1:] + [None], strict=True):
        if current and not _fits(current + [word], max_line_chars):
            chunks.append(current)
            current = []
        current.append(word)
        if following is None or _ends_chunk(current, word, following, max_line_chars):
            chunks.append(current)
            current = []
    return _timed(chunks, max_line_chars, duration)


def _ends_chunk(current: list[Word], word: Word, following: Word, max_line_chars: int) -> bool:
    text = word.text
    capacity = 2 * max_line_chars
    if text.endswith(_SENTENCE_END) or following.start - word.end >= _PAUSE:
        return True
    if text.endswith(_PHRASE_END) and _length(current) >= _MIN_FILL * capacity:
        return True
    return not _fits(current + [following], max_line_chars)


def _fits(words: list[Word], max_line_chars: int) -> bool:
    """True when ``words`` can be shown in two lines, no line longer than the limit."""
    lines = split_lines(words, max_line_chars)
    return len(words) == 1 or all(len(line) <= max_line_chars for line in lines)


def _timed(chunks: list[list[Word]], max_line_chars: int, duration: float) -> list[Caption]:
    captions = []
    for chunk, following in zip(chunks, chunks[1:] + [None], strict=True):
        start = chunk[0].start
        end = min(chunk[-1].end + _HOLD, duration)
        if following is not None:
            end = following[0].start if following[0].start - chunk[-1].end < _HOLD * 2 else min(
                end, following[0].start)
        captions.append(Caption(round(start, 3), round(max(end, start + 0.1), 3),
                                split_lines(chunk, max_line_chars), chunk))
    return captions


def split_lines(words: list[Word], max_line_chars: int) -> list[str]:
    """One line if it fits, else two balanced lines, preferring a break after punctuation."""
    texts = [w.text for w in words]
    whole = " ".join(texts)
    if len(whole) <= max_line_chars or len(texts) == 1:
        return [whole]
    best, best_score = 1, None
    for cut in range(1, len(texts)):
        first, second = " ".join(texts[:cut]), " ".join(texts[cut:])
        score = abs(len(first) - len(second))
        if max(len(first), len(second)) > max_line_chars:
            score += 1000
        if texts[cut - 1].endswith(_PHRASE_END + _SENTENCE_END):
            score -= max_line_chars // 3
        if best_score is None or score < best_score:
            best, best_score = cut, score
    return [" ".join(texts[:best]), " ".join(texts[best:])]


def _length(words: list[Word]) -> int:
    return sum(len(w.text) for w in words) + len(words) - 1
