"""Properties of caption line breaking, checked over generated words (hypothesis).

- ``split_lines`` breaks only between words: one line when it fits, else two, both within the width
  whenever some break makes them fit;
- ``make_captions`` shows every word once, in order, never more than two lines (one for ``word``),
  every line within the width unless the caption is one word too wide for any line, and a caption
  spans a sentence end or a long silence only to take in a lone word;
- text written without spaces (Chinese, Japanese) is cut into line-sized pieces, losing no character;
- the title card (``ass.wrap``) keeps every word, whole, in lines within the room unless one word is
  wider, and ``ass.escape`` leaves nothing libass would read as a tag.
"""
from __future__ import annotations

import re
import unicodedata
from itertools import pairwise

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ttvd.pipeline.captions import _MERGE_GAP, _PAUSE, _is_title, is_sentence_end, make_captions, split_lines
from ttvd.render.ass import escape, wrap
from ttvd.render.fonts import find_font, text_width
from ttvd.timeline import Caption, Word

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MIN_SHOWN = 0.1  # the shortest a caption stays on screen (ttvd.pipeline.captions._timed)

LATIN = ("a", "the", "of", "night", "train", "station,", "left;", "dawn.", "Why?", "Dr.", "U.N.", "—", "é",
         "extraordinarily", "Schifffahrtsgesellschaft", "x" * 45)
CJK = ("夜の列車は駅を出た。", "東京タワー、大阪城、京都の寺。", "我们走吧", "한국어")
narrow = st.characters(exclude_categories=("Z", "C")).filter(lambda ch: unicodedata.east_asian_width(ch) not in "WF")
word_texts = st.one_of(st.sampled_from(LATIN), st.text(narrow, min_size=1, max_size=20))
widths = st.integers(min_value=8, max_value=48)
presets = st.sampled_from(("karaoke", "highlight", "word", "classic"))


@st.composite
def spoken(draw: st.DrawFn, texts: st.SearchStrategy[str] = word_texts) -> list[Word]:
    """Words in order, each at least MIN_SHOWN long, with silences of up to 2 s between them."""
    words: list[Word] = []
    at = 0.0
    for text in draw(st.lists(texts, min_size=1, max_size=40)):
        length = draw(st.sampled_from((0.1, 0.2, 0.35, 0.8)))
        words.append(Word(text, round(at, 3), round(at + length, 3)))
        at += length + draw(st.sampled_from((0.0, 0.05, 0.3, _PAUSE, 0.8, 2.0)))
    return words


def _width(text: str) -> int:
    """Width in Latin characters: a wide character (CJK) takes two, as a caption's line measures it."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


# -- split_lines ----------------------------------------------------------------------------------

@FAST
@given(spoken(), widths)
def test_lines_break_only_between_words_and_fit_when_a_break_can(words: list[Word], width: int) -> None:
    texts = [w.text for w in words]
    lines = split_lines(words, width)
    assert 1 <= len(lines) <= 2 and all(lines)
    assert [part for line in lines for part in line.split(" ")] == [p for t in texts for p in t.split(" ")]
    whole = " ".join(texts)
    assert (len(lines) == 1) == (_width(whole) <= width or len(words) == 1)
    fitting = [cut for cut in range(1, len(texts))
               if max(_width(" ".join(texts[:cut])), _width(" ".join(texts[cut:]))) <= width]
    if len(lines) == 2 and fitting:
        assert all(_width(line) <= width for line in lines), (lines, width)


# -- make_captions --------------------------------------------------------------------------------

def _check_captions(captions: list[Caption], words: list[Word], width: int, preset: str) -> None:
    assert [w for c in captions for w in c.words] == words
    for caption in captions:
        assert caption.words and 1 <= len(caption.lines) <= (1 if preset == "word" else 2)
        if len(caption.words) > 1:
            assert all(_width(line) <= width for line in caption.lines), (caption.lines, width)
        if preset == "word":
            assert len(caption.words) <= 3


@FAST
@given(spoken(), widths, presets)
def test_captions_show_every_word_once_in_order_within_the_width(words: list[Word], width: int,
                                                                 preset: str) -> None:
    duration = words[-1].end + 0.5
    captions = make_captions(words, width, duration, preset)
    _check_captions(captions, words, width, preset)
    for caption in captions:
        assert caption.start == caption.words[0].start
        assert caption.end >= caption.words[-1].end or caption.end == duration
        assert caption.end - caption.start >= MIN_SHOWN - 1e-9
    for first, second in pairwise(captions):
        assert first.start < second.start
        assert first.end <= second.start, (first, second)


@FAST
@given(spoken(), widths, presets)
def test_a_caption_spans_a_sentence_end_or_a_silence_only_to_take_in_a_lone_word(
        words: list[Word], width: int, preset: str) -> None:
    for caption in make_captions(words, width, words[-1].end + 0.5, preset):
        inner = caption.words
        for index, (word, following) in enumerate(pairwise(inner)):
            silent = following.start - word.end >= _PAUSE and not _is_title(word.text)
            if not (is_sentence_end(word.text) or silent):
                continue
            assert preset != "word", caption
            # an orphan joins its neighbour: the break is after the first word or before the last
            assert index in (0, len(inner) - 2), caption
            assert following.start - word.end < _MERGE_GAP, caption


@FAST
@given(spoken(st.one_of(st.sampled_from(CJK), st.sampled_from(LATIN))), widths, presets)
def test_text_without_spaces_is_cut_into_pieces_losing_no_character(words: list[Word], width: int,
                                                                    preset: str) -> None:
    captions = make_captions(words, width, words[-1].end + 0.5, preset)
    assert "".join(w.text for c in captions for w in c.words) == "".join(w.text for w in words)
    for caption in captions:
        assert 1 <= len(caption.lines) <= (1 if preset == "word" else 2)
        if len(caption.words) > 1:
            assert all(_width(line) <= width for line in caption.lines), (caption.lines, width)
    for first, second in pairwise(captions):
        assert first.start <= second.start


# -- the title card -------------------------------------------------------------------------------

FONT = find_font()[0]


@FAST
@given(st.lists(word_texts, min_size=0, max_size=25).map(" ".join), st.floats(min_value=20, max_value=120),
       st.floats(min_value=60, max_value=1000))
def test_title_lines_keep_every_word_whole_within_the_room(title: str, size: float, room: float) -> None:
    lines = wrap(title, FONT, size, room)
    assert " ".join(lines).split() == title.split()
    assert all(line == line.strip() and line for line in lines)
    for line in lines:
        assert text_width(line, FONT, size) <= room or " " not in line, (line, room)


@FAST
@given(st.text(st.sampled_from("\\{}Nnh ab\u2060"), max_size=30) | st.text(max_size=30))
def test_escaped_text_holds_no_tag_and_reads_back_as_typed(text: str) -> None:
    escaped = escape(text)
    # every backslash is followed by a word joiner or an escaped brace: it starts no \N, \h or {\tag}
    assert re.search(r"\\(?![\u2060{}])", escaped) is None
    assert re.search(r"(?<!\\)[{}]", escaped) is None
    assert escaped.replace("\\{", "{").replace("\\}", "}").replace("\\\u2060", "\\") == text
