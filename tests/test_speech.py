import pytest

from ttvd.pipeline.speech import align_words, speak
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
