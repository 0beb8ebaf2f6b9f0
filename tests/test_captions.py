from itertools import pairwise

from ttvd.pipeline.captions import make_captions, split_lines
from ttvd.timeline import Word


def words_of(text: str, step: float = 0.3, gaps: dict[int, float] | None = None) -> list[Word]:
    words, t = [], 0.0
    for i, token in enumerate(text.split()):
        t += (gaps or {}).get(i, 0.0)
        words.append(Word(token, round(t, 3), round(t + step * 0.8, 3)))
        t += step
    return words


def test_captions_cover_every_word_in_order_and_fit_two_lines():
    text = ("The lighthouse keeper had not seen a ship in eleven years. Every evening she climbed "
            "the spiral stairs, polished the great lens, and lit the lamp anyway.")
    captions = make_captions(words_of(text), 20, 30.0)
    assert " ".join(c.text for c in captions) == text
    for caption in captions:
        assert 1 <= len(caption.lines) <= 2
        assert all(len(line) <= 20 or " " not in line for line in caption.lines)
        assert caption.start == caption.words[0].start
        assert caption.end > caption.words[-1].start
    for first, second in pairwise(captions):
        assert first.end <= second.start


def test_sentence_end_always_breaks():
    captions = make_captions(words_of("Go now. Run fast."), 30, 5.0)
    assert [c.text for c in captions] == ["Go now.", "Run fast."]


def test_long_pause_breaks_and_caption_does_not_linger():
    words = words_of("before the pause after it", gaps={3: 2.0})
    captions = make_captions(words, 40, 10.0)
    assert [c.text for c in captions] == ["before the pause", "after it"]
    assert captions[0].end < captions[1].start - 1.0


def test_comma_breaks_once_the_caption_is_full_enough():
    captions = make_captions(words_of("one two three four five six seven, eight nine ten"), 20, 10.0)
    assert captions[0].text.endswith("seven,")


def test_split_lines_prefers_balance_and_punctuation():
    assert split_lines(words_of("short"), 20) == ["short"]
    expected = ["in the morning,", "we left the harbour"]
    assert split_lines(words_of("in the morning, we left the harbour"), 20) == expected
