"""The Dockerfile and compose.yaml, read statically (they are not built here, see docs/container.md):
a non-root user, a health check on the API, the API by default, one home shared by both services,
the API published on loopback only."""
from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).parent.parent


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    found = []
    for line in joined.splitlines():
        if line.strip():
            name, _, rest = line.strip().partition(" ")
            found.append((name.upper(), rest.strip()))
    return found


def last(name: str) -> str:
    values = [rest for instruction, rest in instructions() if instruction == name]
    assert values, f"no {name} in the Dockerfile"
    return values[-1]


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))


def test_the_image_is_python_311_slim_and_installs_ttvd_from_the_source():
    assert instructions()[0] == ("FROM", "python:3.11-slim")
    assert any(name == "COPY" and rest.startswith(". ") for name, rest in instructions())
    assert any(name == "RUN" and "pip install" in rest for name, rest in instructions())


def test_the_image_runs_as_a_user_that_is_not_root():
    user = last("USER")
    assert user.split(":")[0] not in ("root", "0")
    entrypoint_at = max(i for i, (name, _) in enumerate(instructions()) if name in ("CMD", "ENTRYPOINT"))
    user_at = max(i for i, (name, _) in enumerate(instructions()) if name == "USER")
    assert user_at < entrypoint_at


def test_the_home_is_a_volume_and_the_default_command_is_the_api_with_a_health_check():
    volumes = json.loads(last("VOLUME"))
    home = [rest for name, rest in instructions() if name == "ENV" and "TTVD_HOME=" in rest]
    assert home and re.search(r"TTVD_HOME=(\S+)", home[0]).group(1) in volumes
    assert json.loads(last("CMD"))[:2] == ["ttvd", "serve"]
    health = last("HEALTHCHECK")
    assert "/api/v1/health" in health and "CMD" in health


def test_compose_runs_the_api_and_the_daemon_on_one_home_volume():
    services = compose()["services"]
    assert services["api"]["command"][:2] == ["ttvd", "serve"]
    assert services["daemon"]["command"] == ["ttvd", "daemon"]
    mounts = {name: set(service["volumes"]) for name, service in services.items()}
    home = mounts["api"] & mounts["daemon"]
    assert home, mounts
    volume = next(iter(home)).split(":")[0]
    assert volume in compose()["volumes"]  # a named volume, declared once


def test_compose_publishes_the_api_on_loopback_only():
    services = compose()["services"]
    assert services["api"]["ports"] == ["127.0.0.1:5000:5000"]
    assert "ports" not in services["daemon"]


def test_the_build_context_keeps_what_the_install_needs():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".git", ".venv"} <= ignored
    assert not {"ttvd", "setup.cfg", "pyproject.toml", "README.md", "systemd"} & ignored  # setup.cfg reads them
