"""Render engines, chosen by name; each turns a Timeline into an MP4 and knows nothing else."""
from __future__ import annotations

import importlib
from collections.abc import Callable

from ttvd.errors import ConfigError

ENGINES = {"ffmpeg": "ttvd.render.ffmpeg", "moviepy": "ttvd.render.moviepy"}


def engine(name: str) -> Callable:
    """The ``render(timeline, output, workdir, on_progress, cancel)`` function of engine ``name``."""
    try:
        module = ENGINES[name]
    except KeyError:
        raise ConfigError(f"unknown render engine {name!r}; choose one of {', '.join(ENGINES)}") from None
    return importlib.import_module(module).render
