from itertools import pairwise

from ttvd.pipeline.footage import generated_clips
from ttvd.timeline import Passage

PASSAGES = [Passage(0, 3, "a"), Passage(3, 7, "b"), Passage(7, 9.5, "c"), Passage(9.5, 12, "d")]


def test_generated_clips_cover_every_passage_without_gaps():
    clips = generated_clips(PASSAGES, "a" * 32)
    assert [(c.start, c.end) for c in clips] == [(p.start, p.end) for p in PASSAGES]
    assert all(c.kind == "generated" for c in clips)


def test_same_job_same_backgrounds_other_job_other_backgrounds():
    assert generated_clips(PASSAGES, "a" * 32) == generated_clips(PASSAGES, "a" * 32)
    assert generated_clips(PASSAGES, "a" * 32) != generated_clips(PASSAGES, "b" * 32)


def test_neighbouring_passages_differ():
    clips = generated_clips(PASSAGES, "c" * 32)
    for first, second in pairwise(clips):
        assert set(first.params["colours"]) != set(second.params["colours"])
