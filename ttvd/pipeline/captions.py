"""Captions stage: short readable chunks of at most two lines, timed from the spoken words.

A caption never spans a sentence end or a long silence. An abbreviation (Dr., St., U.N., e.g.) does
not end a sentence. Inside a sentence, captions and their lines break where a reader pauses: after
punctuation, and not after an article, a preposition or a conjunction when another break fits; no
caption is one word on its own when a neighbour can take it. The ``word`` preset shows one to three
words at a time, on one line.
"""
from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

from ttvd.config import Settings
from ttvd.timeline import Caption, Speech, Word

_SENTENCE_END = (".", "!", "?", "…", ".\"", "!\"", "?\"", ".”", "!”", "?”", "。", "！", "？")
_PHRASE_END = (",", ";", ":", "—", "–", "-", ")", "、", "，")
_PAUSE = 0.45     # a silence this long between words ends a caption
_MERGE_GAP = 1.0  # a one-word sentence joins a neighbour caption across at most this silence
_HOLD = 0.3       # how long a caption stays after its last word when nothing follows at once
_WORD_PRESET_WORDS = 3
_WIDE_STOPS = "，、。！？；："  # where a text written without spaces (Chinese, Japanese) may break
# Titles and other abbreviations that are followed by more of the same sentence.
_TITLES = frozenset("""dr mr mrs ms mx prof st sr jr mt ft rev hon gen col capt lt sgt gov sen rep pres
    vol vols fig figs approx dept vs cf ca al jan feb mar apr jun jul aug sep sept oct nov dec
    mme mlle sra srta hr fr""".split())
_INITIALS = re.compile(r"(?:\w\.){2,}|[B-HJ-Z]\.")  # U.N., e.g., U.S.A., a middle initial J. (not I. or A.)
_OPENING = "\"'“‘«([¿¡"
# Words a line or a caption should not end on: articles, prepositions, conjunctions, possessives
# (English, with the commonest of French, Spanish, Portuguese, Italian and German).
_WEAK = frozenset("""a an the of to in on at by for from with into onto upon about as than via per and or but
    nor so if that my your his her its our their this these those some any no every each
    before after during until since while because although though unless whether when where
    through across along among around between against behind beyond beneath under
    toward towards within without despite
    le la les un une des du de au aux à et ou en sur dans par pour avec sans
    el los las unos unas del al y o con para sin sobre
    os um uma do da dos das em no na nos nas e com por
    il lo gli di su
    der die das den dem des ein eine einen einem einer und oder mit von zu im am an auf für""".split())


def speech_word_times(speech: Speech, settings: Settings | None = None) -> list[Word]:
    """The offline caption timing: the words as the speech engine timed them."""
    return speech.words


def make_captions(words: list[Word], max_line_chars: int, duration: float,
                  preset: str = "karaoke") -> list[Caption]:
    """Group ``words`` into captions broken at sentence, phrase and pause boundaries.

    With ``preset`` ``word`` a caption is one line of one to three words.
    """
    single = preset == "word"
    words = [piece for word in words for piece in _pieces(word, max_line_chars)]
    chunks = [chunk for run in _runs(words) for chunk in _chunked(run, max_line_chars, single)]
    if not single:
        chunks = _merge_orphans(chunks, max_line_chars)
    return _timed(chunks, max_line_chars, duration)


@dataclass
class _Glued(Word):
    """A piece of a word written without spaces (Chinese, Japanese), shown right after the piece before it."""


def _pieces(word: Word, max_line_chars: int) -> list[Word]:
    """``word``, or if it is CJK text too wide for a line, its clauses and line-sized pieces of them,
    each timed by its share of the characters."""
    if _width(word.text) <= max_line_chars or not any(_wide(ch) for ch in word.text):
        return [word]
    texts = []
    for clause in re.findall(f"[^{_WIDE_STOPS}]+[{_WIDE_STOPS}]*|[{_WIDE_STOPS}]+", word.text):
        while _width(clause.rstrip(_WIDE_STOPS)) > max_line_chars:  # a clause keeps its closing mark
            cut = next(i for i in range(1, len(clause) + 1) if _width(clause[:i + 1]) > max_line_chars)
            texts.append(clause[:cut])
            clause = clause[cut:]
        texts.append(clause)
    pieces: list[Word] = []
    done, span = 0, word.end - word.start
    for text in texts:
        start = word.start + span * done / len(word.text)
        done += len(text)
        end = word.start + span * done / len(word.text)
        pieces.append((_Glued if pieces else Word)(text, round(start, 3), round(end, 3)))
    return pieces


def is_sentence_end(text: str) -> bool:
    """True when a word ending ``text`` ends its sentence (an abbreviation does not)."""
    return text.endswith(_SENTENCE_END) and not is_abbreviation(text)


def is_abbreviation(text: str) -> bool:
    """True for a title or abbreviation that the sentence goes on after (Dr., St., U.N., e.g.)."""
    core = text.lstrip(_OPENING)
    return _is_title(text) or (core.endswith(".") and _INITIALS.fullmatch(core) is not None)


def is_weak(text: str) -> bool:
    """True for a word a line should not end on: an article, preposition, conjunction or possessive."""
    return text.lower().strip(_OPENING) in _WEAK


def _is_title(text: str) -> bool:
    core = text.lstrip(_OPENING)
    return core.endswith(".") and core[:-1].lower() in _TITLES


def _runs(words: list[Word]) -> list[list[Word]]:
    """Stretches of words no caption may span: sentences, split again at long silences."""
    runs: list[list[Word]] = []
    current: list[Word] = []
    for word, following in zip(words, words[1:] + [None], strict=True):
        current.append(word)
        # a speech engine may pause after "Dr." as after a full stop; the sentence goes on all the same
        paused = following is not None and following.start - word.end >= _PAUSE and not _is_title(word.text)
        if following is None or is_sentence_end(word.text) or paused:
            runs.append(current)
            current = []
    return runs


def _chunked(run: list[Word], max_line_chars: int, single: bool) -> list[list[Word]]:
    """The cheapest split of ``run`` into captions that fit (see ``_cost``), found by dynamic programming."""
    best = [0.0] + [math.inf] * len(run)
    back = [0] * (len(run) + 1)
    for end in range(1, len(run) + 1):
        for start in range(end - 1, -1, -1):
            piece = run[start:end]
            if len(piece) > 1 and not _fits(piece, max_line_chars, single):
                break  # a longer piece fits no better
            cost = best[start] + _cost(piece, end == len(run), len(run), max_line_chars, single)
            if cost < best[end]:
                best[end], back[end] = cost, start
    chunks, end = [], len(run)
    while end > 0:
        chunks.append(run[back[end]:end])
        end = back[end]
    return chunks[::-1]


def _cost(piece: list[Word], ends_run: bool, run_length: int, max_line_chars: int, single: bool) -> float:
    """Each caption costs one; empty room, a weak or unpunctuated end and a lone word cost more."""
    cost = 1.0 + (0.0 if ends_run else _break_cost(piece[-1].text))
    if single:
        return cost + (0.5 if len(piece) == 1 and run_length > 1 else 0.0)
    lines = split_lines(piece, max_line_chars)
    if len(lines) > 1:  # a line break weighs half a caption break, except after a weak word
        ending = lines[0].rsplit(" ", 1)[-1]
        cost += _break_cost(ending) if is_weak(ending) else _break_cost(ending) / 2
    fill = _length(piece) / (2 * max_line_chars)
    return cost + (1 - min(1.0, fill)) ** 2 + (4.0 if len(piece) == 1 and run_length > 1 else 0.0)


def _break_cost(last: str) -> float:
    """What ending a caption on the word ``last`` costs: nothing after punctuation, most after a weak word."""
    if is_weak(last) or _is_title(last):
        return 3.0
    if last.endswith(_PHRASE_END + _SENTENCE_END) and not is_abbreviation(last):
        return 0.0
    return 0.5


def _fits(words: list[Word], max_line_chars: int, single: bool = False) -> bool:
    """True when ``words`` can be shown in two lines (one for the word preset) within the limit."""
    if single:
        return len(words) <= _WORD_PRESET_WORDS and _length(words) <= max_line_chars
    return all(_width(line) <= max_line_chars for line in split_lines(words, max_line_chars))


def _merge_orphans(chunks: list[list[Word]], max_line_chars: int) -> list[list[Word]]:
    """A caption of one word joins the next caption, or else the previous one, when the result fits."""
    merged: list[list[Word]] = []
    index = 0
    while index < len(chunks):
        chunk = chunks[index]
        following = chunks[index + 1] if index + 1 < len(chunks) else None
        if len(chunk) == 1 and following and _joinable(chunk, following, max_line_chars):
            merged.append(chunk + following)
            index += 2
            continue
        if len(chunk) == 1 and merged and _joinable(merged[-1], chunk, max_line_chars):
            merged[-1] = merged[-1] + chunk
        else:
            merged.append(chunk)
        index += 1
    return merged


def _joinable(first: list[Word], second: list[Word], max_line_chars: int) -> bool:
    return second[0].start - first[-1].end < _MERGE_GAP and _fits(first + second, max_line_chars)


def _timed(chunks: list[list[Word]], max_line_chars: int, duration: float) -> list[Caption]:
    captions: list[Caption] = []
    for chunk, following in zip(chunks, chunks[1:] + [None], strict=True):
        # Never under the previous caption: words of no length (a voice that times some words at one
        # instant) would otherwise stack two captions for the 0.1 s each is shown at least.
        start = max(chunk[0].start, captions[-1].end if captions else 0.0)
        end = min(chunk[-1].end + _HOLD, duration)
        if following is not None:
            end = following[0].start if following[0].start - chunk[-1].end < _HOLD * 2 else min(
                end, following[0].start)
        captions.append(Caption(round(start, 3), round(max(end, start + 0.1), 3),
                                split_lines(chunk, max_line_chars), chunk))
    return captions


def split_lines(words: list[Word], max_line_chars: int) -> list[str]:
    """One line if it fits, else two balanced lines, breaking after punctuation and not after a weak word."""
    texts = [w.text for w in words]
    whole = _joined(words)
    if _width(whole) <= max_line_chars or len(texts) == 1:
        return [whole]
    best, best_score = 1, math.inf
    for cut in range(1, len(texts)):
        first, second = _width(_joined(words[:cut])), _width(_joined(words[cut:]))
        score = float(abs(first - second))
        if max(first, second) > max_line_chars:
            score += 1000
        ending = texts[cut - 1]
        if ending.endswith(_PHRASE_END + _SENTENCE_END) and not is_abbreviation(ending):
            score -= max_line_chars // 3
        if is_weak(ending) or is_abbreviation(ending):
            score += max_line_chars
        if score < best_score:
            best, best_score = cut, score
    return [_joined(words[:best]), _joined(words[best:])]


def _joined(words: list[Word]) -> str:
    """The words as one text: a space between them, none before a glued piece."""
    return "".join(("" if index == 0 or isinstance(w, _Glued) else " ") + w.text for index, w in enumerate(words))


def _length(words: list[Word]) -> int:
    return _width(_joined(words))


def _width(text: str) -> int:
    """Width in characters of the Latin alphabet: a wide character (CJK) takes two."""
    return sum(2 if _wide(ch) else 1 for ch in text)


def _wide(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in "WF"
