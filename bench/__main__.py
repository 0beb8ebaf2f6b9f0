"""Render benchmark: each engine against the encode floor, alternating runs, medians.

    .venv/bin/python -m bench --durations 30 60 180 --runs 3 --engines floor ffmpeg ttvd moviepy --once moviepy

The floor is the same ffmpeg binary encoding a generated source (testsrc2) plus the same audio at
the same size, fps, duration, preset and CRF: the cost of the encode alone. Every engine renders
the same fixed Timeline (bench/inputs.py); ``ttvd`` is the render stage as a job runs it by default
(music bed, loudness, fade transitions, karaoke captions: bench/child.py). Results go to
bench/results/ and a Markdown table to stdout.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import inputs
from bench.measure import Sample, measure
from ttvd.media import ffmpeg_exe, probe
from ttvd.options import ASPECTS

HERE = Path(__file__).parent
RESULTS = HERE / "results"


def floor_command(timeline_data: dict, output: Path) -> list[str]:
    t, enc = timeline_data, timeline_data["encoder"]
    return [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
            "-f", "lavfi", "-i", f"testsrc2=s={t['width']}x{t['height']}:r={t['fps']}:d={t['duration']}",
            "-i", t["audio"], "-map", "0:v", "-map", "1:a",
            "-c:v", "libx264", "-preset", enc["preset"], "-crf", str(enc["crf"]), "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", str(output)]


def engine_command(engine: str, timeline_path: Path, output: Path) -> list[str]:
    return [sys.executable, "-m", "bench.child", engine, str(timeline_path), str(output)]


def run_matrix(args: argparse.Namespace) -> dict:
    RESULTS.mkdir(parents=True, exist_ok=True)
    cache = RESULTS / "cache"
    width, height = _size(args.aspect, args.height)
    results: dict = {}
    for duration in args.durations:
        timeline = inputs.timeline(cache, duration, width, height, args.fps, args.preset, args.crf)
        path = RESULTS / f"timeline_{duration:g}s.json"
        path.write_text(json.dumps(timeline.to_dict()))
        samples: dict[str, list[Sample]] = {name: [] for name in args.engines}
        for run in range(args.runs):
            # Alternate the order so drift in background load falls evenly on every contender.
            order = args.engines if run % 2 == 0 else list(reversed(args.engines))
            for name in order:
                if name in args.once and run > 0:
                    continue
                output = RESULTS / f"{name}_{duration:g}s.mp4"
                command = (floor_command(timeline.to_dict(), output) if name == "floor"
                           else engine_command(name, path, output))
                sample = measure(command)
                samples[name].append(sample)
                info = probe(output)
                print(f"# {duration:g}s run {run + 1} {name}: wall {sample.wall:.1f}s cpu {sample.cpu:.1f}s "
                      f"tree {sample.peak_tree_mb:.0f}MB; out {info.width}x{info.height} "
                      f"{info.duration:.2f}s {info.frames} frames; load {os.getloadavg()[0]:.2f}",
                      file=sys.stderr, flush=True)
        results[f"{duration:g}"] = {name: [vars(s) for s in runs] for name, runs in samples.items()}
    return results


def table(results: dict) -> str:
    rows = ["| output | engine | runs | wall s | CPU s | peak tree MB | wall / floor | CPU / floor |",
            "|---|---|---|---|---|---|---|---|"]
    for duration, engines in results.items():
        floor = _median(engines.get("floor", []), "wall")
        floor_cpu = _median(engines.get("floor", []), "cpu")
        for name, runs in engines.items():
            wall, cpu = _median(runs, "wall"), _median(runs, "cpu")
            peak = max(r["peak_tree_mb"] for r in runs)
            ratio = f"{wall / floor:.2f}x" if floor else "-"
            cpu_ratio = f"{cpu / floor_cpu:.2f}x" if floor_cpu else "-"
            rows.append(f"| {duration} s | {name} | {len(runs)} | {wall:.1f} | {cpu:.1f} | {peak:.0f} | "
                        f"{ratio} | {cpu_ratio} |")
    return "\n".join(rows)


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024
    version = subprocess.run([ffmpeg_exe(), "-version"], capture_output=True, text=True).stdout.split()[2]
    return (f"{os.cpu_count()} cores ({cpu}), {memory} GB RAM, Linux {platform.release()}, "
            f"Python {platform.python_version()}, ffmpeg {version}")


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs) if runs else 0.0


def _size(aspect: str, height: int) -> tuple[int, int]:
    aw, ah = ASPECTS[aspect]
    return round(height * aw / ah / 2) * 2, height


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--durations", type=float, nargs="+", default=[30, 60, 180])
    parser.add_argument("--engines", nargs="+", default=["floor", "ffmpeg", "ttvd", "moviepy"])
    parser.add_argument("--once", nargs="*", default=["moviepy"],
                        help="engines run only in the first round (default: moviepy, the slow one)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--aspect", default="9:16", choices=list(ASPECTS))
    parser.add_argument("--height", type=int, default=1920)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--crf", type=int, default=23)
    args = parser.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M")
    results = run_matrix(args)
    report = (f"{started}, {args.aspect} {_size(args.aspect, args.height)[0]}x{args.height} {args.fps} fps, "
              f"libx264 {args.preset} CRF {args.crf}; {machine()}\n\n{table(results)}\n")
    print(report)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"bench-{stamp}.json").write_text(json.dumps({"args": vars(args), "results": results}, indent=1))
    (RESULTS / f"bench-{stamp}.md").write_text(report)


if __name__ == "__main__":
    main()
