"""Take the web page's screenshots for the docs: ``.venv/bin/python docs/images/screenshots.py``.

Starts ``ttvd serve`` and ``ttvd daemon`` on a temporary home, makes two jobs (one completed, one
cancelled) and photographs the page at desktop and phone width with Debian's chromium.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

HERE = Path(__file__).parent
STORY = ("The night train left the mountain station a little after nine. Snow lay on the roofs of the "
         "carriages, and the lamps of the valley slid past the windows one by one.")


def call(base: str, method: str, path: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="ttvd-shots-") as home:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TTVD_", "OPENAI_", "PEXELS_"))}
        env.update(TTVD_HOME=home, TTVD_HEIGHT="640", TTVD_LOG_LEVEL="WARNING")
        procs = [subprocess.Popen([sys.executable, "-m", "ttvd", "serve", "--port", str(port)], env=env),
                 subprocess.Popen([sys.executable, "-m", "ttvd", "daemon"], env=env)]
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    call(base, "GET", "/api/v1/jobs")
                    break
                except OSError:
                    time.sleep(0.2)
            cancelled = call(base, "POST", "/api/v1/generate", {"text": "A second story, stopped on purpose."})
            call(base, "POST", f"/api/v1/jobs/{cancelled['job_id']}/cancel")
            done = call(base, "POST", "/api/v1/generate", {"text": STORY, "options": {"title": "Night train"}})
            while call(base, "GET", f"/api/v1/status/{done['job_id']}")["status"] not in ("completed", "failed"):
                time.sleep(0.5)
            chromium = shutil.which("chromium") or "chromium"
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
                for name, size in (("web-desktop.png", (1280, 900)), ("web-phone.png", (390, 844))):
                    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
                    page.goto(base + "/")
                    page.get_by_label("Your story or script").fill(STORY)
                    page.locator(f'.job[data-job-id="{done["job_id"]}"] video').wait_for()
                    page.wait_for_function("document.querySelector('video').readyState >= 1")
                    page.evaluate("new Promise(done => { const v = document.querySelector('video'); "
                                  "v.addEventListener('seeked', done, {once: true}); v.currentTime = 4; })")
                    page.wait_for_function("document.querySelector('video').readyState >= 3")
                    page.wait_for_timeout(500)  # the player's seeking spinner fades out
                    page.locator("#make button").focus()
                    page.screenshot(path=str(HERE / name), full_page=True)
                    print(f"wrote {HERE / name}")
                browser.close()
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(30)


if __name__ == "__main__":
    main()
