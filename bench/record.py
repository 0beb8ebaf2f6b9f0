"""The raw results of one benchmark run, kept as two small files the docs can cite.

``<date>-<name>.json`` holds everything (the command, when, the machine, the ttvd commit, the load
average, the arguments, every sample, the table) and ``<date>-<name>.md`` the same description and the
table as the command printed it. ``make bench`` writes them to docs/results/; by default they go to
bench/results/, which is scratch (git-ignored).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ttvd.media import ffmpeg_exe

REPO = Path(__file__).resolve().parent.parent
SCRATCH = REPO / "bench" / "results"


class Run:
    """One run of the benchmark ``module``, timed from its creation; ``save`` writes its files."""

    def __init__(self, module: str, name: str, title: str) -> None:
        self.name, self.title = name, title
        self.command = shlex.join(["python", "-m", module, *sys.argv[1:]])
        self.started = time.time()
        self.load_at_start = _load_average()
        self.commit = commit()

    def save(self, folder: Path, args: argparse.Namespace, results: Any, table: str) -> Path:
        """Write ``<date>-<name>.json`` and ``.md`` into ``folder`` (never over an earlier run); the .md path."""
        record = {"command": self.command, "started": _iso(self.started), "finished": _iso(time.time()),
                  "commit": self.commit, "commit_at_end": commit(), "machine": machine(),
                  "load_average": {"start": self.load_at_start, "end": _load_average()},
                  "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                  "results": results, "table": table}
        stem = _free_stem(folder, f"{time.strftime('%Y-%m-%d', time.localtime(self.started))}-{self.name}")
        (folder / f"{stem}.json").write_text(_dumps(record) + "\n")
        path = folder / f"{stem}.md"
        path.write_text(self._markdown(record, stem))
        return path

    def _markdown(self, record: dict[str, Any], stem: str) -> str:
        moved = record["commit_at_end"] != record["commit"]
        lines = [f"# {self.title}", "",
                 f"- command: `{record['command']}`",
                 f"- run: {record['started']} to {record['finished']}, ttvd commit {record['commit']}"
                 + (f" (at the end: {record['commit_at_end']})" if moved else ""),
                 f"- machine: {describe(record['machine'])}",
                 f"- load average (1, 5, 15 min): {_load(record['load_average']['start'])} at the start, "
                 f"{_load(record['load_average']['end'])} at the end",
                 f"- every sample: [{stem}.json]({stem}.json)", "", record["table"], ""]
        return "\n".join(lines)


def machine() -> dict[str, Any]:
    """Cores, CPU model, memory, kernel, Python and ffmpeg of this machine."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    ffmpeg = subprocess.run([ffmpeg_exe(), "-version"], capture_output=True, text=True).stdout.split()[2]
    return {"cores": os.cpu_count(), "cpu": cpu, "memory_gb": round(memory, 1),
            "kernel": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
            "ffmpeg": ffmpeg}


def describe(host: dict[str, Any]) -> str:
    """``machine()`` as one line of prose."""
    return (f"{host['cores']} cores ({host['cpu']}), {host['memory_gb']:.0f} GB RAM, {host['kernel']}, "
            f"Python {host['python']}, ffmpeg {host['ffmpeg']}")


def commit() -> str:
    """The ttvd commit measured, with ``+dirty`` when tracked files differ from it."""
    head = _git("rev-parse", "HEAD") or "unknown"
    return head + ("+dirty" if _git("status", "--porcelain", "--untracked-files=no") else "")


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def _free_stem(folder: Path, stem: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    taken = {path.stem for path in folder.iterdir()}
    n = 2
    candidate = stem
    while candidate in taken:
        candidate, n = f"{stem}-{n}", n + 1
    return candidate


def _dumps(data: Any) -> str:
    """Indented JSON with each list of numbers on one line: samples stay readable and the file small."""
    text = json.dumps(data, indent=1)
    return _NUMBERS.sub(lambda m: "[" + " ".join(m.group(1).split()) + "]", text)


_NUMBERS = re.compile(r"\[\s*((?:-?[\d.eE+-]+,?\s*)+)\]")


def _load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(seconds))


def _load(values: list[float]) -> str:
    return " / ".join(f"{v:.2f}" for v in values)
