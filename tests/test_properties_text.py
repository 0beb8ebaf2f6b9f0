"""Properties of how a story's text is read and split, checked over generated input (hypothesis).

- ``decode_text`` is total: any bytes give a story or an ``InputError``, never another exception, and
  UTF-8 or UTF-16 (with its mark) reads back exactly what ``clean_text`` keeps of the text;
- ``normalise`` never crashes, and every character it copies maps back to the same character typed;
- ``split_text`` (OpenAI speech requests) loses, adds and reorders no word, keeps each request within
  its limit (a single longer word aside), and never cuts a sentence that fits in one request;
- ``make_passages`` tiles the narration, keeps every caption's words in order, cuts only between
  captions, and ends a passage at the first sentence end that makes it long enough.
"""
from __future__ import annotations

import re
from itertools import pairwise

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ttvd.backends.openai_speech import split_text
from ttvd.errors import InputError
from ttvd.pipeline.normalise import normalise
from ttvd.pipeline.queries import MAX_PASSAGE_SECONDS, MIN_PASSAGE_SECONDS, is_sentence_end, make_passages
from ttvd.text import clean_text, decode_text
from ttvd.timeline import Caption, Word

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MAX_CHARS = 10_000

# Words: any printable run without blanks, or one of the tokens the splitters treat specially.
SPECIAL = ("end.", "Why?", "stop!", "said.\"", "wait,", "then;", "—", "Dr.", "U.N.", "St.", "e.g.", "…", "(so)")
plain = st.text(st.characters(exclude_categories=("Z", "C")), min_size=1, max_size=12)
tokens = st.lists(st.one_of(plain, st.sampled_from(SPECIAL)), min_size=0, max_size=60)
blanks = st.sampled_from((" ", "  ", "\n", "\t", " \n "))


@st.composite
def texts(draw: st.DrawFn) -> str:
    words = draw(tokens)
    return "".join(word + draw(blanks) for word in words)


# -- reading a story ------------------------------------------------------------------------------

@FAST
@given(st.binary(max_size=300))
def test_any_bytes_give_a_story_or_an_input_error(data: bytes) -> None:
    try:
        text = decode_text(data, MAX_CHARS, name="story.txt")
    except InputError:
        return
    assert text == text.strip() and text


stories = st.text(max_size=200).filter(lambda t: "\x00" not in t and not t.startswith("\ufeff"))


@FAST
@given(stories, st.sampled_from(("utf-8", "utf-16", "utf-32")))
def test_unicode_files_read_back_what_clean_text_keeps(text: str, encoding: str) -> None:
    # Python's utf-16 and utf-32 codecs write a byte order mark; utf-8 is read without one
    data = text.encode(encoding)
    try:
        expected = clean_text(text, MAX_CHARS)
    except InputError as refused:
        try:
            decode_text(data, MAX_CHARS)
        except InputError as also:
            assert type(also) is type(refused)
            return
        raise AssertionError(f"{text!r} read from {encoding} though clean_text refuses it") from None
    assert decode_text(data, MAX_CHARS) == expected


SPEAKABLE = st.text(st.sampled_from("0123456789,.:-−$€£¥%° kmhgLlsftbnBTMGHzapKWr StDrMoNJvecig\n"), max_size=40)


@FAST
@given(st.one_of(SPEAKABLE, st.text(max_size=40)), st.sampled_from(("en", "en-gb", "fr")))
def test_normalise_never_crashes_and_copied_characters_map_home(text: str, language: str) -> None:
    spoken = normalise(text, language)
    for position, char in enumerate(spoken.text):
        source = spoken.source_position(position)
        assert 0 <= source <= len(text)
        index = max(i for i, start in enumerate(spoken.starts) if start <= position)
        if spoken.verbatim[index]:
            assert text[source] == char


# -- speech requests ------------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*$")  # as docs/backends.md: a request ends after a sentence


def _sentences(words: list[str]) -> list[list[str]]:
    sentences: list[list[str]] = [[]]
    for word in words:
        sentences[-1].append(word)
        if _SENTENCE_END.search(word):
            sentences.append([])
    return [s for s in sentences if s]


@FAST
@given(texts(), st.integers(min_value=1, max_value=120))
def test_speech_requests_keep_every_word_in_order_within_the_limit(text: str, limit: int) -> None:
    chunks = split_text(text, limit)
    assert [word for chunk in chunks for word in chunk] == text.split()
    for chunk in chunks:
        assert chunk
        assert len(" ".join(chunk)) <= limit or len(chunk) == 1
    # a sentence that fits in one request is never cut
    owner = [index for index, chunk in enumerate(chunks) for _ in chunk]
    at = 0
    for sentence in _sentences(text.split()):
        if len(" ".join(sentence)) <= limit:
            assert len(set(owner[at:at + len(sentence)])) == 1, sentence
        at += len(sentence)


@FAST
@given(texts(), st.integers(min_value=1, max_value=120))
def test_requests_are_as_few_as_the_sentences_allow(text: str, limit: int) -> None:
    """A whole sentence that fits after the request before it goes in that request."""
    chunks = split_text(text, limit)
    words = text.split()
    at = 0
    for first in chunks[:-1]:
        at += len(first)
        if not _SENTENCE_END.search(first[-1]):
            continue
        following = _sentences(words[at:])[0]
        assert len(" ".join(following)) > limit or len(" ".join(first + following)) > limit, (first, following)


# -- passages -------------------------------------------------------------------------------------

CAPTION_WORDS = (*SPECIAL, "the", "night", "train,", "left;", "a", "station")
LENGTHS = (0.1, 0.25, 0.4, 0.7, 1.5)
PAUSES = (0.0, 0.05, 0.2, 0.5, 2.0)


@st.composite
def captions(draw: st.DrawFn) -> tuple[list[Caption], float]:
    """Captions of one to five words, each word 0.1-1.5 s long, with pauses of up to 2 s between them."""
    result: list[Caption] = []
    at = 0.0
    for _ in range(draw(st.integers(min_value=1, max_value=14))):
        words = []
        for _ in range(draw(st.integers(min_value=1, max_value=5))):
            text = draw(st.sampled_from(CAPTION_WORDS))
            length = draw(st.sampled_from(LENGTHS))
            words.append(Word(text, round(at, 3), round(at + length, 3)))
            at += length + draw(st.sampled_from(PAUSES))
        line = " ".join(w.text for w in words)
        result.append(Caption(words[0].start, words[-1].end, [line], words))
    duration = round(result[-1].end + draw(st.floats(min_value=0.0, max_value=3.0)), 3)
    return result, duration


def _groups(passages_text: list[str], shown: list[Caption]) -> list[list[Caption]]:
    """The captions of each passage, found from its text; AssertionError if a passage cuts a caption."""
    groups, at = [], 0
    for text in passages_text:
        group: list[Caption] = []
        while " ".join(c.text for c in group) != text:
            assert at < len(shown) and len(" ".join(c.text for c in group)) < len(text), text
            group.append(shown[at])
            at += 1
        groups.append(group)
    assert at == len(shown)
    return groups


@FAST
@given(captions())
def test_passages_tile_the_narration_and_cut_only_between_captions(made: tuple[list[Caption], float]) -> None:
    shown, duration = made
    passages = make_passages(shown, duration)
    assert passages[0].start == 0.0 and passages[-1].end == duration
    for first, second in pairwise(passages):
        assert first.end == second.start
    groups = _groups([p.text for p in passages], shown)
    for passage, group in zip(passages[1:], groups[1:], strict=True):
        assert passage.start == group[0].start


@FAST
@given(captions())
def test_a_passage_ends_at_the_first_sentence_end_that_makes_it_long_enough(
        made: tuple[list[Caption], float]) -> None:
    shown, duration = made
    passages = make_passages(shown, duration)
    groups = _groups([p.text for p in passages], shown)
    for group in groups[:-1]:  # the last passage may have taken in a short tail
        start = group[0].start
        assert group[-1].end - start <= MAX_PASSAGE_SECONDS or len(group) == 1
        for caption in group[:-1]:
            long_enough = caption.end - start >= MIN_PASSAGE_SECONDS
            assert not (long_enough and is_sentence_end(caption.words[-1].text)), (caption.text, group[-1].text)
