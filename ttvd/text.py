"""Checking submitted text: what every entry point (HTTP, CLI, watch folder) accepts as a story.

A file's bytes are read by one predictable rule, most certain evidence first:

1. a byte order mark names the encoding (UTF-8, UTF-16 or UTF-32, either byte order);
2. bytes that are valid UTF-8 are UTF-8 (mostly valid UTF-8 is refused, not guessed);
3. a NUL in at least half of the odd (or even) bytes and in none of the others is UTF-16 without a mark;
4. any other NUL byte means binary data;
5. else charset-normalizer guesses among single-byte legacy encodings (cp1252 first among equal
   guesses), and a guess is taken only if the text it gives is readable.

Guessing comes last because it is unreliable on short texts; it is limited to single-byte encodings
because a few accented bytes can pass for Chinese or Japanese. What is refused says what was found
and how to convert the file.
"""
from __future__ import annotations

import codecs
import logging
import re
import shlex
import unicodedata
from pathlib import PurePath

from ttvd.errors import InputError, NoText, TextTooLong

log = logging.getLogger(__name__)

_SPOKEN = re.compile(r"\w")
_BOMS = (  # UTF-32 first: its little-endian mark begins with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# The legacy encodings a guess may choose: the Windows code pages, ISO 8859 and KOI8 of European
# languages. cp1252 (Western European, a superset of latin-1's printable characters) wins a tie.
LEGACY = ("cp1252", "cp1250", "cp1251", "cp1253", "cp1254", "cp1257", "iso8859_2", "iso8859_5",
          "iso8859_7", "iso8859_15", "koi8_r", "koi8_u", "mac_roman")
MIN_READABLE = 0.98  # share of a guessed text's characters that must be readable (not control codes)
_WHITESPACE_CONTROLS = "\t\n\v\f\r"
_BINARY_BYTES = bytes(b for b in range(256) if b < 0x20 and chr(b) not in _WHITESPACE_CONTROLS + "\x1a\x1b")
_MAGIC = ((b"%PDF", "a PDF document"), (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
          (b"GIF8", "a GIF image"), (b"PK\x03\x04", "a ZIP archive: a .docx or .odt document?"))
_ICONV_NAMES = {"mac-roman": "MACINTOSH", "iso2022_jp": "ISO-2022-JP"}
_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_SAVE_AS_TEXT = "save the story as plain text (UTF-8) and try again"
_FIX_MIXED = "correct those characters in an editor, or drop them: iconv -f UTF-8 -t UTF-8 -c {file} > {out}"


class DecodedText(str):
    """A story read from a file: a ``str`` everywhere, that also remembers the encoding it was read in.

    The daemon gives the watch folder a validator that returns a ``str``; the encoding rides along on
    it, so the job's logs can say "read story.txt as cp1252".
    """

    encoding: str = "utf-8"

    def __new__(cls, text: str, encoding: str = "utf-8") -> DecodedText:
        self = super().__new__(cls, text)
        self.encoding = encoding  # kept in __dict__, so copies (dataclasses.asdict) keep it too
        return self


class NotText(InputError):
    """Bytes that are no text ttvd can read; the message says what was found and how to fix it."""

    def __init__(self, found: str, fix: str, name: str | None = None) -> None:
        self.found, self.fix, self.name = found, fix, name
        path = PurePath(name) if name else PurePath("FILE")
        converted = path.with_name(f"{path.stem}.utf8.txt")
        hint = fix.format(file=shlex.quote(str(path)), out=shlex.quote(str(converted)))
        super().__init__(f"{name}: {found}; {hint}" if name else f"{found}; {hint}")

    def named(self, name: str) -> NotText:
        """The same refusal naming the file, for a caller that knows a name the decoder did not."""
        return NotText(self.found, self.fix, name)


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


def decode_text(data: bytes, max_chars: int, name: str | None = None) -> DecodedText:
    """The story in a file's bytes, read by the rule above; InputError (naming ``name``) when there is none.

    With ``name``, an encoding other than UTF-8 is also logged ("read story.txt as cp1252").
    """
    prefix = f"{name}: " if name else ""
    if not data.strip():
        raise NoText(f"{prefix}the file is empty")
    if len(data) > max_chars * 4 + len(codecs.BOM_UTF32):
        raise TextTooLong(f"{prefix}the file is {len(data)} bytes; the limit is {max_chars} characters")
    try:
        text, encoding = _decode(data)
    except NotText as exc:
        raise exc.named(name) if name else exc from None
    if name and encoding != "utf-8":
        log.info("read %s as %s", name, encoding)
    return DecodedText(clean_text(text, max_chars), encoding)


def _decode(data: bytes) -> tuple[str, str]:
    """(text, encoding name) by the rule of the module's docstring; NotText when no rule fits."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(encoding), encoding
            except UnicodeDecodeError:
                raise NotText(f"the file starts with a {encoding.upper()} byte order mark but is not "
                              f"{encoding.upper()} text", _SAVE_AS_TEXT) from None
    if b"\x00" not in data:
        try:
            return data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError as exc:
            if _mostly_utf8(data):
                line = data.count(b"\n", 0, exc.start) + 1
                raise NotText(f"the file is UTF-8 text with bytes of another encoding mixed in (the first on line "
                              f"{line})", _FIX_MIXED) from None
            return _legacy(data)
    found = _utf16_without_bom(data)
    if found is None:
        raise NotText(_binary(data), _SAVE_AS_TEXT)
    return found


def _mostly_utf8(data: bytes) -> bool:
    """True when UTF-8 sequences outnumber the bytes that break UTF-8 (a legacy text has few of them)."""
    return len(_UTF8_SEQUENCE.findall(data)) > data.decode("utf-8", "replace").count("\ufffd")


def _utf16_without_bom(data: bytes) -> tuple[str, str] | None:
    """UTF-16 text told by its NUL pattern (Latin text has a NUL high byte in most characters)."""
    if len(data) % 2:
        return None
    even, odd = data[0::2], data[1::2]
    for high, low, encoding in ((odd, even, "utf-16-le"), (even, odd, "utf-16-be")):
        if high.count(0) * 2 >= len(high) and low.count(0) == 0:
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError:
                return None
            return (text, encoding) if _readable(text) else None
    return None


def _legacy(data: bytes) -> tuple[str, str]:
    """The text in the first readable legacy guess; NotText (binary, or no fit) when there is none."""
    for encoding in _legacy_guesses(data):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if _readable(text):
            return text, codecs.lookup(encoding).name
    if _binary_share(data) > 1 - MIN_READABLE:
        raise NotText(_binary(data), _SAVE_AS_TEXT)
    guess = _any_guess(data)
    closest = f" (closest guess: {guess})" if guess else ""
    fix = f"convert it to UTF-8 first, e.g. iconv -f {_iconv_name(guess)} -t UTF-8 {{file}} > {{out}}"
    if not guess:
        fix += " (with its real encoding; `iconv -l` lists them)"
    raise NotText(f"no text encoding fits the file{closest}", fix)


def _legacy_guesses(data: bytes) -> list[str]:
    """charset-normalizer's single-byte guesses, best first, cp1252 first among the best."""
    # Imported here: only a file that is not UTF-8 needs it, and it costs every CLI start otherwise.
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data, cp_isolation=list(LEGACY)))
    if not matches:
        return []
    guesses = [match.encoding for match in matches]
    least = min(match.chaos for match in matches)
    if any("cp1252" in match.could_be_from_charset for match in matches if match.chaos == least):
        guesses.insert(0, "cp1252")
    return guesses


def _any_guess(data: bytes) -> str | None:
    """charset-normalizer's best guess among every encoding it knows, for the hint of a refusal."""
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None or best.encoding.startswith("utf"):
        return None
    return codecs.lookup(best.encoding).name


def _readable(text: str) -> bool:
    """True when nearly every character is text: no control codes, unassigned or private characters."""
    unreadable = sum(1 for ch in text if ch not in _WHITESPACE_CONTROLS
                     and unicodedata.category(ch) in ("Cc", "Cn", "Co", "Cs"))
    return unreadable <= (1 - MIN_READABLE) * len(text)


def _binary(data: bytes) -> str:
    kind = next((f" ({what})" for magic, what in _MAGIC if data.startswith(magic)), "")
    return f"the file looks like binary data{kind}, not text"


def _binary_share(data: bytes) -> float:
    """The share of bytes that are control codes no text file holds."""
    return (len(data) - len(data.translate(None, _BINARY_BYTES))) / len(data)


def _iconv_name(encoding: str | None) -> str:
    """``encoding`` as iconv spells it (``cp1252`` -> ``CP1252``), or a placeholder."""
    if encoding is None:
        return "ENCODING"
    return _ICONV_NAMES.get(encoding, encoding.upper().replace("_", "-"))
