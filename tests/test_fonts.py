"""The caption font ships with ttvd; libass falls back to the system's fonts for other scripts, and a
character that no font draws is named before the render. Fallback is checked on rendered frames."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ttvd import config, render
from ttvd.backends.doctor import run_checks
from ttvd.errors import ConfigError
from ttvd.media import ffmpeg_exe
from ttvd.pipeline.plan import caption_style
from ttvd.render import fonts
from ttvd.timeline import Caption, Clip, Timeline, Word

from helpers import TINY, frame_at

W, H, FPS = 180, 320, 10
NOWHERE = "\U0010fffd"  # a private-use character: no font draws it


def without_fallback(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fontconfig that knows no fonts: libass has only the caption font of its fontsdir."""
    folder.mkdir(parents=True, exist_ok=True)
    config_file = folder / "fonts.conf"
    config_file.write_text(f"<?xml version='1.0'?><fontconfig><dir>{folder / 'none'}</dir>"
                           f"<cachedir>{folder / 'cache'}</cachedir></fontconfig>", encoding="utf-8")
    monkeypatch.setenv("FONTCONFIG_FILE", str(config_file))


@pytest.fixture
def no_fallback(tmp_path, monkeypatch) -> None:
    without_fallback(tmp_path / "fontconfig", monkeypatch)


def font() -> str:
    return fonts.find_font()[0]


def needs(text: str) -> None:
    if fonts.missing_characters(text, font()):
        pytest.skip(f"no installed font draws {text!r} (see docs/captions.md for the packages)")


def test_the_caption_font_ships_inside_the_package_with_its_licence():
    path, family = fonts.find_font()
    assert Path(path) == fonts.BUNDLED and family == "Noto Sans"
    assert Path(path).is_relative_to(Path(__import__("ttvd").__file__).parent)
    assert "SIL Open Font License" in (Path(path).parent / "OFL.txt").read_text(encoding="utf-8")


def test_ttvd_font_overrides_the_bundled_font(tmp_path):
    chosen = tmp_path / "mine.ttf"
    chosen.write_bytes(fonts.BUNDLED.read_bytes())
    assert fonts.find_font(chosen) == (str(chosen), "Noto Sans")
    with pytest.raises(ConfigError, match="TTVD_FONT"):
        fonts.find_font(tmp_path / "missing.ttf")
    style = caption_style(config.load({}, **TINY, TTVD_FONT=str(chosen)), W, H)
    assert style.font_file == str(chosen)


def test_text_width_is_the_width_libass_draws(tmp_path):
    """The width ass.py shrinks lines by: within 3% of the ink libass lays down."""
    text = "Wayward wolves gnaw joyfully"
    script = tmp_path / "one.ass"
    script.write_text("[Script Info]\nPlayResX: 1200\nPlayResY: 200\n\n[V4+ Styles]\n"
                      "Format: Name, Fontname, Fontsize, PrimaryColour, Bold, Outline, Shadow, Alignment\n"
                      "Style: Default,Noto Sans,80,&H00FFFFFF,-1,0,0,7\n\n"
                      "[Events]\nFormat: Layer, Start, End, Style, Text\n"
                      f"Dialogue: 0,0:00:00.00,0:00:01.00,Default,{{\\pos(10,10)}}{text}\n", encoding="utf-8")
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i", "color=black:s=1200x200:d=0.1",
                    "-vf", f"ass=filename=one.ass:fontsdir={fonts.BUNDLED.parent}", "-frames:v", "1",
                    "-update", "1", "one.png"], cwd=tmp_path, check=True)
    columns = np.nonzero((np.asarray(Image.open(tmp_path / "one.png").convert("L")) > 100).any(axis=0))[0]
    drawn = columns.max() - columns.min()
    assert abs(fonts.text_width(text, font(), 80) - drawn) < 0.03 * drawn


def test_characters_no_font_draws_are_named_for_the_job_log():
    assert fonts.missing_characters(f"plain text, café, naïve {NOWHERE}", font()) == [NOWHERE]
    warning = fonts.coverage_warning(f"a {NOWHERE} b", font())
    assert warning is not None and "U+10FFFD" in warning and "empty boxes" in warning
    assert fonts.coverage_warning("Hello, world!", font()) is None
    assert fonts.missing_characters("\u200d\ufe0f", font()) == []  # joiners and selectors need no glyph


def test_without_fallback_fonts_other_scripts_are_named_missing(no_fallback):
    assert fonts.missing_characters("你好 😀", font()) == ["你", "好", "😀"]
    check = [c for c in run_checks(config.load({}, **TINY)) if c.stage == "fonts"][0]
    assert check.ok and "no font draws CJK, emoji" in check.detail and "Noto Sans" in check.detail


def test_the_fallback_fonts_are_named():
    needs(fonts.SAMPLES["CJK"] + fonts.SAMPLES["emoji"])
    drawn, fallbacks = fonts.fallback_report(font())
    assert drawn["CJK"] and drawn["emoji"]
    assert any(name.startswith("NotoSansCJK") for name in fallbacks) and "Symbola" in fallbacks


def caption_frames(folder: Path, texts: list[str]) -> list[np.ndarray]:
    """A tiny render of one caption after another; a frame in the middle of each."""
    folder.mkdir(parents=True, exist_ok=True)
    duration = 0.5 * len(texts)
    audio = folder / "silence.wav"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"anullsrc=r=22050:cl=mono:d={duration}", str(audio)], check=True)
    style = caption_style(config.load({}, **TINY), W, H, {"captions": "classic"})
    clip = Clip(0.0, duration, "generated", params={"type": "linear", "colours": ["0x203040", "0x203040"],
                                                    "speed": 0, "seed": 1})
    captions = [Caption(0.5 * i + 0.05, 0.5 * i + 0.45, [text], [Word(text, 0.5 * i + 0.05, 0.5 * i + 0.4)])
                for i, text in enumerate(texts)]
    timeline = Timeline(str(audio), duration, W, H, FPS, [clip], captions, style,
                        encoder={"preset": "ultrafast", "crf": 0})
    render.engine("ffmpeg")(timeline, folder / "out.mp4", folder)
    return [frame_at(folder / "out.mp4", 0.5 * i + 0.25).astype(int) for i in range(len(texts))]


def differing(first: np.ndarray, second: np.ndarray) -> int:
    return int((np.abs(first - second).max(axis=2) > 60).sum())


def test_cjk_and_emoji_draw_glyphs_with_the_fallback_fonts(tmp_path, monkeypatch):
    """Two orders of the same characters differ on screen only when real glyphs are drawn: empty boxes
    look alike. Without fallback fonts (an empty fontconfig) they do look alike."""
    texts = ["你好世界", "界世好你", "😀🎉", "🎉😀"]
    needs("".join(texts))
    drawn = caption_frames(tmp_path / "fallback", texts)
    without_fallback(tmp_path / "fontconfig", monkeypatch)
    boxes = caption_frames(tmp_path / "boxes", texts)
    for pair in ((0, 1), (2, 3)):
        assert differing(drawn[pair[0]], drawn[pair[1]]) > 30, texts[pair[0]]
        assert differing(boxes[pair[0]], boxes[pair[1]]) == 0, texts[pair[0]]
        assert differing(drawn[pair[0]], boxes[pair[0]]) > 30, texts[pair[0]]
