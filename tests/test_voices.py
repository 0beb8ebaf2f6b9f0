"""The voice catalogue, language detection, the choice of a voice, and where the catalogue is shown."""
import json
import logging
import wave

import pytest

from ttvd import backends, voices
from ttvd.cli.main import main as run_cli
from ttvd.daemon import Daemon
from ttvd.errors import StageError
from ttvd.pipeline.speech import speak

SENTENCES = {
    "en": "The night train left the station at dawn, and nobody on board said a word.",
    "fr": "Le train de nuit a quitté la gare à l'aube, et personne à bord n'a dit un mot.",
    "de": "Der Nachtzug verließ den Bahnhof im Morgengrauen, und niemand an Bord sagte ein Wort.",
    "es": "El tren nocturno salió de la estación al amanecer, y nadie a bordo dijo una palabra.",
}


@pytest.fixture(scope="module")
def catalogue():
    from ttvd import config

    return voices.catalogue(config.load({}))


def test_espeak_voices_are_listed_with_their_languages(catalogue):
    espeak = {v.id: v for v in catalogue if v.backend == "espeak"}
    assert len(espeak) > 50
    assert espeak["en-us"].language == "en-us" and espeak["fr"].language == "fr-fr"
    assert espeak["de"].language == "de" and espeak["pt-br"].language == "pt-br"
    assert all(v.offline for v in espeak.values())
    assert espeak["fr"].public() == {"id": "fr", "name": "French (France)", "language": "fr-fr",
                                     "backend": "espeak", "offline": True}


def test_openai_voices_are_listed_only_with_a_key(settings):
    assert not [v for v in voices.catalogue(settings) if v.backend == "openai"]
    keyed = voices.catalogue(settings.replace(openai_api_key="sk-test", openai_voice="my-server-voice"))
    online = {v.id: v for v in keyed if v.backend == "openai"}
    assert {"alloy", "echo", "nova", "my-server-voice"} <= set(online)
    assert not any(v.offline for v in online.values())


@pytest.mark.parametrize("language", list(SENTENCES))
def test_the_language_is_detected_offline(catalogue, language):
    found, reason = voices.detect(SENTENCES[language], voices.spoken_languages(catalogue))
    assert found == language, reason


def test_a_text_too_short_to_tell_is_read_in_english(catalogue):
    assert voices.detect("Hello.", voices.spoken_languages(catalogue))[0] == "en"


@pytest.mark.parametrize(("language", "voice"), [
    ("en", "en-us"), ("en-gb", "en"), ("fr", "fr"), ("fr-be", "fr-be"), ("de", "de"), ("es", "es"),
    ("pt-br", "pt-br"), ("pt", "pt"), ("zh", "cmn"),
])
def test_a_voice_is_chosen_by_language(catalogue, language, voice):
    choice = voices.choose(catalogue, "auto", language, "whatever the text", "espeak")
    assert (choice.voice.id, choice.language) == (voice, language)


def test_auto_reads_a_detected_language_with_its_voice(catalogue):
    choice = voices.choose(catalogue, "auto", "auto", SENTENCES["de"], "espeak")
    assert (choice.voice.id, choice.language) == ("de", "de")
    assert "detected" in choice.reason


def test_a_language_no_voice_reads_falls_back_to_english(catalogue):
    choice = voices.choose(catalogue, "auto", "xx", "some text", "espeak")
    assert choice.voice.id == "en-us" and "xx" in choice.reason


def test_a_named_voice_reads_its_own_language_unless_told(catalogue):
    assert voices.choose(catalogue, "FR", "auto", SENTENCES["en"], "espeak").language == "fr-fr"
    assert voices.choose(catalogue, "fr", "fr-ca", SENTENCES["en"], "espeak").language == "fr-ca"


def test_an_unknown_voice_fails_the_speech_stage_naming_ttvd_voices(settings, tmp_path):
    offline = backends.resolve("speech", "espeak")
    with pytest.raises(StageError, match="`ttvd voices`") as failure:
        offline("Hello there.", tmp_path / "a.wav", settings.replace(voice="no-such-voice"))
    assert failure.value.stage == "speech"


def seconds(path) -> float:
    with wave.open(str(path)) as wav:
        return wav.getnframes() / wav.getframerate()


def test_french_text_is_spoken_by_a_french_voice(settings, tmp_path, caplog):
    """The offline backend with voice and language ``auto``: its log names the voice, and the audio
    is as long as the French voice's reading, not the English one's (eSpeak NG varies by a few samples)."""
    offline = backends.resolve("speech", "espeak")
    with caplog.at_level(logging.INFO, logger="ttvd.pipeline.speech"):
        speech = offline(SENTENCES["fr"], tmp_path / "auto.wav", settings.replace(voice="auto", language="auto"))
    assert "voice fr (espeak, French (France)) reads fr" in caplog.text
    french = speak(SENTENCES["fr"], tmp_path / "fr.wav", "fr", settings.speech_rate, "fr")
    english = speak(SENTENCES["fr"], tmp_path / "en.wav", "en-us", settings.speech_rate)
    assert speech.duration == pytest.approx(french.duration, rel=0.03)
    assert abs(english.duration - french.duration) > 0.15 * french.duration
    assert [w.text for w in speech.words] == SENTENCES["fr"].split()


def test_an_online_voice_is_not_used_offline(settings, tmp_path, caplog):
    """The offline backend (also the fallback when OpenAI is down) never calls OpenAI for a named OpenAI voice."""
    keyed = settings.replace(openai_api_key="sk-test", voice="alloy", language="auto")
    with caplog.at_level(logging.INFO, logger="ttvd.pipeline.speech"):
        backends.resolve("speech", "espeak")(SENTENCES["en"], tmp_path / "a.wav", keyed)
    assert "voice en-us (espeak" in caplog.text and "alloy is an online voice" in caplog.text


# -- where the catalogue is shown -----------------------------------------------------------------

def test_the_api_serves_the_catalogue_a_daemon_published(client, settings, spool):
    status, body = client.json("GET", "/api/v1/voices")
    assert status == 503 and "ttvd daemon" in body["error"] and list(body) == ["error"]
    Daemon(settings, spool).run(burst=True)  # publishes at start, then finds nothing to do
    status, body = client.json("GET", "/api/v1/voices")
    assert status == 200
    listed = {v["id"]: v for v in body["voices"]}
    assert listed["en-us"] == {"id": "en-us", "name": "English (America)", "language": "en-us",
                               "backend": "espeak", "offline": True}
    assert listed["fr"]["language"] == "fr-fr"


def test_the_cli_lists_the_voices(home, capsys):
    assert run_cli(["--home", str(home), "voices"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["id", "language", "backend", "works", "name"]
    assert ["fr", "fr-fr", "espeak", "offline", "French", "(France)"] in [line.split() for line in lines]
    assert run_cli(["--home", str(home), "voices", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["voices"]
    assert {"id": "de", "name": "German", "language": "de", "backend": "espeak", "offline": True} in listed


def test_the_doctor_check_names_the_voice_or_fails(settings):
    from ttvd.pipeline.speech import check

    assert check(settings.replace(voice="auto"), "espeak") == \
        "voice en-us (espeak, English (America)) speaks; voice auto picks one per language"
    assert check(settings.replace(voice="de"), "espeak").startswith("voice de (espeak, German)")
    with pytest.raises(StageError, match="no voice 'nope'"):
        check(settings.replace(voice="nope"), "espeak")


def voice(path, config):
    """A Piper voice's files at ``path``: the model, and its ``.onnx.json`` unless ``config`` is None."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"model")
    if config is not None:
        path.with_name(path.name + ".json").write_text(json.dumps(config))


def test_piper_voices_are_found_in_a_folder_by_their_config(tmp_path):
    """Finding voices reads only the .onnx.json files; the model files are loaded when a job speaks."""
    from ttvd.backends import piper

    piper_config = {"phoneme_id_map": {"_": [0]}, "language": {"code": "fr_FR"}, "dataset": "siwis",
                    "audio": {"quality": "low"}}
    voice(tmp_path / "fr" / "fr_FR-siwis-low.onnx", piper_config)
    voice(tmp_path / "de_DE-old-medium.onnx", {"phoneme_id_map": {}, "espeak": {"voice": "de"}})
    voice(tmp_path / "no-config.onnx", None)
    voice(tmp_path / "other-model.onnx", {"layers": 3})  # an .onnx that is no voice
    found = {v.id: v for v in piper.find_voices(tmp_path) if v.model.is_relative_to(tmp_path)}
    assert set(found) == {"fr_FR-siwis-low", "de_DE-old-medium"}
    assert (found["fr_FR-siwis-low"].language, found["fr_FR-siwis-low"].name) == ("fr-fr", "Siwis (low)")
    assert found["de_DE-old-medium"].language == "de"


def test_packaged_voices_are_rescanned_only_when_an_installed_package_changes(tmp_path, monkeypatch):
    """A voice shipped by a package is found; asking again reads no file list; installing or removing a
    package (a .dist-info folder appearing or going) is seen at the next ask."""
    import importlib.metadata
    import shutil

    from ttvd.backends import piper

    site = tmp_path / "site"
    config = {"phoneme_id_map": {"_": [0]}, "language": {"code": "nl_NL"}, "dataset": "testvoice"}

    def install(name: str):
        info = site / f"{name}-1.0.dist-info"
        voice(site / name / f"{name}.onnx", {**config, "dataset": name})
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        (info / "RECORD").write_text(f"{name}/{name}.onnx,,\n{name}/{name}.onnx.json,,\n{info.name}/RECORD,,\n")
        return info

    def ids() -> set[str]:
        return {v.id for v in piper.find_voices(None) if v.model.is_relative_to(site)}

    first = install("nl_voice_one")
    monkeypatch.syspath_prepend(str(site))
    scans = []
    real = importlib.metadata.distributions
    monkeypatch.setattr(importlib.metadata, "distributions", lambda *a, **k: scans.append(1) or real(*a, **k))
    assert ids() == {"nl_voice_one"} and len(scans) == 1
    assert ids() == {"nl_voice_one"} and len(scans) == 1, "asked again with nothing installed: rescanned"
    install("nl_voice_two")
    assert ids() == {"nl_voice_one", "nl_voice_two"} and len(scans) == 2
    shutil.rmtree(first)
    assert ids() == {"nl_voice_two"} and len(scans) == 3


def test_the_piper_backend_prefers_a_piper_voice_for_the_language(catalogue):
    def piper_voice(voice_id, language, rank):
        return voices.Voice(voice_id, voice_id, language, "piper", True,
                            ((language, rank), (language.split("-")[0], rank)), f"/voices/{voice_id}.onnx")

    listed = [*catalogue, piper_voice("en_US-a-low", "en-us", 3), piper_voice("en_US-b-high", "en-us", 1)]
    assert voices.choose(listed, "auto", "en", "text", "piper").voice.id == "en_US-b-high"
    assert voices.choose(listed, "auto", "en", "text", "espeak").voice.id == "en-us"
    french = voices.choose(listed, "auto", "fr", "text", "piper")
    assert french.voice.id == "fr" and "no piper voice reads it" in french.reason


def test_each_backend_reads_with_a_voice_of_its_kind(settings):
    from ttvd.pipeline.speech import choose_voice

    keyed = settings.replace(openai_api_key="sk-test", openai_voice="nova")
    assert choose_voice("Hello there.", keyed.replace(voice="fr"), "openai").voice.id == "nova"
    assert choose_voice("Hello there.", keyed.replace(voice="echo"), "openai").voice.id == "echo"
    assert choose_voice("Hello there.", keyed.replace(voice="auto"), "openai").voice.id == "nova"
    assert choose_voice("Hello there.", keyed.replace(voice="fr"), "espeak").voice.id == "fr"
    with pytest.raises(StageError, match="`ttvd voices`"):
        choose_voice("Hello there.", keyed.replace(voice="nope"), "openai")


def test_detection_follows_the_languages_the_voices_read(catalogue):
    everything = voices.spoken_languages(catalogue)
    assert voices.detect(SENTENCES["fr"], frozenset({"en", "de"}))[0] in {"en", "de"}
    assert voices.detect(SENTENCES["fr"], everything)[0] == "fr"  # the full set is back after a narrower one
