from itertools import pairwise

from ttvd.pipeline.captions import is_abbreviation, is_sentence_end, is_weak, make_captions, split_lines
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


def lines_of(captions) -> list[str]:
    return [line for caption in captions for line in caption.lines]


def test_abbreviations_do_not_end_sentences():
    text = "Dr. Alvarez met Mr. Smith near St. Mark's church at the U.N. building, e.g. the old one. Then she left."
    captions = make_captions(words_of(text), 20, 30.0)
    assert " ".join(c.text for c in captions) == text
    for caption in captions:
        assert not caption.text.endswith(("Dr.", "Mr.", "St.", "e.g.")), caption.text
    assert not any(line.endswith(("Dr.", "Mr.", "St.")) for line in lines_of(captions))
    assert captions[-1].text == "Then she left."  # a real full stop still ends the sentence
    assert is_sentence_end("one.") and not is_sentence_end("Dr.") and not is_sentence_end("U.S.A.")
    assert is_abbreviation("(e.g.") and is_abbreviation("J.") and not is_abbreviation("I.")


def test_a_title_keeps_its_name_across_a_pause_a_full_stop_does_not():
    words = words_of("Ask Dr. Alvarez now. Then go home", gaps={2: 0.6, 4: 0.6})
    assert [c.text for c in make_captions(words, 30, 10.0)] == ["Ask Dr. Alvarez now.", "Then go home"]


def test_no_line_or_caption_ends_on_an_article_or_preposition_when_it_can_be_avoided():
    text = ("She walked to the edge of the cliff and looked down at the sea below her feet for a long time "
            "before she spoke to her brother about the letter from the old house in the village.")
    for width in (20, 28, 36):
        lines = lines_of(make_captions(words_of(text), width, 60.0))
        assert not [line for line in lines if is_weak(line.split()[-1])], (width, lines)
    assert is_weak("the") and is_weak("Of") and is_weak("her") and not is_weak("sea")


def test_a_one_word_caption_is_joined_to_a_neighbour():
    captions = make_captions(words_of("Yes. I will come with you tomorrow."), 20, 10.0)
    assert [c.text for c in captions] == ["Yes. I will come with you tomorrow."]
    story = make_captions(words_of("It was late and the house was dark. Why? Nobody had lit the lamps."), 20, 20.0)
    assert all(len(c.words) > 1 for c in story), [c.text for c in story]
    assert make_captions(words_of("Hello."), 20, 2.0)[0].text == "Hello."  # nothing to join


def test_captions_break_at_phrase_ends_inside_a_sentence():
    text = "When the storm came, the keeper climbed the stairs, and the lamp burned all night long."
    captions = make_captions(words_of(text), 20, 20.0)
    assert [c.text for c in captions] == ["When the storm came,", "the keeper climbed the stairs,",
                                          "and the lamp burned all night long."]


def test_word_preset_shows_one_to_three_words_on_one_line():
    text = "The night train left the station at dawn, carrying seven sleepy passengers north."
    captions = make_captions(words_of(text), 12, 30.0, preset="word")
    assert " ".join(c.text for c in captions) == text
    assert all(1 <= len(c.words) <= 3 and len(c.lines) == 1 for c in captions)
    assert not [c.text for c in captions[:-1] if is_weak(c.words[-1].text)]


def test_text_written_without_spaces_breaks_at_its_clauses_and_keeps_its_spelling():
    text = "今天天气很好，我们去公园散步吧。然后我们一起吃晚饭，聊聊最近发生的事情。"
    captions = make_captions([Word(text, 0.0, 6.0)], 20, 7.0)
    assert "".join(line for c in captions for line in c.lines) == text  # no space added
    assert [c.lines for c in captions] == [["今天天气很好，", "我们去公园散步吧。"],
                                           ["然后我们一起吃晚饭，", "聊聊最近发生的事情。"]]
    assert all(len(line) <= 10 for c in captions for line in c.lines)  # a CJK character is two columns wide
    starts = [w.start for c in captions for w in c.words]
    assert starts == sorted(starts) and captions[-1].words[-1].end == 6.0


def test_words_of_no_length_never_stack_two_captions():
    """Some voices time a run of words at one instant; each caption still shows for 0.1 s, one after another."""
    words = [Word(text, 1.0, 1.0) for text in "Go. Now. Run. Hide.".split()] + [Word("Later.", 1.05, 1.4)]
    captions = make_captions(words, 20, 5.0, preset="word")
    assert len(captions) >= 3 and " ".join(c.text for c in captions) == "Go. Now. Run. Hide. Later."
    for caption in captions:
        assert caption.end - caption.start >= 0.1 - 1e-9, caption
    for first, second in pairwise(captions):
        assert first.end <= second.start, (first, second)
