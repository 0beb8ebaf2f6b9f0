"""Caption timing from the OpenAI transcription endpoint's word timestamps, aligned to the source text."""
from __future__ import annotations

import subprocess
from typing import Any

from ttvd.backends import openai_client
from ttvd.backends.align import align
from ttvd.config import Settings
from ttvd.errors import ServiceError, ServiceUnavailable
from ttvd.media import ffmpeg_exe
from ttvd.timeline import Speech, Word

MAX_UPLOAD_BYTES = 25 * 1000 * 1000  # the endpoint's file limit


def word_times(speech: Speech, settings: Settings) -> list[Word]:
    """The speech's words, in the user's spelling, timed by what the recogniser heard."""
    audio = encode_mp3(speech.audio)
    if len(audio) > MAX_UPLOAD_BYTES:
        raise ServiceUnavailable(openai_client.SERVICE,
                                 f"the narration is too long to transcribe in one request ({len(audio)} bytes)")
    client = openai_client.client(settings)
    result = openai_client.request(settings, "transcription", lambda: client.audio.transcriptions.create(
        file=("narration.mp3", audio, "audio/mpeg"), model=settings.openai_transcribe_model,
        response_format="verbose_json", timestamp_granularities=["word"]))
    heard = [h for h in (_word(w) for w in (_field(result, "words") or [])) if h is not None]
    if not heard:
        raise ServiceError(openai_client.SERVICE, "OpenAI transcription returned no word timestamps "
                           f"(does {settings.openai_transcribe_model} support them?)")
    return align(speech.words, heard, speech.duration)


def encode_mp3(path: str) -> bytes:
    """The narration as 16 kHz mono MP3: small to upload, plenty for recognition."""
    result = subprocess.run([ffmpeg_exe(), "-v", "error", "-nostdin", "-i", path, "-ac", "1", "-ar", "16000",
                             "-c:a", "libmp3lame", "-b:a", "48k", "-f", "mp3", "pipe:1"], capture_output=True)
    if result.returncode != 0:
        raise ServiceError("ffmpeg", f"cannot encode the narration for transcription: "
                           f"{result.stderr.decode(errors='replace').strip()[-200:]}")
    return result.stdout


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _word(item: Any) -> tuple[str, float, float] | None:
    try:
        return str(_field(item, "word")), float(_field(item, "start")), float(_field(item, "end"))
    except (TypeError, ValueError):
        return None
