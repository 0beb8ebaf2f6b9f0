"""The sound of a video: 48 kHz stereo AAC at -14 LUFS with true peaks under -1 dBTP, a lead-in and tail
the captions and clips follow, a minimum length, and a music bed that plays between words and ducks
under them. Every figure is measured on the MP4 with ffmpeg's own filters."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ttvd import config, pipeline
from ttvd.media import ffmpeg_exe, probe
from ttvd.pipeline import sound
from ttvd.pipeline.plan import resolve
from ttvd.timeline import Caption, Clip, Speech, Word

from helpers import TINY, Recorder, frame_at
from test_render import CAPTIONS, GAP, tiny_timeline

TONE = 4000  # the stand-in voice is a tone far above the beds, so a low-pass hears only the bed
BED_BAND = "lowpass=f=1000," * 3 + "lowpass=f=1000"
TEXT = "The keeper climbed the stairs. She lit the lamp, and the light swept across the sea."


# -- measuring ---------------------------------------------------------------------------------------------

def loudness(path: Path) -> tuple[float, float]:
    """Integrated loudness (LUFS) and true peak (dBTP) of the file's audio, by ffmpeg's ebur128."""
    report = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostats", "-i", str(path), "-map", "0:a",
                             "-af", "ebur128=peak=true:framelog=quiet", "-f", "null", "-"],
                            capture_output=True, text=True, check=True).stderr
    summary = report[report.rindex("Summary:"):]
    return (float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1)),
            float(re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", summary).group(1)))


def audio_format(path: Path) -> tuple[int, str, int]:
    """Sample rate, channel layout and bit rate (kb/s) of the file's audio stream."""
    report = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    match = re.search(r"Audio: aac.*?, (\d+) Hz, (\w+), \w+, (\d+) kb/s", report)
    assert match, report
    return int(match.group(1)), match.group(2), int(match.group(3))


def samples(path: Path, filters: str = "anull") -> np.ndarray:
    """The file's audio through ``filters``, as mono float samples at 48 kHz."""
    pcm = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:a", "-af", filters, "-ac", "1",
                          "-ar", "48000", "-f", "f32le", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(pcm, dtype="<f4")


def level(audio: np.ndarray, start: float, end: float) -> float:
    """RMS level in dBFS of ``start..end`` seconds."""
    part = audio[int(start * 48000):int(end * 48000)].astype(np.float64)
    return float(10 * np.log10(np.mean(part ** 2) + 1e-14))


def caption_pixels(frame: np.ndarray) -> int:
    """Bright pixels within 2 pixels of near-black ones: caption text on its outline or box. Footage,
    smooth or noisy, has no such edges, whatever its colours."""
    value = frame.max(axis=2).astype(int)
    dark = value < 60
    near_dark = np.zeros_like(dark)
    for dy in range(-2, 3):
        for dx in range(-2, 3):
            near_dark |= np.roll(dark, (dy, dx), axis=(0, 1))
    return int(((value > 200) & near_dark).sum())


# -- rendering ---------------------------------------------------------------------------------------------

def tone_voice(path: Path) -> Path:
    """A stand-in narration: a tone while the tiny timeline's captions are spoken, silence between them."""
    spoken = "+".join(f"between(t,{start},{end})" for start, end in CAPTIONS)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"aevalsrc='0.3*sin(2*PI*{TONE}*t)*({spoken})':s=22050:d=3.5", str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def tone_jobs(sources, tmp_path_factory) -> dict[str, tuple[Path, Recorder]]:
    """The tiny timeline through the render stage, voiced by the tone: with a calm bed on each engine,
    and with no bed."""
    folder = tmp_path_factory.mktemp("tone")
    voice = tone_voice(folder / "voice.wav")
    timeline = tiny_timeline(sources, duration=3.5)
    words = [w for c in timeline.captions for w in c.words]
    settings = config.load({}, TTVD_HOME=str(folder), **TINY)
    outputs = {}
    for name, options in (("calm", {"music": "calm"}), ("none", {"music": "none"}),
                          ("moviepy", {"music": "calm", "engine": "moviepy"})):
        reporter = Recorder()
        job = pipeline.Job("7" * 32, "text", settings, folder / name, voice, folder / f"{name}.mp4", reporter,
                           options=options)
        job.work.mkdir()
        pipeline._render(job, resolve(settings, options), Speech(str(voice), 3.5, words), timeline.captions,
                         timeline.clips)
        outputs[name] = (job.output, reporter)
    return outputs


# -- the layout and the shift --------------------------------------------------------------------------------

def test_layout_adds_a_lead_in_and_tail_in_whole_frames():
    lead, duration = sound.layout(10.0, 30)
    assert lead == sound.LEAD_IN and 0.2 <= lead <= 0.6 and 0.2 <= sound.TAIL <= 1.0
    assert duration == pytest.approx(10.0 + sound.LEAD_IN + sound.TAIL) and round(duration * 30, 6).is_integer()
    assert sound.layout(10.01, 30)[1] * 30 == pytest.approx(round(sound.layout(10.01, 30)[1] * 30))


def test_a_short_narration_gets_the_minimum_length():
    assert sound.layout(0.3, 10) == (sound.LEAD_IN, sound.MIN_SECONDS) and sound.MIN_SECONDS >= 2.0


def test_shift_moves_captions_and_words_and_keeps_the_clips_covering_the_video():
    captions = [Caption(0.0, 1.0, ["a b"], [Word("a", 0.0, 0.4), Word("b", 0.5, 1.0)])]
    clips = [Clip(0.0, 2.0, "generated"), Clip(2.0, 3.0, "video", "x.mp4", in_point=1.5)]
    moved, footage = sound.shift(captions, clips, 0.4, 4.2)
    assert (moved[0].start, moved[0].end) == (0.4, 1.4)
    assert [(w.start, w.end) for w in moved[0].words] == [(0.4, 0.8), (0.9, 1.4)]
    assert [(c.start, c.end) for c in footage] == [(0.0, 2.4), (2.4, 4.2)] and footage[1].in_point == 1.5
    assert captions[0].start == 0.0 and clips[1].start == 2.0  # the stages' own results are left as they were


# -- the mix in the video ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["calm", "none", "moviepy"])
def test_the_video_sound_is_48k_stereo_aac_at_minus_14_lufs(tone_jobs, name):
    video, _ = tone_jobs[name]
    rate, layout, bitrate = audio_format(video)
    # (the encoder spends less than its 192 kb/s on a bare tone and silence)
    assert (rate, layout) == (48000, "stereo") and (bitrate >= 128 or name == "none")
    integrated, peak = loudness(video)
    assert abs(integrated - sound.TARGET_LUFS) <= 1.0 and peak <= -1.0


def test_both_engines_write_the_same_sound(tone_jobs):
    (a, _), (b, _) = tone_jobs["calm"], tone_jobs["moviepy"]
    assert audio_format(a)[:2] == audio_format(b)[:2]
    assert abs(loudness(a)[0] - loudness(b)[0]) <= 0.3


def test_the_bed_plays_between_words_and_ducks_under_them(tone_jobs):
    video, reporter = tone_jobs["calm"]
    lead = sound.LEAD_IN
    bed = samples(video, BED_BAND)
    (first_start, first_end), _ = CAPTIONS
    under_words = level(bed, lead + first_start + 0.3, lead + first_end - 0.05)
    between = level(bed, lead + GAP, lead + CAPTIONS[1][0] - 0.02)
    assert between > -40, f"no bed between the words ({between:.1f} dBFS)"
    assert under_words < between - 6, f"the bed is not ducked: {under_words:.1f} under words, {between:.1f} between"
    assert "Music bed: calm, as asked, at 30%" in reporter.lines


def test_no_music_means_silence_between_words(tone_jobs):
    video, reporter = tone_jobs["none"]
    audio = samples(video)
    assert level(audio, sound.LEAD_IN + GAP, sound.LEAD_IN + CAPTIONS[1][0] - 0.05) < -70
    assert level(audio, 0.0, sound.LEAD_IN - 0.05) < -70  # the lead-in
    assert level(audio, sound.LEAD_IN + CAPTIONS[0][0] + 0.1, sound.LEAD_IN + CAPTIONS[0][1] - 0.1) > -30
    assert "Music bed: none" in reporter.lines


def test_captions_follow_the_voice_after_the_lead_in(tone_jobs):
    video, _ = tone_jobs["none"]
    start, end = CAPTIONS[0]
    assert caption_pixels(frame_at(video, sound.LEAD_IN + end - 0.1)) > 40  # the caption's last word
    assert caption_pixels(frame_at(video, sound.LEAD_IN / 2)) < 5           # nothing is said yet
    assert caption_pixels(frame_at(video, sound.LEAD_IN + GAP)) < 5


# -- whole jobs ----------------------------------------------------------------------------------------------

def run_job(settings, tmp_path: Path, text: str, **options: str) -> tuple[pipeline.Job, Recorder]:
    reporter = Recorder()
    job = pipeline.Job("5" * 32, text, settings, tmp_path / "work", tmp_path / "audio.wav",
                       tmp_path / "video.mp4", reporter, options=dict(options))
    pipeline.run(job)
    return job, reporter


@pytest.mark.slow
def test_a_spoken_job_starts_after_the_lead_in_with_its_captions(settings, tmp_path):
    job, reporter = run_job(settings, tmp_path, TEXT, music="none")
    speech = Speech.from_dict(json.loads((job.work / "speech.json").read_text()))
    timeline = json.loads((job.work / "timeline.json").read_text())
    lead, duration = sound.layout(speech.duration, 10)
    assert timeline["duration"] == duration and Path(timeline["audio"]) == job.work / "mix.wav"
    info = probe(job.output)
    assert info.frames == round(duration * 10) and abs(info.duration - duration) < 0.05
    integrated, peak = loudness(job.output)
    assert abs(integrated - sound.TARGET_LUFS) <= 1.0 and peak <= -1.0
    rate, layout, bitrate = audio_format(job.output)
    assert (rate, layout) == (48000, "stereo") and bitrate >= 128

    audio = samples(job.output)
    first = speech.words[0]
    assert level(audio, 0.0, lead - 0.05) < -70
    assert level(audio, lead + first.start, lead + first.end) > -35
    captions = [Caption.from_dict(c) for c in json.loads((job.work / "captions.json").read_text())]
    shown = [Caption.from_dict(c) for c in timeline["captions"]]
    assert [c.start for c in shown] == [round(c.start + lead, 3) for c in captions]
    for caption in shown:
        word = caption.words[-1]
        assert caption_pixels(frame_at(job.output, (word.start + word.end) / 2)) > 40, caption.text
    assert caption_pixels(frame_at(job.output, 0.1)) < 5


@pytest.mark.slow
def test_one_word_makes_a_clip_of_the_minimum_length_with_music(settings, tmp_path):
    job, reporter = run_job(settings, tmp_path, "Hello.")
    info = probe(job.output)
    assert info.duration >= sound.MIN_SECONDS - 0.05 and info.frames >= sound.MIN_SECONDS * 10
    integrated, peak = loudness(job.output)
    assert abs(integrated - sound.TARGET_LUFS) <= 1.0 and peak <= -1.0
    assert any(line.startswith("Music bed: calm, chosen from the text's mood") for line in reporter.lines)
    speech = Speech.from_dict(json.loads((job.work / "speech.json").read_text()))
    after = sound.LEAD_IN + speech.duration
    assert level(samples(job.output, BED_BAND), after + 0.1, after + 0.4) > -45  # the bed carries the tail
