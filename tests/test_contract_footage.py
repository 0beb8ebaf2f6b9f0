"""The contract every footage source keeps, run over each one: a new source subclasses ``FootageContract``.

A source answers ``clip_for(passage, start, end)`` with a Clip from ``start`` to at most ``end`` whose file
is local and readable, or with None when it has nothing for the passage's queries (the planner then asks
the next source, and a generated background fills what is left). It never gives one file twice in a job.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from ttvd import config
from ttvd.backends.media_folder import MediaFolder
from ttvd.backends.pexels import PexelsSource
from ttvd.media import probe
from ttvd.timeline import Clip, Passage

from helpers import TINY, make_image, make_video
from standins.fixtures import online_env

JOB_ID = "f00d" * 8
ONE_FRAME = 0.1  # at the 10 fps of the tiny test files


class FootageContract:
    """Checks every footage source must pass. A subclass provides ``new_source``: a function that
    makes the source afresh, as a new job would, with two or more files for ``PLENTY``."""

    PLENTY = "ocean"
    NOTHING = "zzyzx quasar"

    @pytest.fixture
    def new_source(self):
        raise NotImplementedError("a subclass provides the source under test")

    def clips(self, source, queries: list[str], start: float = 0.0, end: float = 3.0) -> list[Clip]:
        """Every clip the source gives for one passage before it runs out."""
        passage = Passage(0.0, 4.0, "text", queries)
        found = []
        while (clip := source.clip_for(passage, start, end)) is not None:
            found.append(clip)
            assert len(found) < 20, "the source never runs out"
        return found

    @pytest.mark.parametrize("span", [(0.0, 3.0), (1.5, 4.0)], ids=["from-0", "from-1.5"])
    def test_a_clip_runs_from_start_to_at_most_end_from_a_local_file(self, new_source, span):
        start, end = span
        clips = self.clips(new_source(), [self.PLENTY], start, end)
        assert clips
        for clip in clips:
            assert isinstance(clip, Clip) and clip.kind in ("video", "image")
            assert clip.start == start and start < clip.end <= end
            assert Path(clip.source).is_file()

    def test_a_video_clip_never_runs_past_the_end_of_its_file(self, new_source):
        videos = [c for c in self.clips(new_source(), [self.PLENTY]) if c.kind == "video"]
        assert videos
        for clip in videos:
            assert clip.in_point >= 0
            assert clip.in_point + (clip.end - clip.start) <= probe(clip.source).duration + ONE_FRAME

    def test_no_file_is_used_twice_in_one_job(self, new_source):
        files = [Path(c.source).resolve() for c in self.clips(new_source(), [self.PLENTY])]
        assert len(files) >= 2 and len(set(files)) == len(files)

    def test_another_job_may_use_the_same_files(self, new_source):
        first, second = (self.clips(new_source(), [self.PLENTY]) for _ in range(2))
        assert [c.source for c in first] == [c.source for c in second]

    def test_nothing_for_the_queries_is_none(self, new_source):
        assert new_source().clip_for(Passage(0.0, 3.0, "text", [self.NOTHING]), 0.0, 3.0) is None

    def test_a_query_that_finds_nothing_gives_way_to_the_next(self, new_source):
        clip = new_source().clip_for(Passage(0.0, 3.0, "text", [self.NOTHING, self.PLENTY]), 0.0, 3.0)
        assert clip is not None and clip.params["query"] == self.PLENTY


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory) -> Path:
    """Tiny real files: three for "ocean" (one shorter than a passage, one a still), one for nothing asked."""
    folder = tmp_path_factory.mktemp("media")
    make_video(folder / "calm-ocean.mp4", 2)
    make_video(folder / "ocean-waves.mp4", 5)
    make_image(folder / "ocean.jpg")
    make_video(folder / "forest.mp4", 5)
    (folder / "ocean-notes.txt").write_text("not media")
    return folder


class TestMediaFolder(FootageContract):
    @pytest.fixture
    def new_source(self, home, media_dir):
        settings = config.load({}, TTVD_HOME=str(home), TTVD_MEDIA_DIR=str(media_dir), **TINY)
        return lambda: MediaFolder(settings, JOB_ID)


class TestPexels(FootageContract):
    @pytest.fixture
    def new_source(self, home, pexels_standin):
        settings = config.load({}, TTVD_HOME=str(home), **TINY, **online_env(pexels=pexels_standin))
        return lambda: PexelsSource(settings, JOB_ID)
