"""eSpeak NG through ctypes, from the library and data the ``espeakng-loader`` wheel ships.

The engine is a process-wide singleton and not thread-safe, so every call holds one lock.
It speaks a text with word events (``synthesize``) and lists the voices it has (``list_voices``).
"""
from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass

import espeakng_loader

from ttvd.errors import StageError

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_PARAM_RATE = 1
_EE_OK = 0


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


class _Voice(ctypes.Structure):
    # ``languages`` is a run of (priority byte, NUL-terminated tag) pairs ended by a zero byte,
    # so it is read by hand rather than as one C string.
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass(frozen=True)
class WordEvent:
    """One spoken word: its 1-based character position and length in the text, and its sample offset."""

    text_position: int
    length: int
    sample: int


@dataclass(frozen=True)
class VoiceInfo:
    """One voice of the library: its file (``gmw/en-US``), name, and (language tag, priority) pairs.

    The first tag is the voice's own; a lower priority number means the voice suits that language better.
    """

    identifier: str
    name: str
    languages: tuple[tuple[str, int], ...]

    @property
    def id(self) -> str:
        """The name ttvd knows it by, which the library also accepts: ``en-us``, ``fr``, ``pt-br``."""
        return self.identifier.rpartition("/")[2].lower()


@dataclass
class Synthesis:
    samples: bytes
    sample_rate: int
    words: list[WordEvent]


class _Engine:
    def __init__(self) -> None:
        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self._lib.espeak_Initialize.restype = ctypes.c_int
        self._lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self._lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]
        self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self._lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self._lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
        self._lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        data = espeakng_loader.get_data_path().encode()
        self.sample_rate = self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, 0)
        if self.sample_rate <= 0:
            raise StageError("speech", f"eSpeak NG failed to initialise (data at {data.decode()})")
        self._callback = _CALLBACK(self._on_synth)  # kept referenced for the library's lifetime
        self._lib.espeak_SetSynthCallback(self._callback)
        self._chunks: list[bytes] = []
        self._words: list[WordEvent] = []
        self._samples_so_far = 0

    def _on_synth(self, wav, count, events) -> int:
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            ev = events[i]
            if ev.type == _EVENT_WORD:
                self._words.append(WordEvent(ev.text_position, ev.length, ev.sample))
            i += 1
        if count > 0:
            self._chunks.append(ctypes.string_at(wav, count * 2))
        return 0

    def synth(self, text: str, voice: str, rate: int) -> Synthesis:
        if self._lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
            raise StageError("speech", f"eSpeak NG has no voice named {voice!r}")
        self._lib.espeak_SetParameter(_PARAM_RATE, rate, 0)
        self._chunks, self._words = [], []
        data = text.encode("utf-8") + b"\0"
        status = self._lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if status != _EE_OK:
            raise StageError("speech", f"eSpeak NG synthesis failed (status {status})")
        return Synthesis(b"".join(self._chunks), self.sample_rate, self._words)

    def voices(self) -> list[VoiceInfo]:
        found = self._lib.espeak_ListVoices(None)
        voices = []
        index = 0
        while found[index]:
            voice = found[index].contents
            voices.append(VoiceInfo(voice.identifier.decode(), voice.name.decode().strip(),
                                    _languages(voice.languages)))
            index += 1
        return voices


def _languages(address: int) -> tuple[tuple[str, int], ...]:
    """A voice's (language tag, priority) pairs, in the library's order."""
    pairs = []
    while priority := ctypes.string_at(address, 1)[0]:
        tag = ctypes.string_at(address + 1)
        pairs.append((tag.decode(), priority))
        address += len(tag) + 2
    return tuple(pairs)


_lock = threading.Lock()
_engine: _Engine | None = None


def synthesize(text: str, voice: str = "en-us", rate: int = 165) -> Synthesis:
    """Speak ``text`` to 16-bit mono PCM, with one event per word."""
    with _lock:
        return _get_engine().synth(text, voice, rate)


def list_voices() -> list[VoiceInfo]:
    """Every voice the library has (its variants aside), in the library's order."""
    with _lock:
        return _get_engine().voices()


def _get_engine() -> _Engine:
    global _engine
    if _engine is None:
        _engine = _Engine()
    return _engine
