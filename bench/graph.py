"""Where the default render's CPU goes: the job's own filter graph into ``-f null``, against x264.

    .venv/bin/python -m bench.graph --duration 30 --runs 3 --record docs/results

The Timeline is the render benchmark's (bench/inputs.py) made into a job's as ``bench.child ttvd``
makes it (the sound mix, fade transitions, karaoke captions), and ffmpeg runs the very filter graph
the ffmpeg engine builds for it (``ttvd.render.ffmpeg.build_args``), video only:

- ``graph``: the whole graph, its frames thrown away by ``-f null`` (no encode);
- ``no captions``: the same graph with its libass filter replaced by ``null``;
- ``cuts``: the job with cuts instead of fades;
- ``footage generated``: each footage clip drawn as a generated background instead;
- ``graph + x264``: the whole graph encoded by libx264 at the job's preset and CRF, then discarded;
- ``testsrc2``: the floor's source alone, and ``testsrc2 + x264`` the floor's video encode.

So x264 on the job's frames costs ``graph + x264`` less ``graph``. CPU is user + system of the ffmpeg
process; the table shows medians, alternating the order from run to run.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import replace
from pathlib import Path

from bench import inputs, record
from bench.child import as_a_job
from bench.measure import measure
from ttvd.media import ffmpeg_exe
from ttvd.render import encoders
from ttvd.render import ffmpeg as engine
from ttvd.render.ass import write_ass
from ttvd.timeline import Clip, Timeline

FFMPEG = ["-hide_banner", "-loglevel", "error", "-nostdin"]
NULL = ["-f", "null", "-"]


def variants(job: Timeline, work: Path) -> dict[str, list[str]]:
    """Each contender's ffmpeg command, by name."""
    plain = _graph(job, work / "job.ass")
    x264 = encoders.args(encoders.SOFTWARE, job.encoder)
    source = ["-f", "lavfi", "-i", f"testsrc2=s={job.width}x{job.height}:r={job.fps}:d={job.duration:.6f}"]
    return {
        "graph": plain + NULL,
        "no captions": _graph(job, work / "job.ass", captions=False) + NULL,
        "cuts": _graph(replace(job, transition="none"), work / "cuts.ass") + NULL,
        "footage generated": _graph(replace(job, clips=[_generated(c, i) for i, c in enumerate(job.clips)]),
                                    work / "generated.ass") + NULL,
        "graph + x264": plain + [*x264, "-pix_fmt", "yuv420p", *NULL],
        "testsrc2": source + NULL,
        "testsrc2 + x264": source + [*x264, "-pix_fmt", "yuv420p", *NULL],
    }


def _graph(timeline: Timeline, ass: Path, captions: bool = True) -> list[str]:
    """The input side of the engine's own command for ``timeline``: its graph, mapped, video only."""
    write_ass(timeline, ass)
    if len(engine.chunks(timeline)) > 1:
        raise SystemExit(f"more than {engine.CHUNK_CLIPS} clips: the engine would render in runs; "
                         "choose a shorter --duration")
    args = engine.build_args(timeline, Path("unused.mp4"), str(ass))
    graph, length = args[args.index("-filter_complex") + 1], args[args.index("-t") + 1]
    if not captions:
        caption = engine.caption_filter(timeline, str(ass))
        assert graph.count(caption) == 1
        graph = graph.replace(caption, "null")
    return ["-filter_complex", graph, "-map", "[out]", "-an", "-t", length]


def _generated(clip: Clip, index: int) -> Clip:
    if clip.kind != "video":
        return clip
    return replace(clip, kind="generated", source=None, in_point=0.0,
                   params={"type": "radial", "colours": inputs.PALETTE, "speed": 0.45, "seed": 100 + index})


def run(commands: dict[str, list[str]], runs: int) -> dict[str, list[dict]]:
    samples: dict[str, list[dict]] = {name: [] for name in commands}
    for n in range(runs):
        order = list(commands) if n % 2 == 0 else list(reversed(commands))
        for name in order:
            sample = measure([ffmpeg_exe(), *FFMPEG, *commands[name]])
            samples[name].append({"run": n + 1, **vars(sample)})
            print(f"# run {n + 1} {name}: cpu {sample.cpu:.1f}s wall {sample.wall:.1f}s", file=sys.stderr,
                  flush=True)
    return samples


def table(samples: dict[str, list[dict]]) -> str:
    cpu = {name: statistics.median(s["cpu"] for s in runs) for name, runs in samples.items()}
    rows = ["| contender | runs | CPU s | wall s | CPU less `graph` |", "|---|---|---|---|---|"]
    for name, runs in samples.items():
        wall = statistics.median(s["wall"] for s in runs)
        rows.append(f"| {name} | {len(runs)} | {cpu[name]:.1f} | {wall:.1f} | {cpu[name] - cpu['graph']:+.1f} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.graph", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--height", type=int, default=1920)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--record", type=Path, default=record.SCRATCH, metavar="FOLDER",
                        help="where the raw results go (default: bench/results/, scratch)")
    args = parser.parse_args()
    started = record.Run("bench.graph", "graph", "Where the default render's CPU goes")
    width = round(args.height * 9 / 16 / 2) * 2
    timeline = inputs.timeline(record.SCRATCH / "cache", args.duration, width, args.height, args.fps)
    work = record.SCRATCH / f"graph_{args.duration:g}s"  # kept, so the recorded commands can be run again
    work.mkdir(parents=True, exist_ok=True)
    job = as_a_job(timeline, work)
    commands = variants(job, work)
    samples = run(commands, args.runs)
    report = (f"The {args.duration:g} s job ({job.duration:.2f} s with its lead-in and tail, {len(job.clips)} clips: "
              f"{', '.join(c.kind for c in job.clips)}) at {width}x{args.height} {args.fps} fps, "
              f"libx264 {job.encoder['preset']} CRF {job.encoder['crf']}; medians of the runs\n\n{table(samples)}")
    print(report)
    clips = [{"kind": c.kind, "start": c.start, "end": c.end} for c in job.clips]
    results = {"job": {"duration": job.duration, "clips": clips, "captions": len(job.captions)},
               "commands": commands, "samples": samples}
    print(f"raw results: {started.save(args.record, args, results, report)}", file=sys.stderr)


if __name__ == "__main__":
    main()
