from itertools import pairwise

import pytest

from ttvd.pipeline.queries import MAX_PASSAGE_SECONDS, MIN_PASSAGE_SECONDS, is_sentence_end, keywords, make_passages
from ttvd.timeline import Caption, Passage, Word

from helpers import make_video

WORD_SECONDS = 0.35


def caption(start, end, text):
    return Caption(start, end, [text], [Word(t, start, end) for t in text.split()])


def spoken(text: str, words_per_caption: int = 4) -> list[Caption]:
    """Captions of at most ``words_per_caption`` words ending at each full stop and comma; each word lasts
    WORD_SECONDS, with a short pause after a sentence."""
    captions, at, chunk = [], 0.0, []
    words = text.split()
    for index, word in enumerate(words):
        chunk.append(Word(word, round(at, 3), round(at + WORD_SECONDS, 3)))
        at += WORD_SECONDS + (0.3 if is_sentence_end(word) else 0.0)
        if len(chunk) == words_per_caption or word.endswith((".", ",")) or index == len(words) - 1:
            captions.append(Caption(chunk[0].start, chunk[-1].end, [" ".join(w.text for w in chunk)], chunk))
            chunk = []
    return captions


STORY = ("The lighthouse keeper had not seen a ship in eleven years. Every evening she climbed the spiral "
         "stairs, polished the great lens, and lit the lamp anyway. One stormy night, a small wooden boat "
         "appeared on the horizon, its sail torn, its lantern flickering. She watched it fight the waves until "
         "dawn, when it finally slipped into the harbour below. The sailor who climbed ashore was her brother. "
         "Dr. Alvarez waited on the quay. \"I followed your light,\" he said.")


def test_passages_tile_the_whole_narration():
    captions = [caption(i * 1.5, i * 1.5 + 1.4, f"words number {i}.") for i in range(12)]
    passages = make_passages(captions, 18.5)
    assert passages[0].start == 0.0 and passages[-1].end == 18.5
    for first, second in pairwise(passages):
        assert first.end == second.start
    assert all(p.end - p.start <= MAX_PASSAGE_SECONDS + 2 for p in passages)
    assert " ".join(p.text for p in passages) == " ".join(c.text for c in captions)


def test_every_passage_of_a_story_ends_with_a_sentence():
    captions = spoken(STORY)
    passages = make_passages(captions, captions[-1].end + 0.5)
    assert len(passages) >= 4
    for passage in passages:
        assert is_sentence_end(passage.text.split()[-1]), passage.text
        assert not passage.text.endswith("Dr.")
    assert all(p.end - p.start <= MAX_PASSAGE_SECONDS + 1 for p in passages)
    # each cut falls where the next sentence starts
    starts = {c.start for c in captions}
    assert all(p.end in starts for p in passages[:-1])


def test_a_long_sentence_is_cut_at_a_clause_end():
    text = ("Across the wide valley the old road wound past farms and orchards and empty barns, "
            "then climbed slowly through the dark pine forest toward the high pass above the clouds.")
    passages = make_passages(spoken(text), 30.0)
    assert len(passages) == 2
    assert passages[0].text.endswith("barns,")


def test_a_passage_without_any_boundary_still_fits():
    captions = spoken(" ".join(["word"] * 60))
    passages = make_passages(captions, captions[-1].end)
    assert len(passages) > 1
    assert all(MIN_PASSAGE_SECONDS / 2 <= p.end - p.start <= MAX_PASSAGE_SECONDS + 0.5 for p in passages)


@pytest.mark.parametrize("word, ends", [("years.", True), ("night!", True), ("said.\"", True), ("why?”", True),
                                        ("Dr.", False), ("U.N.", False), ("St.", False), ("stairs,", False)])
def test_sentence_ends(word, ends):
    assert is_sentence_end(word) is ends


@pytest.mark.parametrize("text, expected", [
    ("The night train left", ["night train", "train", "night"]),
    ("We walked through the mountains.", ["mountains"]),
    ("One stormy night, a small wooden boat appeared on the horizon.", ["stormy night", "wooden boat", "horizon"]),
    ("Down below, the boats rocked gently in the harbour.", ["boats", "harbour"]),
])
def test_keywords_keep_nouns_and_noun_phrases(text, expected):
    assert keywords([Passage(0, 4, text)]) == [expected]


def test_keywords_never_empty():
    assert keywords([Passage(0, 1, "Oh, it is so.")]) == [["abstract background"]]


def test_keywords_of_another_language_are_its_longest_words():
    text = "Le train de nuit est parti vers les montagnes enneigées, et les enfants dormaient dans la voiture."
    [queries] = keywords([Passage(0, 4, text)])
    assert queries == ["montagnes", "enneigées", "dormaient"]


def test_a_media_file_named_by_a_noun_of_the_passage_is_found(tmp_path):
    """The issue's case: "The night train left" must find night.mp4 (the old queries said "train left")."""
    from ttvd import config
    from ttvd.backends.media_folder import MediaFolder

    media = tmp_path / "media"
    media.mkdir()
    make_video(media / "night.mp4", 2)
    passage = Passage(0, 2, "The night train left")
    [passage.queries] = keywords([passage])
    source = MediaFolder(config.load({}, TTVD_HOME=str(tmp_path), TTVD_MEDIA_DIR=str(media)))
    clip = source.clip_for(passage, 0, 2)
    assert clip is not None and clip.params["file"] == "night.mp4"
