"""Burned-in captions keep time with the voice: one real job through the daemon, its frames read at the
speech's word times, on either side of each caption's start and end and of each word's start.

The reference is the speech stage's word times (``work/<id>/speech.json``) moved by the lead-in, and the
first test checks them against the voice in the MP4 itself. The background is a generated gradient,
dark by design (no channel above about 175), so in the caption band a pixel whose red is above 200 is
caption text: white for a word still to come, amber for a word spoken (karaoke, the default preset).
"""
from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ttvd import config
from ttvd.daemon import Daemon
from ttvd.job import JobStatus
from ttvd.media import ffmpeg_exe, probe
from ttvd.pipeline import sound
from ttvd.spool import Spool
from ttvd.timeline import Speech, Word

from helpers import PREFIXES, TINY

pytestmark = pytest.mark.slow

# Two captions with a silence between them: a paragraph break, read slowly, pauses about 0.85 s.
TEXT = "Lamps glow.\n\nShips pass slowly by."
CAPTIONS = ["Lamps glow.", "Ships pass slowly by."]
FPS = 25          # a frame every 40 ms, so a frame 0.1 s from a boundary is well clear of it
MARGIN = 0.1      # seconds between a boundary and the frames read on either side of it
LINGER = 0.3      # a caption may stay this long after its last word (ttvd.pipeline.captions), no longer
TEXT_PIXELS = 60  # a caption of two short words draws about 140 such pixels at this size
AUDIO_WINDOW = 0.01


@dataclass
class Job:
    frames: np.ndarray              # every decoded frame, (count, height, width, 3), frame k shown from k / FPS
    words: list[Word]               # the speech's words, timed as heard in the video (lead-in added)
    captions: list[dict[str, Any]]  # the word timings side file's captions
    loudness: np.ndarray            # RMS of the video's sound, per AUDIO_WINDOW

    def band(self, seconds: float) -> np.ndarray:
        """The caption band of the frame on screen at ``seconds``, as ints."""
        frame = self.frames[int(seconds * FPS + 1e-6)]
        height = frame.shape[0]
        return frame[int(height * 0.45):int(height * 0.85)].astype(int)

    def spoken(self, caption: dict[str, Any]) -> list[Word]:
        """The speech's words that ``caption`` shows, in order."""
        first = sum(len(c["words"]) for c in self.captions[:self.captions.index(caption)])
        return self.words[first:first + len(caption["words"])]

    @property
    def duration(self) -> float:
        return len(self.frames) / FPS


@pytest.fixture(scope="module")
def job(tmp_path_factory) -> Job:
    """A short karaoke-captioned job made by the daemon at 25 fps, without music so its voice can be heard."""
    home = tmp_path_factory.mktemp("caption-timing")
    with pytest.MonkeyPatch.context() as patch:
        for name in [name for name in os.environ if name.startswith(PREFIXES)]:
            patch.delenv(name)
        settings = config.load({}, TTVD_HOME=str(home), TTVD_KEEP_WORK="1", TTVD_SPEECH_RATE="130", **TINY)
        spool = Spool(home).ensure()
        job_id = spool.submit(TEXT, "api", {"fps": FPS, "music": "none"}).job_id
        assert Daemon(settings, spool).step()
    state = spool.read_state(job_id)
    assert state is not None and state.status is JobStatus.COMPLETED, state
    paths = spool.home.job(job_id)
    speech = Speech.from_dict(json.loads((paths.work / "speech.json").read_text()))
    lead, _ = sound.layout(speech.duration, FPS)
    words = [Word(w.text, round(w.start + lead, 3), round(w.end + lead, 3)) for w in speech.words]
    captions = json.loads(paths.download("json").read_text())["captions"]
    assert [" ".join(c["lines"]) for c in captions] == CAPTIONS  # one line each, as the checks below assume
    assert [w["text"] for c in captions for w in c["words"]] == [w.text for w in words]
    return Job(frames(paths.video), words, captions, loudness(paths.video))


def frames(video: Path) -> np.ndarray:
    info = probe(video)
    assert info.fps == FPS
    raw = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(video), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    decoded = np.frombuffer(raw, np.uint8).reshape(-1, info.height, info.width, 3)
    assert len(decoded) == info.frames
    return decoded


def loudness(video: Path) -> np.ndarray:
    rate = 16000
    raw = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(video), "-vn", "-ac", "1", "-ar", str(rate),
                          "-f", "s16le", "-"], capture_output=True, check=True).stdout
    samples = np.frombuffer(raw, "<i2").astype(float)
    window = int(rate * AUDIO_WINDOW)
    return np.sqrt((samples[:len(samples) // window * window].reshape(-1, window) ** 2).mean(axis=1))


def text(band: np.ndarray) -> np.ndarray:
    """Caption pixels: white or amber, never the dark background."""
    return band[..., 0] > 200


def amber(band: np.ndarray) -> np.ndarray:
    """Spoken words: the accent, #FFD700."""
    return text(band) & (band[..., 1] > 150) & (band[..., 2] < 120)


def white(band: np.ndarray) -> np.ndarray:
    """Words still to come."""
    return text(band) & (band[..., 1] > 180) & (band[..., 2] > 180)


def columns(mask: np.ndarray) -> np.ndarray:
    return np.nonzero(mask.any(axis=0))[0]


def test_the_speech_word_times_are_when_the_voice_is_heard(job):
    """The reference of every other test: the voice starts with the first word and is silent between sentences."""
    loud = job.loudness > 0.05 * job.loudness.max()
    onset = np.argmax(loud) * AUDIO_WINDOW
    assert abs(onset - job.words[0].start) < 0.05, (onset, job.words[0])
    said, next_said = job.spoken(job.captions[0])[-1], job.spoken(job.captions[1])[0]
    silence = loud[int((said.end + 0.05) / AUDIO_WINDOW):int((next_said.start - 0.05) / AUDIO_WINDOW)]
    assert len(silence) > 50 and not silence.any(), "no silence in the voice between the two sentences"
    for word in job.words:
        assert loud[int(word.start / AUDIO_WINDOW):int(word.end / AUDIO_WINDOW)].any(), word


def test_each_caption_appears_with_its_first_word_and_goes_after_its_last(job):
    """The frames 0.1 s either side of a caption's start and end, and of the most it may linger."""
    for caption in job.captions:
        first, last = job.spoken(caption)[0], job.spoken(caption)[-1]
        name = caption["lines"][0]
        # the side file's times are the speech's, and the caption stays no longer than a short linger
        assert abs(caption["start"] - first.start) < 0.002, (name, caption["start"], first.start)
        assert last.end - 0.002 <= caption["end"] <= last.end + LINGER + 0.002, (name, caption["end"], last.end)
        counts = {moment: int(text(job.band(seconds)).sum()) for moment, seconds in [
            ("before its first word", first.start - MARGIN), ("after its first word starts", first.start + MARGIN),
            ("before its end", caption["end"] - MARGIN), ("after its end", caption["end"] + MARGIN),
            ("after its last word, lingering no more", last.end + LINGER + MARGIN)]}
        assert counts["before its first word"] < 5, (name, counts)
        assert counts["after its first word starts"] > TEXT_PIXELS, (name, counts)
        assert counts["before its end"] > TEXT_PIXELS, (name, counts)
        assert counts["after its end"] < 5, (name, counts)
        assert counts["after its last word, lingering no more"] < 5, (name, counts)


def test_no_caption_before_the_voice_in_its_silence_or_after_it(job):
    """Every frame: text while a caption's words are spoken, none in the lead-in, the pause or the tail."""
    silences = [(0.0, job.words[0].start)]
    silences += [(before.end + LINGER, after.start) for before, after in pairwise(job.words)
                 if after.start - before.end > LINGER + 3 * MARGIN]
    silences.append((job.words[-1].end + LINGER, job.duration + MARGIN))
    assert len(silences) == 3, "the speech has no pause between its sentences"
    speaking = [(job.spoken(c)[0].start, job.spoken(c)[-1].end) for c in job.captions]
    shown, bare = [], []
    for index in range(len(job.frames)):
        seconds = index / FPS
        pixels = int(text(job.band(seconds)).sum())
        if any(start + MARGIN <= seconds <= end - MARGIN for start, end in silences) and pixels >= 5:
            shown.append((round(seconds, 2), pixels))
        if any(start + MARGIN <= seconds <= end - MARGIN for start, end in speaking) and pixels <= TEXT_PIXELS:
            bare.append((round(seconds, 2), pixels))
    assert not shown, f"a caption on screen while nothing is said (seconds, pixels): {shown}"
    assert not bare, f"no caption while its words are spoken (seconds, pixels): {bare}"


def test_karaoke_highlight_reaches_each_word_as_it_is_spoken(job):
    """Spoken words are amber and the words to come white; at each word's start the amber moves on to it."""
    for caption in job.captions:
        words = job.spoken(caption)
        centres = []
        for index, word in enumerate(words):
            where = f"{caption['lines'][0]!r}, {MARGIN} s after {word.text!r} starts"
            after = Highlight(job.band(word.start + MARGIN))
            assert after.lit, f"{where}: nothing amber"
            centres.append(after.centre)
            if index + 1 < len(words):
                assert after.to_come_from > after.lit_to, f"{where}: no white words to the right of the amber, {after}"
            else:
                assert after.to_come < 5, f"{where}: words still white after the last one began, {after}"
            if index:
                before = Highlight(job.band(word.start - MARGIN))
                assert before.lit_to + 4 < after.lit_to and before.lit + 15 < after.lit, \
                    f"{where}: the amber did not move on to it, {before} -> {after}"
                assert before.to_come_from > before.lit_to, f"{where}: it was not white just before, {before}"
        assert all(a < b for a, b in pairwise(centres)), f"the amber's centre does not move right: {centres}"


class Highlight:
    """Where the amber (spoken) and white (to come) words of a caption band are, in pixels."""

    def __init__(self, band: np.ndarray) -> None:
        spoken, to_come = amber(band), white(band)
        self.lit, self.to_come = int(spoken.sum()), int(to_come.sum())
        lit_columns, white_columns = columns(spoken), columns(to_come)
        self.lit_to = int(lit_columns.max()) if lit_columns.size else -1
        self.to_come_from = int(white_columns.min()) if white_columns.size else -1
        self.centre = float(np.nonzero(spoken)[1].mean()) if self.lit else -1.0

    def __repr__(self) -> str:
        return (f"amber {self.lit} px up to x={self.lit_to} (centre {self.centre:.0f}), "
                f"white {self.to_come} px from x={self.to_come_from}")
