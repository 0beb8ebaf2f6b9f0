"""``ttvd install-systemd``: copy the shipped unit files into place, pointed at this installation.

The units in ``systemd/`` name ``/opt/ttvd/venv/bin/ttvd``; installing rewrites that to the ``ttvd``
next to the running Python, so the installed units run exactly this installation. The environment
file is created from the example only when missing: it holds the operator's settings and keys.
"""
from __future__ import annotations

import os
import pwd
import sys
from dataclasses import dataclass
from pathlib import Path

import ttvd
from ttvd.errors import InputError

UNITS = ("ttvd-daemon.service", "ttvd-daemon@.service", "ttvd-api.service", "ttvd.target")
TEMPLATE = "ttvd-daemon@.service"  # made from ttvd-daemon.service by template_unit(); make docs writes it
TEMPLATE_HEADER = """\
# ttvd daemon, as a template for several daemons on one big server: each instance is one more process
# claiming jobs from the same home (claims are renames, so no two run the same job). Generated from
# ttvd-daemon.service by `make docs`; edit that file, not this one.
#
#   systemctl enable --now ttvd-daemon@1 ttvd-daemon@2    two more daemons, now and at boot
#   journalctl -u 'ttvd-daemon@*' -f                     their logs (identifier ttvd-daemon-<n>)
#
# One daemon can also run several jobs at once itself: TTVD_WORKERS in the settings file.

"""
ENV_EXAMPLE = "ttvd.env.example"
SHIPPED_EXEC = "/opt/ttvd/venv/bin/ttvd"
SHIPPED_ENV_FILE = "/etc/ttvd/ttvd.env"


def find_units() -> Path:
    """The directory holding the shipped units: installed data files, else the source checkout."""
    candidates = (Path(sys.prefix) / "share" / "ttvd" / "systemd",
                  Path(ttvd.__file__).resolve().parent.parent / "systemd")
    for directory in candidates:
        if all((directory / name).is_file() for name in UNITS):
            return directory
    raise InputError("the systemd unit files were not found; pass --units DIR (the systemd/ folder of the source)")


def this_ttvd() -> Path:
    """The ``ttvd`` script of the running installation."""
    return Path(sys.executable).parent / "ttvd"


def render_unit(text: str, exe: str, env_file: str) -> str:
    """The shipped unit text, pointed at ``exe`` and ``env_file``."""
    return text.replace(SHIPPED_EXEC, exe).replace(f"EnvironmentFile={SHIPPED_ENV_FILE}",
                                                    f"EnvironmentFile={env_file}")


def template_unit(text: str) -> str:
    """The template unit ``ttvd-daemon@.service`` made from the text of ``ttvd-daemon.service``."""
    body = text[text.index("[Unit]"):]
    for old, new in (("Description=ttvd text-to-video daemon ", "Description=ttvd text-to-video daemon %i "),
                     ("SyslogIdentifier=ttvd-daemon\n", "SyslogIdentifier=ttvd-daemon-%i\n")):
        if old not in body:
            raise ValueError(f"ttvd-daemon.service no longer has {old.strip()!r}")
        body = body.replace(old, new)
    return TEMPLATE_HEADER + body


@dataclass
class Plan:
    units: Path
    dest: Path
    env_file: Path
    exe: Path

    def steps(self) -> list[str]:
        lines = [f"install {self.units / name} -> {self.dest / name}" for name in UNITS]
        if self.env_file.exists():
            lines.append(f"keep {self.env_file} (exists)")
        else:
            lines.append(f"install {self.units / ENV_EXAMPLE} -> {self.env_file} (mode 0600)")
        return lines

    def warnings(self) -> list[str]:
        found = []
        if not self.exe.is_file():
            found.append(f"{self.exe} does not exist: install ttvd into that virtual environment first")
        if str(self.exe).startswith(("/home/", "/root/", "/run/user/")):
            found.append(f"{self.exe} is under a home directory, which ProtectHome=yes hides from the "
                         "service: install ttvd under /opt (see the README)")
        try:
            pwd.getpwnam("ttvd")
        except KeyError:
            found.append("there is no user ttvd yet: useradd --system --user-group --home-dir /var/lib/ttvd "
                         "--shell /usr/sbin/nologin ttvd")
        if str(self.exe).startswith("/tmp/"):
            found.append(f"{self.exe} is under /tmp, which PrivateTmp=yes hides from the service")
        return found

    def apply(self) -> None:
        self.dest.mkdir(parents=True, exist_ok=True)
        for name in UNITS:
            text = render_unit((self.units / name).read_text(), str(self.exe), str(self.env_file))
            _write(self.dest / name, text, 0o644)
        if not self.env_file.exists():
            self.env_file.parent.mkdir(parents=True, exist_ok=True)
            # systemd reads it as root before dropping privileges: the service user needs no access.
            _write(self.env_file, (self.units / ENV_EXAMPLE).read_text(), 0o600)


def _write(path: Path, text: str, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)



if __name__ == "__main__":  # python -m ttvd.install --update-template systemd/  (make docs)
    if sys.argv[1:2] == ["--update-template"]:
        folder = Path(sys.argv[2])
        (folder / TEMPLATE).write_text(template_unit((folder / "ttvd-daemon.service").read_text()))
