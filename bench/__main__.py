"""Render benchmark: each engine against the encode floor, alternating runs, medians.

    .venv/bin/python -m bench --durations 30 60 --runs 3 --record docs/results

The floor is the same ffmpeg binary encoding a generated source (testsrc2) plus the same audio at
the same size, fps, duration, preset and CRF: the cost of the encode alone. Every engine renders
the same fixed Timeline (bench/inputs.py); ``ttvd`` is the render stage as a job runs it by default
(music bed, loudness, fade transitions, karaoke captions: bench/child.py). The table goes to stdout;
it and every sample go to ``--record`` (bench/record.py); sources and videos stay in bench/results/.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

from bench import inputs, record
from bench.measure import measure
from ttvd.media import ffmpeg_exe, probe
from ttvd.options import ASPECTS

RESULTS = record.SCRATCH


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
    """Every sample, by duration and engine: wall, CPU, memory, the load average and the video made."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    width, height = _size(args.aspect, args.height)
    results: dict = {}
    for duration in args.durations:
        timeline = inputs.timeline(RESULTS / "cache", duration, width, height, args.fps, args.preset, args.crf)
        path = RESULTS / f"timeline_{duration:g}s.json"
        path.write_text(json.dumps(timeline.to_dict()))
        samples: dict[str, list[dict]] = {name: [] for name in args.engines}
        for run in range(args.runs):
            # Alternate the order so drift in background load falls evenly on every contender.
            order = args.engines if run % 2 == 0 else list(reversed(args.engines))
            for name in order:
                if name in args.once and run > 0:
                    continue
                samples[name].append(_sample(name, run, path, timeline.to_dict(), duration))
        results[f"{duration:g}"] = samples
    return results


def _sample(name: str, run: int, timeline_path: Path, timeline_data: dict, duration: float) -> dict:
    output = RESULTS / f"{name}_{duration:g}s.mp4"
    command = (floor_command(timeline_data, output) if name == "floor"
               else engine_command(name, timeline_path, output))
    sample = measure(command)
    info = probe(output)
    load = os.getloadavg()[0]
    print(f"# {duration:g}s run {run + 1} {name}: wall {sample.wall:.1f}s cpu {sample.cpu:.1f}s "
          f"tree {sample.peak_tree_mb:.0f}MB; out {info.width}x{info.height} "
          f"{info.duration:.2f}s {info.frames} frames; load {load:.2f}", file=sys.stderr, flush=True)
    return {"run": run + 1, **vars(sample), "load_1min": load,
            "output": {"width": info.width, "height": info.height, "duration": info.duration,
                       "frames": info.frames}}


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


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs) if runs else 0.0


def _size(aspect: str, height: int) -> tuple[int, int]:
    aw, ah = ASPECTS[aspect]
    return round(height * aw / ah / 2) * 2, height


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--durations", type=float, nargs="+", default=[30, 60])
    parser.add_argument("--engines", nargs="+", default=["floor", "ffmpeg", "ttvd", "moviepy"])
    parser.add_argument("--once", nargs="*", default=["moviepy"],
                        help="engines run only in the first round (default: moviepy, the slow one)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--aspect", default="9:16", choices=list(ASPECTS))
    parser.add_argument("--height", type=int, default=1920)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--crf", type=int, default=23)
    parser.add_argument("--record", type=Path, default=RESULTS, metavar="FOLDER",
                        help="where the raw results go (default: bench/results/, scratch)")
    args = parser.parse_args()
    run = record.Run("bench", "render", "Render benchmark")
    results = run_matrix(args)
    report = (f"{args.aspect} {_size(args.aspect, args.height)[0]}x{args.height} {args.fps} fps, "
              f"libx264 {args.preset} CRF {args.crf}; medians of the runs\n\n{table(results)}")
    print(report)
    print(f"raw results: {run.save(args.record, args, results, report)}", file=sys.stderr)


if __name__ == "__main__":
    main()
