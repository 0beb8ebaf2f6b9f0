"""The web page at /, driven in a real browser (Debian's chromium, headless, through Playwright)."""
from __future__ import annotations

import json
import os
import shutil

import pytest

from ttvd.media import probe

from helpers import serve_on, wait_for

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is installed by .ci/run")
CHROMIUM = os.environ.get("TTVD_TEST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is installed by .ci/run")

TOKEN = "web-page-test-token-0123456789"
STORY = ("The night train left the mountain station a little after nine. Snow lay on the roofs, "
         "and the lamps of the valley slid past the windows one by one.")


@pytest.fixture
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"])
        yield browser
        browser.close()


def _progress_values(page) -> list[int]:
    return page.eval_on_selector_all(".job .progress", "bars => bars.map(b => Number(b.getAttribute('aria-valuenow')))")


@pytest.mark.slow
def test_make_follow_watch_seek_and_delete_a_video(browser, start, home, tmp_path):
    api = serve_on(start, home)
    daemon = start(["daemon"], home)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(api.base + "/")
    assert page.title() == "ttvd: text to video"
    assert page.locator("#empty").is_visible()

    page.get_by_label("Your story or script").fill(STORY)
    words = len(STORY.split())
    assert page.locator("#count").inner_text() == f"{words} words, about {round(words / 165 * 60)} s of narration"
    page.get_by_label("Captions").select_option("highlight")
    page.get_by_label("Transition").select_option("slide")
    page.get_by_label("Title card").fill("Night train")
    page.get_by_role("button", name="Make the video").click()

    card = page.locator(".job").first
    card.wait_for()
    job_id = card.get_attribute("data-job-id")
    seen = set()
    for _ in range(600):  # up to ~120 s
        seen.update(_progress_values(page))
        if card.locator(".badge").inner_text() in ("completed", "failed"):
            break
        page.wait_for_timeout(200)
    assert card.locator(".badge").inner_text() == "completed", card.inner_text()
    assert len(seen - {0, 100}) >= 1 and 100 in _progress_values(page), f"progress seen: {sorted(seen)}"
    state = json.loads((home / "spool" / "state" / f"{job_id}.json").read_text())  # what the page sent
    assert state["options"] == {"voice": "auto", "captions": "highlight", "caption_position": "bottom",
                                "music": "auto", "transition": "slide", "aspect": "9:16", "title": "Night train"}

    video = card.locator("video")
    wait_for(lambda: video.evaluate("v => v.readyState >= 1 && v.duration > 0"), 20, daemon)
    expected = probe(home / "output" / f"video_{job_id}.mp4").duration
    assert abs(video.evaluate("v => v.duration") - expected) < 0.1
    target = round(expected / 2, 2)
    video.evaluate("(v, t) => new Promise(done => { v.addEventListener('seeked', done, {once: true}); "
                   "v.currentTime = t; })", target)
    assert abs(video.evaluate("v => v.currentTime") - target) < 0.2
    assert " 206 " in (tmp_path / "proc0.log").read_text(), "the player fetched the video by ranges"
    links = card.locator(".downloads a")
    assert links.all_inner_texts() == ["Download MP4", "Captions (SRT)", "Captions (WebVTT)"]
    srt = api.request("GET", links.nth(1).get_attribute("href"))
    assert srt[0] == 200 and b"-->" in srt[2]

    page.reload()
    page.locator(f'.job[data-job-id="{job_id}"]').wait_for()  # the list is read back from the API
    page.locator(f'.job[data-job-id="{job_id}"] .delete').click()
    page.locator(f'.job[data-job-id="{job_id}"]').wait_for(state="detached")
    assert api.json("GET", f"/api/v1/status/{job_id}")[0] == 404
    assert page.locator("#empty").is_visible()
    assert errors == []


def test_with_tokens_the_page_asks_for_one_and_keeps_it_for_the_tab(browser, start, home):
    api = serve_on(start, home, TTVD_API_TOKENS=TOKEN)
    assert api.request("GET", "/")[0] == 200  # the page itself needs no token
    context = browser.new_context(viewport={"width": 390, "height": 844})  # a phone
    page = context.new_page()
    page.goto(api.base + "/")
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    page.get_by_label("API token").fill("wrong-token-but-long-enough")
    page.get_by_role("button", name="Use this token").click()
    # the page checks the token with a request: the message appears when its answer comes back
    sync_api.expect(page.locator("#token-error")).to_contain_text("refused", timeout=10_000)
    page.get_by_label("API token").fill(TOKEN)
    page.get_by_role("button", name="Use this token").click()
    page.locator("#empty").wait_for()
    page.get_by_label("Your story or script").fill("A short tale.")
    page.get_by_role("button", name="Make the video").click()
    page.locator(".job").first.wait_for()
    assert page.locator(".job .badge").first.inner_text() == "queued"
    assert page.evaluate("sessionStorage.getItem('ttvd-token')") == TOKEN
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "nothing wider than a phone"
    other = context.browser.new_page()  # a new tab (another context) starts without the token
    other.goto(api.base + "/")
    other.get_by_role("dialog").wait_for()
    context.close()
