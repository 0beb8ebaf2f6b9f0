"""Music beds: which bed a job gets, the four moods heard apart, loops without a seam, a user's file looped."""
from __future__ import annotations

import itertools
import subprocess
import wave

import numpy as np
import pytest

from ttvd import config
from ttvd.errors import StageError
from ttvd.media import ffmpeg_exe
from ttvd.pipeline import music, sound
from ttvd.timeline import Speech, Word

from helpers import TINY

RATE = 48000  # the beds' own rate: a resampler would blur the loop's two ends


@pytest.mark.parametrize("text, mood", [
    ("The storm broke at midnight; a scream, then the fear of the dark.", "tense"),
    ("Happy summer! Our best party recipes are easy and fun.", "bright"),
    ("She dreams of the stars and the moon, a whisper of magic in the sky.", "dreamy"),
    ("Breathe slowly. Rest by the quiet river in the garden.", "calm"),
    ("Quarterly figures are attached.", "calm"),
])
def test_auto_reads_the_mood_of_the_text(text, mood):
    bed = music.choose("auto", text, None)
    assert bed is not None and bed.mood == mood and "chosen from the text's mood" in bed.reason


def test_a_mood_is_taken_as_asked_and_none_means_no_bed():
    assert music.choose("none", "Happy party!", None) is None
    assert music.choose("tense", "Happy party!", None) == music.Bed("tense", "as asked", mood="tense")
    assert set(music.MOODS) == {"calm", "bright", "tense", "dreamy"}


def test_a_music_file_is_found_by_name_ignoring_case_and_suffix(tmp_path):
    folder = tmp_path / "music"
    (folder / "sub").mkdir(parents=True)
    for name in ("Night Drive.mp3", "sub/rain.wav", "notes.txt"):
        (folder / name).write_bytes(b"")
    assert music.find_file("Night Drive.mp3", folder) == folder / "Night Drive.mp3"
    assert music.find_file("night drive", folder) == folder / "Night Drive.mp3"
    assert music.find_file("rain", folder) == folder / "sub" / "rain.wav"
    with pytest.raises(StageError) as error:
        music.find_file("notes", folder)
    assert error.value.stage == "render" and "'notes'" in str(error.value) and "rain.wav" in str(error.value)


def test_a_music_file_without_a_music_folder_says_what_to_set():
    with pytest.raises(StageError, match="TTVD_MUSIC_DIR"):
        music.choose("my-song.mp3", "text", None)


def test_a_job_always_gets_the_same_bed_and_jobs_differ():
    graphs = {music.mood_graph("bright", music.seed_of(f"job{i}"), 48000) for i in range(8)}
    assert music.mood_graph("bright", 42, 48000) == music.mood_graph("bright", 42, 48000)
    assert len(graphs) > 1


def level(audio: np.ndarray, start: float, end: float) -> float:
    """RMS level in dBFS of ``start..end`` seconds of ``audio`` at RATE."""
    part = audio[int(start * RATE):int(end * RATE)].astype(np.float64)
    return float(10 * np.log10(np.mean(part ** 2) + 1e-14))


def bed(mood: str) -> np.ndarray:
    """One loop of the mood's bed for a fixed job, mono at RATE."""
    inputs, graph = music.Bed(mood, "", mood=mood).source(30.0, "a job", RATE)
    pcm = subprocess.run([ffmpeg_exe(), "-v", "error", *inputs, "-filter_complex",
                          f"{graph},pan=mono|c0=0.5*c0+0.5*c1[out]", "-map", "[out]",
                          "-f", "f32le", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(pcm, dtype="<f4")


@pytest.fixture(scope="module")
def beds() -> dict[str, np.ndarray]:
    return {mood: bed(mood) for mood in music.MOODS}


def spectrum(audio: np.ndarray) -> np.ndarray:
    """Share of the energy in each of 18 log-spaced bands from 60 Hz to 4 kHz, in dB."""
    power = np.abs(np.fft.rfft(audio * np.hanning(len(audio)))) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / RATE)
    edges = np.geomspace(60, 4000, 19)
    bands = np.array([power[(freqs >= low) & (freqs < high)].sum() for low, high in itertools.pairwise(edges)])
    return 10 * np.log10(bands / bands.sum() + 1e-12)


def test_the_four_moods_sound_different(beds):
    spectra = {mood: spectrum(audio) for mood, audio in beds.items()}
    for a, b in itertools.combinations(spectra, 2):
        assert np.abs(spectra[a] - spectra[b]).mean() > 6, f"{a} and {b} have nearly the same spectrum"
    for mood, audio in beds.items():
        assert level(audio, 0, len(audio) / RATE) > -40, f"{mood} is silent"


def test_each_bed_loops_without_a_click(beds):
    for mood, audio in beds.items():
        looped = np.concatenate([audio, audio]).astype(np.float64)
        jumps = np.abs(np.diff(looped, 2))
        seam = jumps[len(audio) - 8:len(audio) + 8].max()
        assert seam <= 2 * np.percentile(jumps, 99.9), f"{mood} clicks where it loops"


def test_a_users_file_shorter_than_the_video_is_looped_under_it(tmp_path):
    folder = tmp_path / "music"
    folder.mkdir()
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "sine=f=300:d=1:sample_rate=44100",
                    str(folder / "My Song.wav")], check=True)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "anullsrc=r=22050:cl=mono:d=3",
                    str(tmp_path / "voice.wav")], check=True)
    settings = config.load({}, TTVD_HOME=str(tmp_path), TTVD_MUSIC_DIR=str(folder), **TINY)
    lines: list[str] = []
    bed = music.choose("my song", "text", settings.music_dir)
    mixed = sound.mix(Speech(str(tmp_path / "voice.wav"), 3.0, [Word("hm", 0.0, 3.0)]), bed, 30, 10, "1" * 32,
                      tmp_path, lines.append)
    assert "Music bed: My Song.wav, from the music folder, at 30%" in lines
    with wave.open(str(mixed.path)) as mix:
        assert (mix.getframerate(), mix.getnchannels()) == (RATE, 2)
        audio = np.frombuffer(mix.readframes(mix.getnframes()), dtype="<i2")[::2] / 32768
    assert level(audio, 2.2, 2.9) > -40  # well past the file's one second: it was looped
    assert not (tmp_path / "raw.wav").exists()
