"""Workers benchmark: the same jobs drained by ``ttvd daemon --burst`` with 1 and with 2 workers.

    .venv/bin/python -m bench.workers --jobs 4 --height 720 --runs 1 --record docs/results

Each run uses a fresh home with the same texts, offline backends and the default options; the wall
time of the whole drain is compared (the fastest run of each). Every drain's time goes to ``--record``.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import record

TEXT = ("The night train left the mountain station a little after nine. Snow lay on the roofs of the "
        "carriages, and the lamps of the valley slid past the windows one by one. In the last carriage "
        "an old man opened a letter he had carried for forty years, and began, at last, to read it.")


def drain(workers: int, jobs: int, height: int) -> float:
    with tempfile.TemporaryDirectory(prefix="ttvd-bench-workers-") as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TTVD_", "OPENAI_", "PEXELS_"))}
        env.update(TTVD_HOME=home, TTVD_WORKERS=str(workers), TTVD_HEIGHT=str(height), TTVD_LOG_LEVEL="WARNING")
        for n in range(jobs):
            text = Path(home, f"text{n}.txt")
            text.write_text(f"{TEXT} This is story number {n + 1}.")
            subprocess.run([sys.executable, "-m", "ttvd", "submit", str(text)], env=env, check=True,
                           capture_output=True)
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "ttvd", "daemon", "--burst"], env=env, check=True)
        took = time.monotonic() - started
        done = len(list(Path(home, "output").glob("video_*.mp4")))
        if done != jobs:
            raise SystemExit(f"only {done} of {jobs} videos were made with {workers} worker(s)")
        return took


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.workers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--record", type=Path, default=record.SCRATCH, metavar="FOLDER",
                        help="where the raw results go (default: bench/results/, scratch)")
    args = parser.parse_args()
    started = record.Run("bench.workers", "workers", "Workers benchmark")
    times: dict[int, list[float]] = {1: [], 2: []}
    for run in range(args.runs):
        for workers in ((1, 2) if run % 2 == 0 else (2, 1)):
            took = drain(workers, args.jobs, args.height)
            times[workers].append(round(took, 2))
            print(f"# run {run + 1}: {workers} worker(s): {took:.1f} s", file=sys.stderr, flush=True)
    one, two = min(times[1]), min(times[2])
    report = (f"{args.jobs} jobs at {args.height}p on {os.cpu_count()} cores, fastest of {args.runs} run(s): "
              f"1 worker {one:.1f} s, 2 workers {two:.1f} s ({one / two:.2f}x)")
    print(report)
    results = {"drain_seconds": {f"{n} worker{'s' if n > 1 else ''}": t for n, t in times.items()}}
    print(f"raw results: {started.save(args.record, args, results, report)}", file=sys.stderr)


if __name__ == "__main__":
    main()
