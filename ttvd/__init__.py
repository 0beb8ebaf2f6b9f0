"""ttvd: a text-to-video daemon."""

__version__ = "0.1.0"
