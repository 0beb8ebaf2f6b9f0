"""Stand-in OpenAI and Pexels servers, run as real processes on 127.0.0.1 (see each server's module)."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).parent
OPENAI_KEY = "sk-standin-openai-0123456789abcdefSECRET"
PEXELS_KEY = "standinPexelsKey0123456789abcdefghijklmnopqrstuvwxSECRET"
TOPICS = "ocean,beach,forest,city,desert,mountain"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StandIn:
    """One stand-in server process; ``url`` is its base, ``faults()`` scripts errors, ``log()`` reads requests."""

    def __init__(self, script: str, args: list[str], log_file: Path, ready_timeout: float = 60) -> None:
        self.port = _free_port()
        self.root = f"http://127.0.0.1:{self.port}"
        self._out = open(log_file, "ab")
        self.process = subprocess.Popen([sys.executable, str(HERE / script), str(self.port), *args],
                                        stdout=self._out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{script} exited: {log_file.read_text()[-2000:]}")
            try:
                self.log()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{script} did not start")

    def _call(self, path: str, payload=None) -> dict:
        data = None if payload is None else json.dumps(payload).encode()
        with urllib.request.urlopen(urllib.request.Request(self.root + path, data=data), timeout=5) as resp:
            return json.loads(resp.read())

    def faults(self, **routes) -> None:
        """E.g. ``faults(search={"status": 429, "times": 2, "retry_after": "0"})``."""
        self._call("/_standin/faults", routes)

    def echo(self, header: bool = True, redirect: bool = True) -> None:
        """Echo the presented key in a response header and in the query string of a first redirect."""
        self._call("/_standin/echo", {"header": header, "redirect": redirect})

    def log(self) -> dict:
        return self._call("/_standin/log")

    def requests(self, route: str) -> list[dict]:
        return [r for r in self.log()["requests"] if r["route"] == route]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._out.close()


def start_openai(tmp: Path, invalid: int = 0, key: str = OPENAI_KEY) -> StandIn:
    server = StandIn("openai_server.py", [key, "--invalid", str(invalid), "--topics", TOPICS],
                     tmp / "openai-standin.log")
    server.url = server.root + "/v1"
    return server


def start_pexels(tmp: Path, files_dir: Path, key: str = PEXELS_KEY) -> StandIn:
    server = StandIn("pexels_server.py", [key, str(files_dir)], tmp / "pexels-standin.log", ready_timeout=120)
    server.url = server.root
    return server
