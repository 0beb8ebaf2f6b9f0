"""Load on loopback: GET /status and GET /jobs at a steady request rate against 1,000 jobs while states
are rewritten, then the listing of 10,000 jobs (its first answer after a start, then the median).

    .venv/bin/python -m bench.load --record docs/results

The load of tests/faults/test_load.py, which asserts that no answer is an error or torn; this records
the figures. Each part has a fresh home of finished-looking states written straight to disk and its own
``ttvd serve`` on a free port of 127.0.0.1 (no rate limit). ``--rate`` requests a second for
``--seconds`` from ``--clients`` connections, 4 in 5 ``GET /api/v1/status/<id>`` and 1 in 5
``GET /api/v1/jobs``, while another process rewrites 50 of the states every 5 ms. Bounded: at most
rate x seconds requests, each with a timeout; nothing leaves the machine.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench import record
from ttvd.job import STAGES, JobState, JobStatus, new_id
from ttvd.spool import Spool

STATUS_KEYS = {"status", "progress", "message", "created_at", "logs"}
TIMEOUT = 60.0  # seconds one request may take before it counts as an error

# Rewrites states (argv: home, stop file, ids) until the stop file appears, at most 100,000 times, and
# prints how many it made. tests/faults/test_load.py runs it too.
WRITER = """
import sys, time
from pathlib import Path
from ttvd.spool import Spool
spool, stop, ids = Spool(Path(sys.argv[1])), Path(sys.argv[2]), sys.argv[3:]
count = 0
while not stop.exists() and count < 100000:
    state = spool.read_state(ids[count % len(ids)])
    state.progress = (state.progress + 1) % 100
    state.log("rewritten %d" % count)
    spool.write_state(state)
    count += 1
    time.sleep(0.005)
print(count)
"""


def make_states(home: Path, count: int) -> list[str]:
    """``count`` finished-looking jobs in a new home, written directly (setup, not measured)."""
    spool = Spool(home).ensure()
    ids = []
    for n in range(count):
        state = JobState(new_id(), status=JobStatus.COMPLETED, progress=100, created_at=1_700_000_000 + n,
                         message="Video generation completed", output_file="output/video_x.mp4")
        for stage in STAGES:
            state.log(stage.started)
            state.log(stage.finished)
        (spool.home.states / f"{state.job_id}.json").write_text(json.dumps(state.to_dict()))
        ids.append(state.job_id)
    return ids


class Server:
    """``ttvd serve`` on a free loopback port of ``home``, its output in ``home/serve.log``."""

    def __init__(self, home: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TTVD_", "OPENAI_", "PEXELS_"))}
        env.update(TTVD_HOME=str(home), TTVD_RATE_LIMIT="0", TTVD_LOG_LEVEL="WARNING")
        self.log = home / "serve.log"
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "ttvd", "serve", "--port", str(self.port)],
                                            env=env, stdout=out, stderr=subprocess.STDOUT)
        self._wait_until_up()

    def _wait_until_up(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.process.poll() is None:
            try:  # health reads no states: the listing's cache stays cold
                self.get("/api/v1/health", timeout=2)
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise SystemExit(f"ttvd serve did not answer within {seconds:g} s:\n{self.log.read_text()}")

    def connect(self, timeout: float = TIMEOUT) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def get(self, path: str, timeout: float = TIMEOUT) -> tuple[int, bytes, float]:
        """Status, body and seconds taken of one GET on a new connection."""
        conn = self.connect(timeout)
        try:
            return timed_get(conn, path)
        finally:
            conn.close()

    def stop(self) -> str:
        """Stop the server; its output."""
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return self.log.read_text(errors="replace")


def timed_get(conn: http.client.HTTPConnection, path: str) -> tuple[int, bytes, float]:
    sent = time.monotonic()
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    return response.status, body, time.monotonic() - sent


def check(path: str, status: int, body: bytes, jobs_on_disk: int) -> str | None:
    """None if the answer is whole and right; else what is wrong with it."""
    if status != 200:
        return f"{path}: HTTP {status}"
    try:
        data = json.loads(body)
    except ValueError:
        return f"{path}: torn JSON"
    if path.startswith("/api/v1/status/"):
        return None if STATUS_KEYS <= set(data) else f"{path}: keys {sorted(data)}"
    jobs = data.get("jobs", {})
    if len(jobs) < jobs_on_disk or any(not STATUS_KEYS <= set(v) for v in jobs.values()):
        return f"{path}: incomplete listing ({len(jobs)} jobs)"
    return None


def under_load(server: Server, home: Path, ids: list[str], rate: int, seconds: int, clients: int) -> dict:
    """Drive ``rate`` requests a second for ``seconds`` while states are rewritten; every latency, in ms."""
    stop = home / "stop-writing"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(home), str(stop), *ids[:50]],
                              stdout=subprocess.PIPE, text=True)
    total = rate * seconds
    latencies: dict[str, list[float]] = {"status": [], "jobs": []}
    sizes: dict[str, int] = {}
    problems: list[str] = []
    lock = threading.Lock()
    started = time.monotonic()

    def client(first: int) -> None:
        conn = server.connect(10)
        for n in range(first, total, clients):
            delay = started + n / rate - time.monotonic()  # request n is due at n/rate seconds
            if delay > 0:
                time.sleep(delay)
            kind = "jobs" if n % 5 == 0 else "status"  # one in five lists every job
            path = "/api/v1/jobs" if kind == "jobs" else f"/api/v1/status/{ids[n % 100]}"
            sent = time.monotonic()
            try:
                status, body, _ = timed_get(conn, path)
                problem = check(path, status, body, len(ids))
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = server.connect(10)
                status, body, problem = 0, b"", f"{path}: {exc!r}"
            with lock:
                latencies[kind].append(round((time.monotonic() - sent) * 1000, 2))
                sizes[kind] = max(sizes.get(kind, 0), len(body))
                if problem:
                    problems.append(problem)
        conn.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, started + seconds * 6 - time.monotonic()))
    elapsed = time.monotonic() - started
    stop.touch()  # the states were rewritten until the last answer
    if any(thread.is_alive() for thread in threads):
        problems.append(f"clients still waiting after {elapsed:.0f} s")
    rewrites = int(writer.communicate(timeout=30)[0] or 0)
    done = sum(len(v) for v in latencies.values())
    return {"requests": done, "planned": total, "seconds": round(elapsed, 2), "rate": round(done / elapsed, 1),
            "clients": clients, "rewrites": rewrites, "problems": problems[:20], "errors": len(problems),
            "bytes": sizes, "latency_ms": latencies}


def listing(server: Server, home: Path, jobs: int, repeats: int, rewrite_midway: int) -> dict:
    """The first ``GET /jobs`` after the start, then ``repeats`` more (``rewrite_midway`` states changed
    halfway: only those are read again) and one filtered page; every time in ms."""
    status, body, cold = server.get("/api/v1/jobs")
    problems = [p for p in [check("/api/v1/jobs", status, body, jobs)] if p]
    conn = server.connect()
    timings = []
    for n in range(repeats):
        if n == repeats // 2 and rewrite_midway:
            spool = Spool(home)
            for state in list(spool.states())[:rewrite_midway]:
                state.progress = 50
                spool.write_state(state)
        status, body, took = timed_get(conn, "/api/v1/jobs")
        timings.append(round(took * 1000, 2))
        problems += [p for p in [check("/api/v1/jobs", status, body, jobs)] if p]
    status, page, filtered = timed_get(conn, "/api/v1/jobs?status=completed&limit=20")
    conn.close()
    if status != 200 or len(json.loads(page)["jobs"]) != 20:
        problems.append(f"filtered page: HTTP {status}")
    return {"jobs": jobs, "bytes": len(body), "first_after_start_ms": round(cold * 1000, 2),
            "then_ms": timings, "rewritten_midway": rewrite_midway,
            "filtered_ms": round(filtered * 1000, 2), "errors": len(problems), "problems": problems}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure_all(args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    home = scratch / "thousand"
    ids = make_states(home, args.jobs)
    server = Server(home)
    try:
        results["first"] = listing(server, home, args.jobs, args.repeats, 0)
        print(f"# {args.jobs} jobs listed one at a time", file=sys.stderr, flush=True)
        results["load"] = under_load(server, home, ids, args.rate, args.seconds, args.clients)
        print(f"# load: {results['load']['requests']} requests, {results['load']['errors']} errors",
              file=sys.stderr, flush=True)
    finally:
        results["load_server_traceback"] = "Traceback" in server.stop()
    home = scratch / "many"
    make_states(home, args.many)
    server = Server(home)
    try:
        results["many"] = listing(server, home, args.many, args.repeats, 100)
    finally:
        results["many_server_traceback"] = "Traceback" in server.stop()
    return results


def table(results: dict[str, Any]) -> str:
    load, first, many = results["load"], results["first"], results["many"]
    rows = ["| measure | figure |", "|---|---|",
            f"| load | {load['requests']} of {load['planned']} requests in {load['seconds']:.1f} s "
            f"({load['rate']:.0f}/s) over {load['clients']} connections against {first['jobs']:,} jobs, "
            f"{load['rewrites']} state rewrites meanwhile |",
            f"| errors and torn answers under load | {load['errors']} |"]
    for kind in ("status", "jobs"):
        values = load["latency_ms"][kind]
        rows.append(f"| `GET /{kind}` under load ({len(values)} requests, {_size(load['bytes'][kind])}) | "
                    f"p50 {percentile(values, 0.5):.1f} ms, p99 {percentile(values, 0.99):.1f} ms, "
                    f"max {max(values):.1f} ms |")
    for part in (first, many):
        rows += [f"| `GET /jobs` with {part['jobs']:,} jobs ({_size(part['bytes'])}), first after a start | "
                 f"{part['first_after_start_ms']:.0f} ms |",
                 f"| then, one at a time ({len(part['then_ms'])} requests"
                 + (f", {part['rewritten_midway']} states rewritten midway" if part["rewritten_midway"] else "")
                 + f") | median {statistics.median(part['then_ms']):.1f} ms, max {max(part['then_ms']):.1f} ms |",
                 f"| `GET /jobs?status=completed&limit=20` with {part['jobs']:,} jobs | "
                 f"{part['filtered_ms']:.1f} ms |"]
    return "\n".join(rows)


def _size(count: int) -> str:
    return f"{count / 1e6:.1f} MB" if count >= 1e6 else f"{count / 1e3:.0f} KB" if count >= 1e4 else f"{count} B"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1000, help="jobs on disk under load")
    parser.add_argument("--many", type=int, default=10000, help="jobs on disk for the large listing")
    parser.add_argument("--rate", type=int, default=200, help="requests a second")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--clients", type=int, default=8, help="connections sharing the rate")
    parser.add_argument("--repeats", type=int, default=10, help="listings after the first")
    parser.add_argument("--record", type=Path, default=record.SCRATCH, metavar="FOLDER",
                        help="where the raw results go (default: bench/results/, scratch)")
    args = parser.parse_args()
    if not (0 < args.rate <= 1000 and 0 < args.seconds <= 120 and 0 < args.many <= 100_000):
        parser.error("keep it bounded: --rate up to 1000, --seconds up to 120, --many up to 100000")
    run = record.Run("bench.load", "load", "Load on loopback")
    with tempfile.TemporaryDirectory(prefix="ttvd-bench-load-") as scratch:
        results = measure_all(args, Path(scratch))
    report = table(results)
    print(report)
    print(f"raw results: {run.save(args.record, args, results, report)}", file=sys.stderr)
    failed = results["load"]["errors"] + results["first"]["errors"] + results["many"]["errors"]
    if failed or results["load_server_traceback"] or results["many_server_traceback"]:
        raise SystemExit(f"{failed} errors (see the raw results); the figures above are not a clean run")


if __name__ == "__main__":
    main()
