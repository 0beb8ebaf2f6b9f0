"""Caption presets, positions and the title card, drawn by libass in the ffmpeg engine's one pass and
measured on the frames: over a one-colour background every pixel that differs is caption."""
from __future__ import annotations

import subprocess
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest

from ttvd import config, render
from ttvd.media import ffmpeg_exe
from ttvd.pipeline.captions import make_captions
from ttvd.pipeline.plan import SAFE_BOTTOM, SAFE_RAIL, SAFE_TOP, caption_style, resolve
from ttvd.render.ass import TITLE_SECONDS, escape, script
from ttvd.timeline import Caption, Clip, Timeline, Word

from helpers import TINY, frame_at, make_video

W, H, FPS = 180, 320, 10
BACKGROUND = (0x33, 0x66, 0x99)
SENTENCE = "The night train left the station at dawn"
ACCENT = np.array([0xFF, 0xD7, 0x00])  # the default accent (Style.primary_colour)


def words(text: str, start: float = 0.2, step: float = 0.25) -> list[Word]:
    return [Word(token, round(start + i * step, 3), round(start + i * step + step * 0.8, 3))
            for i, token in enumerate(text.split())]


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("ass-media")
    audio = folder / "silence.wav"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i", "anullsrc=r=22050:cl=mono:d=4",
                    str(audio)], check=True)
    return {"audio": audio, "video": make_video(folder / "plain.mp4", 4, "0x336699")}


def draw(media: dict[str, Path], folder: Path, events: list[Caption], duration: float = 2.0,
         **look: str) -> Path:
    """Render caption ``events`` with the plan's style for ``look`` over one colour; lossless, so edges stay sharp."""
    style = caption_style(config.load({}, **TINY), W, H, look)
    timeline = Timeline(str(media["audio"]), duration, W, H, FPS, [Clip(0.0, duration, "video", str(media["video"]))],
                        events, style, encoder={"preset": "ultrafast", "crf": 0})
    folder.mkdir(parents=True, exist_ok=True)
    render.engine("ffmpeg")(timeline, folder / "out.mp4", folder)
    return folder / "out.mp4"


def timed(text: str, preset: str = "karaoke", start: float = 0.2, step: float = 0.25) -> list[Caption]:
    style = caption_style(config.load({}, **TINY), W, H, {"captions": preset})
    return make_captions(words(text, start, step), style.max_line_chars, 30.0, preset)


def ink(frame: np.ndarray) -> np.ndarray:
    """True where the frame is not the background."""
    return np.abs(frame.astype(int) - np.array(BACKGROUND)).max(axis=2) > 40


def accent(frame: np.ndarray) -> np.ndarray:
    return np.abs(frame.astype(int) - ACCENT).max(axis=2) < 40


def columns(mask: np.ndarray) -> np.ndarray:
    return np.nonzero(mask.any(axis=0))[0]


@pytest.fixture(scope="module")
def presets(media, tmp_path_factory) -> dict[str, Path]:
    """The same sentence in each preset."""
    folder = tmp_path_factory.mktemp("presets")
    return {preset: draw(media, folder / preset, timed(SENTENCE, preset), captions=preset)
            for preset in ("karaoke", "highlight", "word", "classic", "none")}


def test_each_preset_draws_its_own_frames_and_none_draws_nothing(presets):
    frames = {preset: frame_at(video, 0.7) for preset, video in presets.items()}
    assert not ink(frames["none"]).any()
    for preset in ("karaoke", "highlight", "word", "classic"):
        assert ink(frames[preset]).sum() > 300, preset
    for first, second in combinations(frames, 2):
        differing = (np.abs(frames[first].astype(int) - frames[second].astype(int)).max(axis=2) > 40).sum()
        assert differing > 200, (first, second, differing)


def test_highlight_marks_only_the_spoken_word_and_follows_it(presets):
    """The accent box sits behind one word at a time, further right as the sentence goes on."""
    centres = []
    for seconds in (0.25, 0.55, 0.85):  # the frames of the first, second and third word
        box = accent(frame_at(presets["highlight"], seconds))
        assert 40 < box.sum() < 0.5 * ink(frame_at(presets["highlight"], seconds)).sum()
        centres.append(columns(box).mean())
    assert centres[0] < centres[1] < centres[2]


def test_karaoke_fills_words_as_they_are_spoken(presets):
    early, late = (accent(frame_at(presets["karaoke"], seconds)).sum() for seconds in (0.25, 0.95))
    assert 0 < early < late


def test_word_preset_is_larger_and_pops_in(media, tmp_path):
    one = [Caption(0.19, 1.5, ["WORD"], [Word("WORD", 0.19, 1.0)])]  # the frame at 0.2 s is 10 ms in
    video = draw(media, tmp_path / "word", one, captions="word")
    plain = draw(media, tmp_path / "karaoke", one, captions="karaoke")
    popping, settled = (np.ptp(columns(ink(frame_at(video, seconds)))) for seconds in (0.2, 0.6))
    assert 0.75 < popping / settled < 0.9  # the caption's first frame, 10 ms in, is at about 82%
    assert settled > 1.2 * np.ptp(columns(ink(frame_at(plain, 0.6))))


@pytest.mark.parametrize("position", ["bottom", "middle", "top"])
@pytest.mark.parametrize("preset", ["word", "classic", "highlight"])
def test_captions_and_title_stay_inside_the_safe_area(media, tmp_path, position, preset):
    """Two full lines, a word too long for any line, and the title card: none reaches the platforms' UI."""
    style = caption_style(config.load({}, **TINY), W, H, {"captions": preset})
    wide = make_captions(words("Wayward wolves gnaw joyfully quietly beyond hedgerows", 0.1, 0.12),
                         style.max_line_chars, 1.0, preset)
    long = [Caption(1.1, 2.0, ["Pneumonoultramicroscopicsilicovolcanoconiosis"],
                    [Word("Pneumonoultramicroscopicsilicovolcanoconiosis", 1.1, 1.9)])]
    video = draw(media, tmp_path, wide + long, duration=3.6, captions=preset, caption_position=position,
                 title="Seven passengers on the last night train")
    title = ink(frame_at(video, 2.5))  # the title alone, after the captions
    first, second = (ink(frame_at(video, seconds)) & ~title for seconds in ((0.1 + wide[0].end) / 2, 1.5))
    everything = title | first | second
    assert title.sum() > 300 and first.sum() > 100
    assert second[:, :W // 2].any() and second[:, W // 2:].any()  # the long word is there, shrunk to fit
    assert not everything[:round(H * SAFE_TOP)].any(), "in the top band"
    assert not everything[round(H * (1 - SAFE_BOTTOM)):].any(), "in the bottom band"
    assert not everything[:, round(W * (1 - SAFE_RAIL)):].any(), "on the button rail"
    assert not everything[:, :2].any(), "at the left edge"
    assert not ink(frame_at(video, TITLE_SECONDS + 0.3)).any()  # the title has gone
    low, high = {"bottom": (0.5, 0.8), "middle": (0.3, 0.7), "top": (0.1, 0.45)}[position]
    rows = np.nonzero((first | second).any(axis=1))[0]
    assert low * H <= rows.min() and rows.max() <= high * H, rows
    title_rows = np.nonzero(title.any(axis=1))[0]
    low, high = (0.1, 0.45) if position == "middle" else (0.3, 0.7)  # out of the captions' way
    assert low * H <= title_rows.min() and title_rows.max() <= high * H, title_rows


def test_text_shows_as_typed_braces_and_backslashes_included(media, tmp_path):
    texts = ["{a}", "(a)", "x\\Ny", "xNy", "\\", "\u29f5"]
    captions = [Caption(0.1 + i * 0.3, 0.35 + i * 0.3, [text], [Word(text, 0.1 + i * 0.3, 0.3 + i * 0.3)])
                for i, text in enumerate(texts)]
    video = draw(media, tmp_path, captions, duration=2.0, captions="classic")
    frames = {text: frame_at(video, caption.start + 0.1).astype(int) for text, caption in zip(texts, captions,
                                                                                           strict=True)}

    def differing(first: str, second: str) -> int:
        return int((np.abs(frames[first] - frames[second]).max(axis=2) > 60).sum())

    assert ink(frames["{a}"]).sum() > 0.9 * ink(frames["(a)"]).sum()  # not swallowed as an override block
    assert differing("{a}", "(a)") > 20 and differing("\\", "\u29f5") > 5  # and not look-alikes
    rows = {text: np.ptp(np.nonzero(ink(frames[text]).any(axis=1))[0]) for text in ("x\\Ny", "xNy")}
    assert rows["x\\Ny"] < 1.3 * rows["xNy"]  # one line: "\\N" in the text is no line break


def test_right_to_left_lines_start_on_the_right(media, tmp_path):
    """The first spoken word of an Arabic caption is marked at the right end of its line."""
    from ttvd.render.fonts import find_font, missing_characters

    arabic = "مرحبا بالعالم"
    if missing_characters(arabic, find_font()[0]):
        pytest.skip("no Arabic font installed (fonts-dejavu-core)")
    videos = {text: draw(media, tmp_path / str(i), timed(text, "highlight"), captions="highlight")
              for i, text in enumerate((arabic, "Hello brave world"))}
    first_arabic, first_latin = (columns(accent(frame_at(videos[t], 0.25))).mean() for t in videos)
    assert first_arabic > W * 0.5 > first_latin


def test_script_escapes_and_none_has_no_captions():
    assert escape("{\\an8}a\\Nb") == "\\{\\\u2060an8\\}a\\\u2060Nb"
    style = caption_style(config.load({}, **TINY), W, H, {"captions": "none"})
    timeline = Timeline("a.wav", 2.0, W, H, FPS, [], timed(SENTENCE), style)
    assert "Dialogue" not in script(timeline)
    style.title = "A title"
    titled = script(timeline)
    assert titled.count("Dialogue") == 1 and f"0:00:00.00,0:00:0{min(2.0, TITLE_SECONDS):.2f}" in titled


def test_the_plan_places_captions_by_aspect_and_option(settings):
    portrait = resolve(settings, {"captions": "word", "caption_position": "top", "title": "Hi"}).style
    assert (portrait.preset, portrait.position, portrait.title) == ("word", "top", "Hi")
    assert portrait.margin_r >= round(portrait.margin_l * 1.4)  # the rail side is wider
    landscape = resolve(settings, {"aspect": "16:9"}).style
    assert landscape.margin_l == landscape.margin_r and landscape.preset == "karaoke"
    assert resolve(settings, {"captions": "word"}).style.font_size > resolve(settings, {}).style.font_size


def luminance(rgb: tuple[int, int, int]) -> float:
    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = map(linear, rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def over(colour: str, background: tuple[int, int, int]) -> tuple[int, int, int]:
    """An ASS colour (&HAABBGGRR) composited over ``background``."""
    value = int(colour[2:], 16)
    alpha = 1 - ((value >> 24) & 0xFF) / 255
    rgb = (value & 0xFF, (value >> 8) & 0xFF, (value >> 16) & 0xFF)
    return tuple(round(alpha * c + (1 - alpha) * b) for c, b in zip(rgb, background, strict=True))


def test_caption_colours_contrast_with_what_is_behind_them_on_any_footage(settings):
    """WCAG contrast of each text colour over its own backing, the backing laid on white and on black."""
    s = resolve(settings, {}).style
    pairs = {"text on outline": (s.secondary_colour, s.outline_colour),
             "spoken word on outline": (s.primary_colour, s.outline_colour),
             "highlighted word on its box": (s.outline_colour, s.primary_colour),
             "classic text on its box": (s.secondary_colour, s.box_colour)}
    for name, (text, backing) in pairs.items():
        for footage in ((255, 255, 255), (0, 0, 0)):
            behind = over(backing, footage)
            lighter, darker = sorted((luminance(over(text, behind)), luminance(behind)), reverse=True)
            assert (lighter + 0.05) / (darker + 0.05) >= 4.5, (name, footage)


def test_the_accent_keeps_its_colour_on_bt709_video(presets):
    """libass is told the frames are BT.709 (the ASS header), so amber is drawn as amber, not BT.601's shift."""
    frame = frame_at(presets["highlight"], 0.55).astype(int)
    box = accent(frame)
    assert box.sum() > 40
    assert np.abs(np.median(frame[box], axis=0) - ACCENT).max() <= 6
