"""Deliberate faults for the fault suite (tests/faults/): never set in production.

``TTVD_FAULTS`` is a comma-separated list of faults, for example ``enospc:write,enospc:fsync``:

- ``enospc:write``, ``enospc:fsync``, ``enospc:replace``: a durable write (``ttvd.atomic``) fails
  with ``ENOSPC`` at that step, as a full disk makes it fail;
- ``watch:deaf``: the file watcher drops every event (as after an inotify queue overflow);
- ``watch:die``: the file watcher's thread dies at its first event.

With ``TTVD_FAULTS_WHILE=PATH`` the faults act only while ``PATH`` exists, so a test can switch them
on and off in a running process. Unset, each check is one environment lookup.
"""
from __future__ import annotations

import errno
import os


def active(fault: str) -> bool:
    """True when ``fault`` is injected right now."""
    faults = os.environ.get("TTVD_FAULTS")
    if not faults or fault not in faults.split(","):
        return False
    flag = os.environ.get("TTVD_FAULTS_WHILE")
    return not flag or os.path.exists(flag)


def enospc(step: str) -> None:
    """Raise the ``OSError`` a full disk raises, when ``enospc:<step>`` is injected."""
    if active(f"enospc:{step}"):
        raise OSError(errno.ENOSPC, f"No space left on device (injected at {step})")
