"""What the speech engine reads: numbers, units and abbreviations written out as a person says them.

Only the engine's text changes; captions keep the text as typed. ``normalise`` returns the spoken
text with a map from each of its characters back to the source text, so the engine's word events
still land on the words the user wrote ("1,250 km" is read "one thousand two hundred and fifty
kilometres", and its events fall on "1,250" and on "km"). English is written out in full; other
languages keep their text, which their own voices read by their own rules.
"""
from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass

from num2words import num2words


@dataclass(frozen=True)
class Spoken:
    """The engine's text, and where each of its characters came from in the source text."""

    text: str
    starts: tuple[int, ...]     # where each piece of ``text`` starts
    sources: tuple[int, ...]    # where that piece starts in the source
    verbatim: tuple[bool, ...]  # copied as typed (else written out: all of it maps to its source start)

    def source_position(self, position: int) -> int:
        """The source position of the spoken text's character at ``position``."""
        index = max(0, bisect.bisect_right(self.starts, position) - 1)
        if not self.starts:
            return position
        offset = position - self.starts[index] if self.verbatim[index] else 0
        return self.sources[index] + offset


Piece = tuple[str, int]  # words to say, and the source position they stand for


def normalise(text: str, language: str = "en") -> Spoken:
    """``text`` as the engine should read it in ``language`` (a tag such as ``en``, ``en-gb``, ``fr``)."""
    if language.split("-")[0] != "en":
        return Spoken(text, (0,), (0,), (True,))
    parts: list[str] = []
    starts: list[int] = []
    sources: list[int] = []
    verbatim: list[bool] = []
    length = 0

    def add(words: str, source: int, copied: bool) -> None:
        nonlocal length
        if words:
            parts.append(words)
            starts.append(length)
            sources.append(source)
            verbatim.append(copied)
            length += len(words)

    done = 0
    for match in _ENGLISH.finditer(text):
        try:
            pieces = _HANDLERS[match.lastgroup or ""](match)
        except OverflowError:  # a number too long to say as one: the engine reads its digits
            continue
        if pieces is None:
            continue
        add(text[done:match.start()], done, True)
        for words, source in pieces:
            add(words, source, False)
        done = match.end()
    add(text[done:], done, True)
    return Spoken("".join(parts), tuple(starts), tuple(sources), tuple(verbatim))


# -- English --------------------------------------------------------------------------------------

_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
MAX_DIGITS = 15  # up to hundreds of trillions; a longer number is read digit by digit, as a person would
_UNITS: dict[str, tuple[str, str]] = {
    "km/h": ("kilometre per hour", "kilometres per hour"), "kph": ("kilometre per hour", "kilometres per hour"),
    "mph": ("mile per hour", "miles per hour"), "km": ("kilometre", "kilometres"), "cm": ("centimetre", "centimetres"),
    "mm": ("millimetre", "millimetres"), "m": ("metre", "metres"), "mi": ("mile", "miles"), "ft": ("foot", "feet"),
    "kg": ("kilogram", "kilograms"), "mg": ("milligram", "milligrams"), "g": ("gram", "grams"),
    "lbs": ("pound", "pounds"), "lb": ("pound", "pounds"), "oz": ("ounce", "ounces"),
    "ml": ("millilitre", "millilitres"), "mL": ("millilitre", "millilitres"), "l": ("litre", "litres"),
    "L": ("litre", "litres"), "°C": ("degree Celsius", "degrees Celsius"),
    "°F": ("degree Fahrenheit", "degrees Fahrenheit"), "°": ("degree", "degrees"), "%": ("percent", "percent"),
    "hrs": ("hour", "hours"), "hr": ("hour", "hours"), "h": ("hour", "hours"), "min": ("minute", "minutes"),
    "sec": ("second", "seconds"), "ms": ("millisecond", "milliseconds"), "kWh": ("kilowatt hour", "kilowatt hours"),
    "kW": ("kilowatt", "kilowatts"), "TB": ("terabyte", "terabytes"),
    "GB": ("gigabyte", "gigabytes"), "MB": ("megabyte", "megabytes"), "kB": ("kilobyte", "kilobytes"),
    "KB": ("kilobyte", "kilobytes"), "GHz": ("gigahertz", "gigahertz"), "MHz": ("megahertz", "megahertz"),
    "kHz": ("kilohertz", "kilohertz"), "Hz": ("hertz", "hertz"),
}
_UNIT = "|".join(re.escape(unit) for unit in sorted(_UNITS, key=len, reverse=True))
_CURRENCIES: dict[str, tuple[str, str, str, str]] = {
    "$": ("dollar", "dollars", "cent", "cents"), "€": ("euro", "euros", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"), "¥": ("yen", "yen", "sen", "sen"),
}
_SCALES = {"k": "thousand", "thousand": "thousand", "m": "million", "million": "million", "bn": "billion",
           "billion": "billion", "trillion": "trillion"}
# Titles stand before a name; the others may end a sentence, and keep its full stop when they do.
_TITLES = {"Dr": "Doctor", "Mr": "Mister", "Mrs": "Missus", "Ms": "Miz", "Prof": "Professor", "Mt": "Mount"}
_ABBREVIATIONS = {"Jr": "Junior", "Sr": "Senior", "vs": "versus", "etc": "et cetera", "approx": "approximately",
                  "e.g": "for example", "i.e": "that is"}

_ENGLISH = re.compile(rf"""
    (?P<currency>(?<![\w.,])[$€£¥]\s?(?:{_NUMBER})(?:\s?(?:thousand|million|billion|trillion|bn|k|m)\b)?)
  | (?P<time>(?<![\w.,:])(?:[01]?\d|2[0-4]):[0-5]\d(?:\s?[ap]\.?m\.?(?!\w))?(?![\w:]))
  | (?P<ordinal>(?<![\w.,])\d+(?:st|nd|rd|th)\b)
  | (?P<decade>(?<![\w.,])(?:1[1-9]|20)\d0s\b)
  | (?P<quantity>(?:(?<![\w.,])[-−])?(?<![\w.,])(?:{_NUMBER})(?:\s?(?:{_UNIT}))?(?![\w/]))
  | (?P<number_word>\bNo\.(?=\s?\d))
  | (?P<abbreviation>\b(?:St|{"|".join(map(re.escape, [*_TITLES, *_ABBREVIATIONS]))})\.)
""", re.VERBOSE)
_CLOCK = re.compile(r"(\d+):(\d+)(?:\s?([ap])\.?m\.?)?")
_PARTS = re.compile(rf"(?P<sign>[-−])?(?P<number>{_NUMBER})(?P<gap>\s?)(?P<unit>.*)", re.DOTALL)


def _integer(digits: str) -> str:
    number = int(digits.replace(",", ""))
    if number >= 10 ** MAX_DIGITS:
        raise OverflowError(f"{digits} is too long to say as one number")
    return num2words(number).replace(",", "")


def _amount(number: str) -> str:
    """A number as words: digits after the point one by one ("3.05": three point zero five)."""
    whole, _, fraction = number.partition(".")
    words = _integer(whole)
    if fraction:
        words += " point " + " ".join(num2words(int(d)) for d in fraction)
    return words


def _quantity(match: re.Match[str]) -> list[Piece] | None:
    start = match.start()
    parts = _PARTS.fullmatch(match.group())
    assert parts is not None  # the same pattern matched it
    number, unit = parts["number"], parts["unit"]
    if not unit and not parts["sign"] and re.fullmatch(r"(?:1[1-9]|20)\d\d", number):
        return [(num2words(int(number), to="year"), start)]
    words = ("minus " if parts["sign"] else "") + _amount(number)
    pieces = [(words, start)]
    if unit:
        singular, plural = _UNITS[unit]
        pieces.append((" " + (singular if number == "1" else plural), start + parts.start("unit")))
    return pieces


def _currency(match: re.Match[str]) -> list[Piece]:
    text, start = match.group(), match.start()
    one, many, small_one, small_many = _CURRENCIES[text[0]]
    found = re.search(_NUMBER, text)
    assert found is not None
    number = found.group()
    scale = text[found.end():].strip()
    if scale:
        return [(f"{_amount(number)} {_SCALES[scale]}", start + found.start()), (f" {many}", start)]
    whole, _, fraction = number.partition(".")
    words = f"{_integer(whole)} {one if whole == '1' else many}"
    if fraction and int(fraction):
        cents = int(fraction.ljust(2, "0")[:2])
        words += f" and {num2words(cents)} {small_one if cents == 1 else small_many}"
    return [(words, start)]


def _time(match: re.Match[str]) -> list[Piece]:
    clock = _CLOCK.match(match.group())
    assert clock is not None
    hours, minutes, meridiem = clock.groups()
    words = num2words(int(hours))
    if int(minutes):
        words += (" oh " if int(minutes) < 10 else " ") + num2words(int(minutes))
    elif not meridiem:
        words += " o'clock"
    if meridiem:
        words += " ay em" if meridiem == "a" else " pee em"
    return [(words + ("." if match.group().endswith(".") and _ends_sentence(match) else ""), match.start())]


def _ordinal(match: re.Match[str]) -> list[Piece]:
    _integer(match.group()[:-2])  # too long to say: OverflowError
    return [(num2words(int(match.group()[:-2]), to="ordinal").replace(",", ""), match.start())]


def _decade(match: re.Match[str]) -> list[Piece]:
    year = num2words(int(match.group()[:4]), to="year")
    return [(year[:-1] + "ies" if year.endswith("y") else year + "s", match.start())]


def _number_word(match: re.Match[str]) -> list[Piece]:
    return [("number", match.start())]


def _abbreviation(match: re.Match[str]) -> list[Piece]:
    name = match.group()[:-1]
    if name in _TITLES or (name == "St" and _before_capital(match)):
        return [(_TITLES.get(name, "Saint"), match.start())]
    words = "Street" if name == "St" else _ABBREVIATIONS[name]
    return [(words + ("." if _ends_sentence(match) else ""), match.start())]


def _before_capital(match: re.Match[str]) -> bool:
    return re.match(r"\s[A-Z]", match.string[match.end():match.end() + 2]) is not None


def _ends_sentence(match: re.Match[str]) -> bool:
    """Whether the full stop that ends ``match`` also ends a sentence: at the end, or before a capital."""
    return not match.string[match.end():].strip() or _before_capital(match)


_HANDLERS: dict[str, Callable[[re.Match[str]], list[Piece] | None]] = {
    "currency": _currency, "time": _time, "ordinal": _ordinal, "decade": _decade, "quantity": _quantity,
    "number_word": _number_word, "abbreviation": _abbreviation,
}
