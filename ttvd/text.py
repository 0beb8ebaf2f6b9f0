"""Checking submitted text: what every entry point (HTTP, CLI, watch folder) accepts as a story."""
from __future__ import annotations

import re

from ttvd.errors import InputError, NoText, TextTooLong

_SPOKEN = re.compile(r"\w")


def spoken(text: str) -> bool:
    """True when ``text`` holds something to say (a letter or a digit), not only punctuation."""
    return _SPOKEN.search(text) is not None


def clean_text(text: str, max_chars: int) -> str:
    """The text to narrate, stripped; InputError when it is blank, too long or has no words."""
    text = text.replace("\r\n", "\n").replace("\x00", "").strip()
    if not text:
        raise NoText("No text provided")
    if len(text) > max_chars:
        raise TextTooLong(f"Text is {len(text)} characters long; the limit is {max_chars}")
    if not spoken(text):
        raise InputError("Text has no words to narrate")
    return text


def decode_text(data: bytes, max_chars: int) -> str:
    """Text from a file's bytes: UTF-8 (a BOM is allowed); NUL bytes or other encodings are refused."""
    if not data.strip():
        raise NoText("the file is empty")
    if len(data) > max_chars * 4:
        raise TextTooLong(f"the file is {len(data)} bytes; the limit is {max_chars} characters")
    if b"\x00" in data:
        raise InputError("the file is binary, not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("the file is not UTF-8 text") from None
    return clean_text(text, max_chars)
