from itertools import pairwise

from ttvd.pipeline.queries import MAX_PASSAGE_SECONDS, keywords, make_passages
from ttvd.timeline import Caption, Passage, Word


def caption(start, end, text):
    return Caption(start, end, [text], [Word(t, start, end) for t in text.split()])


def test_passages_tile_the_whole_narration():
    captions = [caption(i * 1.5, i * 1.5 + 1.4, f"words number {i}.") for i in range(12)]
    passages = make_passages(captions, 18.5)
    assert passages[0].start == 0.0 and passages[-1].end == 18.5
    for first, second in pairwise(passages):
        assert first.end == second.start
    assert all(p.end - p.start <= MAX_PASSAGE_SECONDS + 2 for p in passages)
    assert " ".join(p.text for p in passages) == " ".join(c.text for c in captions)


def test_keywords_prefer_noun_phrases():
    [queries] = keywords([Passage(0, 4, "One stormy night, a small wooden boat appeared on the horizon.")])
    assert queries[0] == "wooden boat"
    assert "horizon" in queries and len(queries) <= 3
    assert "the" not in queries


def test_keywords_never_empty():
    assert keywords([Passage(0, 1, "Oh, it is so.")]) == [["abstract background"]]
