"""End to end with real processes: `ttvd serve` + `ttvd daemon` on a temporary home and a loopback port."""
import subprocess
import sys
import time
import wave

import pytest

from ttvd.media import probe
from ttvd.pipeline import sound
from ttvd.spool import Spool

from helpers import process_env, serve_on, wait_for

pytestmark = pytest.mark.slow  # every test here runs real `ttvd` processes

STORY = "The old clock in the square stopped at noon. Nobody noticed, until the birds began to wait."


def finished(server, job_id, seen=None):
    status, body = server.json("GET", f"/api/v1/status/{job_id}")
    assert status == 200
    if seen is not None:
        seen.append(body["progress"])
    return body if body["status"] in ("completed", "failed") else None


def test_http_job_through_daemon_then_both_restart(server, start, home, tmp_path):
    daemon = start(["daemon"], home)
    status, body = server.json("POST", "/api/v1/generate", {"text": STORY})
    assert status == 202
    job_id = body["job_id"]

    progress: list[int] = []
    final = wait_for(lambda: finished(server, job_id, progress), 120, daemon, interval=0.05)
    assert final["status"] == "completed", final
    assert final["progress"] == 100 and final["message"] == "Video generation completed"
    assert progress == sorted(progress), "progress never goes backwards"
    for line in ("Starting audio generation...", "Audio generation completed", "Starting caption generation...",
                 "Caption generation completed", "Starting search query generation...",
                 "Starting background video fetching...", "Starting video rendering..."):
        assert line in final["logs"]

    code, headers, video = server.request("GET", f"/api/v1/download/{job_id}")
    assert code == 200 and headers["Content-Type"] == "video/mp4"
    downloaded = tmp_path / "got.mp4"
    downloaded.write_bytes(video)
    info = probe(downloaded)
    with wave.open(str(home / "output" / f"audio_{job_id}.wav")) as wav:
        narration = wav.getnframes() / wav.getframerate()
    assert (info.video_codec, info.audio_codec, info.width, info.height) == ("h264", "aac", 180, 320)
    _, length = sound.layout(narration, round(info.fps))  # the narration with its lead-in and tail
    assert abs(info.frames / info.fps - length) <= 1 / info.fps + 1e-6
    assert abs(info.duration - length) < 0.15

    _, jobs_before = server.json("GET", "/api/v1/jobs")
    assert daemon.stop() == 0
    assert server.proc.stop() == 0
    # Both come back and read the same state from disk.
    client = serve_on(start, home)
    start(["daemon"], home)
    assert client.json("GET", f"/api/v1/status/{job_id}") == (200, final)
    assert client.json("GET", "/api/v1/jobs") == (200, jobs_before)
    assert client.request("GET", f"/api/v1/download/{job_id}")[2] == video


def test_slowly_written_watch_file_gives_exactly_one_video(start, home):
    spool = Spool(home).ensure()
    daemon = start(["daemon"], home)
    time.sleep(1.0)  # let the watcher start
    parts = ["The fox waited by the river. ", "The water rose slowly, ", "and then the bridge was gone."]
    with open(home / "watch" / "fox.txt", "w") as handle:
        for part in parts:
            handle.write(part)
            handle.flush()
            time.sleep(0.8)  # longer than the settle time: only the open writer holds the file back
    job = wait_for(lambda: [s for s in spool.states() if s.status.value == "completed"], 120, daemon)
    time.sleep(2.5)  # two more rescans: nothing else may appear
    states = list(spool.states())
    assert len(states) == 1 and states[0].source == "watch" and states[0].origin == "fox.txt"
    job_id = job[0].job_id
    assert (home / "watch" / "processed" / f"{job_id}.txt").read_text() == "".join(parts)
    assert len(list((home / "output").glob("video_*.mp4"))) == 1
    assert probe(home / "output" / f"video_{job_id}.mp4").audio_codec == "aac"


def test_cli_jobs_queued_without_a_daemon_run_when_one_starts(start, home, tmp_path):
    env = process_env(home)
    story = tmp_path / "story.txt"
    story.write_text(STORY)
    queued = subprocess.run([sys.executable, "-m", "ttvd", "submit", str(story)], env=env,
                            capture_output=True, text=True, check=True).stdout.strip()
    assert Spool(home).queued_ids() == [queued]
    start(["daemon"], home)
    waited = subprocess.run([sys.executable, "-m", "ttvd", "submit", "-", "--wait"], input=STORY, env=env,
                            capture_output=True, text=True, timeout=120)
    assert waited.returncode == 0, waited.stderr
    second = waited.stdout.splitlines()[0]
    assert waited.stdout.splitlines()[-1] == str(home / "output" / f"video_{second}.mp4")
    assert "100% Video generation completed" in waited.stderr
    status = subprocess.run([sys.executable, "-m", "ttvd", "status", queued], env=env, capture_output=True,
                            text=True, check=True).stdout
    assert '"status": "completed"' in status


def test_render_command_writes_the_mp4_in_process(home, tmp_path):
    story = tmp_path / "story.txt"
    story.write_text(STORY)
    out = tmp_path / "out" / "story.mp4"
    run = subprocess.run([sys.executable, "-m", "ttvd", "render", str(story), "-o", str(out)],
                         env=process_env(home), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(out)
    info = probe(out)
    assert (info.width, info.height, info.video_codec, info.audio_codec) == (180, 320, "h264", "aac")
    assert info.duration > 3
    assert "20% Generating audio..." in run.stderr and "90% Rendering video..." in run.stderr


def test_cli_refuses_bad_input_clearly(home, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("  ")
    for args in (["submit", str(empty)], ["render", str(tmp_path / "missing.txt"), "-o", "x.mp4"],
                 ["status", "../etc"]):
        run = subprocess.run([sys.executable, "-m", "ttvd", *args], env=process_env(home), capture_output=True,
                             text=True)
        assert run.returncode in (1, 2) and run.stderr.startswith("ttvd: "), (args, run.stderr)
        assert "Traceback" not in run.stderr


def test_files_present_at_start_and_moved_in_become_jobs(start, home, tmp_path):
    spool = Spool(home).ensure()
    (home / "watch" / "before.txt").write_text("This file was waiting before the daemon started.")
    daemon = start(["daemon"], home)
    outside = tmp_path / "moved.txt"
    outside.write_text("This file was moved in while the daemon ran.")
    wait_for(lambda: list(spool.states()), 30, daemon)
    outside.rename(home / "watch" / "moved.txt")
    done = wait_for(lambda: [s for s in spool.states() if s.status.value == "completed"][1:] and
                    list(spool.states()), 120, daemon)
    assert sorted(s.origin for s in done) == ["before.txt", "moved.txt"]
    assert all(s.status.value == "completed" for s in done)
    assert sorted(p.read_text()[:9] for p in (home / "watch" / "processed").iterdir()) == ["This file", "This file"]


def test_burst_drains_and_exits_beside_entries_it_skips(home, tmp_path):
    spool = Spool(home).ensure()
    (home / "watch" / "folder.txt").mkdir()
    (home / "watch" / "story.txt").write_text("A burst run takes this file and stops.")
    run = subprocess.run([sys.executable, "-m", "ttvd", "daemon", "--burst"], env=process_env(home),
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    [state] = list(spool.states())
    assert state.origin == "story.txt" and state.status.value == "completed"
    assert "skipping 'folder.txt'" in run.stderr
