"""End to end through the API and the daemon processes, with every online backend pointed at stand-ins."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from helpers import frame_at, process_env, wait_for
from standins import OPENAI_KEY, PEXELS_KEY
from standins.fixtures import files_containing, online_env
from standins.pexels_server import colour_of

pytestmark = pytest.mark.slow  # every test here runs real `ttvd` processes

# Four passages of about three seconds each: a desert (served only in landscape), then ocean, forest, city.
STORY = ("Far away, the desert sand burned under a white sun, and nothing moved. The ocean was calm at dawn, "
         "and the waves rolled in slowly. Deep in the forest, old trees whispered in the wind all day long. "
         "By evening the city woke up, and its lights filled the night.")


def _run_daemon(start, home, env):
    daemon = start(["daemon", "--burst"], home, TTVD_KEEP_WORK="1", **env)  # the tests read work/<id>/
    wait_for(lambda: daemon.popen.poll() is not None, 240, interval=0.2)
    return daemon


def test_job_goes_through_every_online_backend(server, start, home, openai_standin, pexels_standin):
    status, body = server.json("POST", "/api/v1/generate", {"text": STORY})
    assert status == 202
    job_id = body["job_id"]
    daemon = _run_daemon(start, home, online_env(openai_standin, pexels_standin, TTVD_LOG_LEVEL="DEBUG"))
    status, state = server.json("GET", f"/api/v1/status/{job_id}")
    assert state["status"] == "completed", state
    logs = "\n".join(state["logs"])
    for line in ("Speech from openai: OPENAI_API_KEY is set", "Captions from openai",
                 "Queries from openai: OPENAI_API_KEY is set", "Footage from pexels: PEXELS_API_KEY is set"):
        assert line in logs

    work = home / "work" / job_id
    clips = json.loads((work / "footage.json").read_text())
    assert all(c["kind"] == "video" and c["params"]["source"] == "pexels" for c in clips)
    assert len({c["params"]["id"] for c in clips}) == len(clips) >= 2
    for clip in clips:  # the credits are in the job's state
        assert f"by {clip['params']['author']} ({clip['params']['page']})" in logs
    recorded = json.loads((home / "spool" / "state" / f"{job_id}.json").read_text())["credits"]
    assert [(c["id"], c["page"], c["author"]) for c in recorded] == [
        (c["params"]["id"], c["params"]["page"], c["params"]["author"]) for c in clips]

    status, _, video = server.request("GET", f"/api/v1/download/{job_id}")
    assert status == 200
    path = home / "output" / f"video_{job_id}.mp4"
    magenta = np.array([255, 0, 255])
    for clip in clips:  # the video is made of the served clips, cropped not stretched
        frame = frame_at(path, (clip["start"] + clip["end"]) / 2).astype(int)
        colour = np.array(colour_of(clip["params"]["id"]))
        top = frame[: frame.shape[0] // 8]
        # every served file has magenta bands down its sides, a quarter of its width each: a portrait
        # file fills the frame as it is; a landscape one is cover-cropped to its middle, bands gone
        landscape = clip["params"]["width"] > clip["params"]["height"]
        for x, expected in [(frame.shape[1] // 2, colour), (4, colour if landscape else magenta),
                            (frame.shape[1] - 5, colour if landscape else magenta)]:
            assert np.abs(top[:, x] - expected).max(axis=1).mean() < 40, (clip["params"]["id"], x)
    assert any(c["params"]["width"] > c["params"]["height"] for c in clips)  # a landscape one was cropped

    captions = json.loads((work / "captions.json").read_text())
    words = [w for c in captions for w in c["words"]]
    assert [w["text"] for w in words] == STORY.split()
    heard = {round(h["start"], 2) for h in openai_standin.log()["extra"]["transcribed_words"]}
    assert sum(round(w["start"], 2) in heard for w in words) >= 0.8 * len(words)
    assert len(openai_standin.requests("chat")) == 1

    for key in (OPENAI_KEY, PEXELS_KEY):  # keys appear in no file the job wrote, nor in the debug log
        assert not files_containing(home, key.encode())
        assert key not in daemon.output() and key not in json.dumps(state)
    assert all(r["authorised"] for r in openai_standin.log()["requests"] + pexels_standin.requests("search"))


def test_rejected_pexels_key_fails_the_job_at_footage(client, start, home, openai_standin, pexels_standin):
    status, body = client.json("POST", "/api/v1/generate", {"text": "The ocean was calm.",
                                                            "options": {"speech": "espeak", "queries": "keywords"}})
    assert status == 202
    env = online_env(openai_standin, pexels_standin)
    env["PEXELS_API_KEY"] = "wrong-key-" + "x" * 30
    _run_daemon(start, home, env)
    state = json.loads((home / "spool" / "state" / f"{body['job_id']}.json").read_text())
    assert state["status"] == "failed" and state["stage"] == "footage"
    assert state["error"] == "Pexels rejected the API key (HTTP 401)"
    assert "Speech from espeak: the job's options ask for espeak" in state["logs"]
    assert not files_containing(home, env["PEXELS_API_KEY"].encode())


def test_no_keys_means_the_offline_path(start, home, spool):
    state = spool.submit("A quiet evening by the sea.", "cli")
    _run_daemon(start, home, {})
    final = spool.read_state(state.job_id)
    assert final.status.value == "completed"
    logs = "\n".join(final.logs)
    # no backend lines ("Speech from openai: ..."): offline defaults nobody asked to change are not announced
    assert not re.search(r"^(Speech|Captions|Queries|Footage) from ", logs, re.M)
    clips = json.loads((home / "work" / state.job_id / "footage.json").read_text())
    assert all(c["kind"] == "generated" for c in clips)
    assert not (home / "cache").exists()


def test_doctor_reports_each_stage_and_checks_it(home, openai_standin, pexels_standin):
    env = process_env(home, **online_env(openai_standin, pexels_standin))
    ok = subprocess.run([sys.executable, "-m", "ttvd", "doctor"], env=env, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert re.search(r"^speech\s+openai\s+ok\s+OPENAI_API_KEY is set", ok.stdout, re.M)
    assert re.search(r"^footage\s+pexels\s+ok\s+PEXELS_API_KEY is set", ok.stdout, re.M)
    env["OPENAI_API_KEY"] = "sk-wrong-wrong-wrong"
    bad = subprocess.run([sys.executable, "-m", "ttvd", "doctor"], env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "OpenAI rejected the API key (HTTP 401)" in bad.stdout
    assert "sk-wrong" not in bad.stdout + bad.stderr
