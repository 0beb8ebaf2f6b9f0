"""Side files: SRT, WebVTT and JSON word timings beside each MP4, timed like the burned captions."""
from __future__ import annotations

import json

import pysubs2
import pytest

from ttvd import pipeline
from ttvd.pipeline import subtitles
from ttvd.render.fonts import find_font
from ttvd.timeline import Caption, Style, Timeline, Word

from standins.fixtures import make_job

CAPTIONS = [
    Caption(0.4, 1.379, ["The lighthouse keeper"],
            [Word("The", 0.4, 0.55), Word("lighthouse", 0.55, 1.0), Word("keeper", 1.0, 1.379)]),
    Caption(1.379, 3.7605, ["{braces} & <tags>", "back\\slash -> arrow"],
            [Word("{braces}", 1.379, 1.9), Word("&", 1.9, 2.0), Word("<tags>", 2.0, 2.5),
             Word("back\\slash", 2.5, 3.0), Word("->", 3.0, 3.2), Word("arrow", 3.2, 3.7605)]),
    Caption(3661.25, 3662.0, ["an hour later"], [Word("an", 3661.25, 3661.5), Word("hour", 3661.5, 3661.7),
                                                  Word("later", 3661.7, 3662.0)]),
]


@pytest.fixture
def written(tmp_path):
    timeline = Timeline("voice.wav", 3662.5, 180, 320, 10, [], CAPTIONS, Style(*find_font(), 20, 14))
    video = tmp_path / "video_abc.mp4"
    return subtitles.write(timeline, video)


def test_side_files_sit_beside_the_video_with_its_stem(written, tmp_path):
    assert [p.name for p in written] == ["video_abc.srt", "video_abc.vtt", "video_abc.json"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left


@pytest.mark.parametrize("index, fmt", [(0, "srt"), (1, "vtt")])
def test_srt_and_vtt_parse_back_with_the_caption_times_and_text(written, index, fmt):
    parsed = pysubs2.SSAFile.from_string(written[index].read_text(encoding="utf-8"), format_=fmt)
    assert [(e.start, e.end) for e in parsed] == [(round(c.start * 1000), round(c.end * 1000)) for c in CAPTIONS]
    # pysubs2 reads {...} as an ASS override block, <...> as a tag and leaves entities as they are: compare
    # the text of the plain captions here; the next test checks the other one in the files themselves
    assert [parsed[i].plaintext.split("\n") for i in (0, 2)] == [CAPTIONS[i].lines for i in (0, 2)]


def test_vtt_escapes_markup_and_srt_keeps_text_as_typed(written):
    assert "{braces} &amp; &lt;tags&gt;" in written[1].read_text(encoding="utf-8")
    assert "{braces} & <tags>\nback\\slash -> arrow\n" in written[0].read_text(encoding="utf-8")
    assert written[1].read_text(encoding="utf-8").startswith("WEBVTT\n\n")
    assert "01:01:01,250 --> 01:01:02,000" in written[0].read_text(encoding="utf-8")


def test_json_holds_every_word_with_its_times(written):
    data = json.loads(written[2].read_text(encoding="utf-8"))
    assert data["duration"] == 3662.5
    assert [c["lines"] for c in data["captions"]] == [c.lines for c in CAPTIONS]
    assert [[(w["text"], w["start"], w["end"]) for w in c["words"]] for c in data["captions"]] == \
        [[(w.text, w.start, w.end) for w in c.words] for c in CAPTIONS]


def test_moving_a_video_moves_its_side_files(written, tmp_path):
    (tmp_path / "out").mkdir()
    subtitles.move(tmp_path / "video_abc.mp4", tmp_path / "out" / "story.mp4")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["story.json", "story.srt", "story.vtt"]


@pytest.mark.slow
def test_a_job_writes_side_files_timed_like_the_timeline_it_rendered(home):
    """Whatever shifts the render stage makes (a lead-in before the voice), the side files follow it."""
    job = make_job(home, "The night train left. It crossed the mountains before dawn.", {}, {"transition": "slide"})
    video = pipeline.run(job)
    timeline = Timeline.from_dict(json.loads((job.work / "timeline.json").read_text(encoding="utf-8")))
    assert timeline.transition == "slide"
    srt, vtt, words = subtitles.side_files(video)
    for path, fmt in ((srt, "srt"), (vtt, "vtt")):
        parsed = pysubs2.SSAFile.from_string(path.read_text(encoding="utf-8"), format_=fmt)
        assert [(e.start, e.end) for e in parsed] == [(round(c.start * 1000), round(c.end * 1000))
                                                      for c in timeline.captions]
    data = json.loads(words.read_text(encoding="utf-8"))
    assert [w["start"] for c in data["captions"] for w in c["words"]] == \
        [w.start for c in timeline.captions for w in c.words]
