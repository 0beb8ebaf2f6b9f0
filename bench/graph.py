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

So x264 on the job's frames costs ``graph + x264`` less ``graph``. Then what the features the issue
asks for cost on their own, against the 10% of the floor that a render within 1.10x of it may add:

- ``footage decode``: the footage clips' frames decoded from the start of their file (a keyframe, so
  no frame is decoded only to be dropped), nothing else;
- ``captions`` less ``flat frames``: libass drawing the job's captions over flat frames;
- ``mix``: the sound stage (the voice measured and placed, the bed drawn, the ducked mix, loudness).

CPU is user + system of the ffmpeg processes; the tables show medians, alternating the order from
run to run.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
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
        "footage decode": _footage_frames(job) + NULL,
        "flat frames": _flat(job) + NULL,
        "captions": _flat(job, engine.caption_filter(job, str(work / "job.ass"))) + NULL,
    }


def _footage_frames(job: Timeline) -> list[str]:
    """Each footage clip's frames decoded from the start of its file, one chain per clip, concatenated."""
    footage = [(clip, frames) for clip, frames in engine.clip_frames(job) if clip.kind == "video"]
    if not footage:
        raise SystemExit("the job has no footage clip; choose a --duration of more than 10 s")
    chains = [f"movie=filename={engine.escape_filter_value(str(clip.source))}:dec_threads={engine.DECODER_THREADS},"
              f"trim=end_frame={frames},setpts=N[v{i}]" for i, (clip, frames) in enumerate(footage)]
    labels = "".join(f"[v{i}]" for i in range(len(footage)))
    return ["-filter_complex", ";".join(chains) + f";{labels}concat=n={len(footage)}:v=1:a=0[out]", "-map", "[out]"]


def _flat(job: Timeline, then: str = "null") -> list[str]:
    """Flat grey frames of the job's size, rate and length, through ``then``."""
    return ["-filter_complex", f"color=c=gray:s={job.width}x{job.height}:r={job.fps}:d={job.duration:.6f},"
            f"format=yuv420p,{then}[out]", "-map", "[out]"]


def mix_samples(timeline: Timeline, work: Path, runs: int) -> list[dict]:
    """The sound stage of the job, ``runs`` times: CPU of its ffmpeg processes and wall time."""
    samples = []
    for n in range(runs):
        before, started = _children_cpu(), time.perf_counter()
        as_a_job(timeline, work)
        sample = {"run": n + 1, "cpu": _children_cpu() - before, "wall": time.perf_counter() - started}
        samples.append(sample)
        print(f"# run {n + 1} mix: cpu {sample['cpu']:.1f}s wall {sample['wall']:.1f}s", file=sys.stderr, flush=True)
    return samples


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


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


ALONE = ("footage decode", "flat frames", "captions", "mix")  # the second table's rows


def table(samples: dict[str, list[dict]]) -> str:
    cpu = {name: statistics.median(s["cpu"] for s in runs) for name, runs in samples.items()}
    wall = {name: statistics.median(s["wall"] for s in runs) for name, runs in samples.items()}
    rows = ["| contender | runs | CPU s | wall s | CPU less `graph` |", "|---|---|---|---|---|"]
    for name, runs in samples.items():
        if name not in ALONE:
            rows.append(f"| {name} | {len(runs)} | {cpu[name]:.1f} | {wall[name]:.1f} | "
                        f"{cpu[name] - cpu['graph']:+.1f} |")
    budget = 0.10 * cpu["testsrc2 + x264"]
    alone = {"footage decode": cpu["footage decode"], "captions": cpu["captions"] - cpu["flat frames"],
             "mix": cpu["mix"]}
    rows += ["", f"What the features cost on their own, against the {budget:.1f} CPU s that 1.10x of the floor's "
             "video encode (`testsrc2 + x264`) leaves:", "",
             "| feature | runs | CPU s | share of the budget |", "|---|---|---|---|"]
    for name, value in alone.items():
        label = "captions less flat frames" if name == "captions" else name
        rows.append(f"| {label} | {len(samples[name])} | {value:.1f} | {value / budget:.0%} |")
    rows.append(f"| together | | {sum(alone.values()):.1f} | {sum(alone.values()) / budget:.0%} |")
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
    samples["mix"] = mix_samples(timeline, work, args.runs)
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
