"""Load on loopback: GET /status and GET /jobs under a steady request rate while states are being
rewritten. Bounded in count; asserts no errors and no torn JSON, and reports the figures (run with -s
to see them). Not a timed assertion: the machine is shared, and speed targets live in bench/."""
import http.client
import json
import statistics
import subprocess
import sys
import threading
import time

from bench.load import WRITER, check, make_states

from helpers import serve_on

RATE, SECONDS, CLIENTS = 200, 10, 8
def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


def test_status_and_jobs_under_200_requests_a_second_while_states_are_rewritten(start, spool, tmp_path):
    ids = make_states(spool.home.root, 1000)
    api = serve_on(start, spool.home.root, TTVD_RATE_LIMIT="0")
    stop = tmp_path / "stop-writing"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(spool.home.root), str(stop), *ids[:50]],
                              stdout=subprocess.PIPE, text=True)
    total = RATE * SECONDS
    latencies = {"status": [], "jobs": []}
    problems: list[str] = []
    lock = threading.Lock()
    started = time.monotonic()

    # Timeouts fail a server that stopped answering; generous (a listing of 1,000 jobs takes tens of
    # milliseconds), so a loaded machine is not mistaken for one.
    def client(first: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=60)
        for n in range(first, total, CLIENTS):
            delay = started + n / RATE - time.monotonic()  # request n is due at n/RATE seconds
            if delay > 0:
                time.sleep(delay)
            kind = "jobs" if n % 5 == 0 else "status"  # one in five lists every job
            path = "/api/v1/jobs" if kind == "jobs" else f"/api/v1/status/{ids[n % 100]}"
            sent = time.monotonic()
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                body = response.read()
                problem = check(path, response.status, body, 1000)
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=60)
                problem = f"{path}: {exc!r}"
            with lock:
                latencies[kind].append(time.monotonic() - sent)
                if problem:
                    problems.append(problem)
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join(600)  # a fail-later bound for a hung client, not a speed bound
        elapsed = time.monotonic() - started
        writing = writer.poll() is None  # still rewriting when the last answer came
    finally:
        stop.touch()
    rewrites = int(writer.communicate(timeout=60)[0])

    done = sum(len(v) for v in latencies.values())
    print(f"\nload: {done} requests in {elapsed:.1f} s ({done / elapsed:.0f}/s) against 1,000 jobs, "
          f"{rewrites} state rewrites meanwhile; errors {len(problems)}")
    for kind, values in latencies.items():
        print(f"  GET /{kind}: {len(values)} requests, p50 {percentile(values, 0.5):.1f} ms, "
              f"p99 {percentile(values, 0.99):.1f} ms, max {max(values) * 1000:.1f} ms")
    assert problems == [], problems[:5]
    assert not any(thread.is_alive() for thread in threads) and done == total
    assert writing and rewrites > 0  # the writer, started first, ran until every request was answered
    assert "Traceback" not in api.proc.output()


def test_jobs_listing_with_10000_jobs(start, spool):
    make_states(spool.home.root, 10000)
    # its first answer (cold: every state read) came in wait_for
    api = serve_on(start, spool.home.root, TTVD_RATE_LIMIT="0")
    cold = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=60)
    timings = []
    for n in range(10):
        if n == 5:  # change some states between requests: only those are read again
            for state in list(spool.states())[:100]:
                state.progress = 50
                spool.write_state(state)
        sent = time.monotonic()
        conn.request("GET", "/api/v1/jobs")
        response = conn.getresponse()
        body = response.read()
        timings.append(time.monotonic() - sent)
        assert response.status == 200 and len(json.loads(body)["jobs"]) == 10000
    sent = time.monotonic()
    conn.request("GET", "/api/v1/jobs?status=completed&limit=20")
    response = conn.getresponse()
    assert len(json.loads(response.read())["jobs"]) == 20
    filtered = time.monotonic() - sent
    conn.close()
    print(f"\nGET /jobs with 10,000 jobs ({len(body) / 1e6:.1f} MB): "
          f"median {statistics.median(timings) * 1000:.0f} ms, "
          f"max {max(timings) * 1000:.0f} ms over {len(timings)} requests (100 states rewritten midway); "
          f"?status=completed&limit=20 {filtered * 1000:.0f} ms; all in {time.monotonic() - cold:.1f} s")
