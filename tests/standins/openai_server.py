"""A stand-in for the OpenAI API on 127.0.0.1, speaking its wire format.

- ``POST /v1/audio/speech``: real speech (eSpeak NG) as WAV, MP3 or raw PCM; refuses input over 4096 chars.
- ``POST /v1/audio/transcriptions`` (multipart): finds each piece of speech it made in the uploaded
  audio and returns verbose JSON with word timestamps, spelled like a recogniser (no punctuation,
  lower case, one word in nine misheard).
- ``POST /v1/chat/completions``: a chat.completion whose content is the JSON of search queries;
  ``--invalid N`` makes the first N answers invalid JSON.

Run: ``python openai_server.py PORT KEY [--invalid N] [--topics a,b,c]``.
"""
from __future__ import annotations

import argparse
import email.parser
import email.policy
import io
import json
import re
import subprocess
import sys
import time
import wave

import numpy as np

sys.path.insert(0, __import__("os").path.dirname(__file__))
from base import StandInHandler, prose, serve  # noqa: E402

from ttvd.media import ffmpeg_exe  # noqa: E402
from ttvd.pipeline import espeak  # noqa: E402
from ttvd.pipeline.speech import align_words  # noqa: E402

FRAME = 0.01  # seconds per loudness frame when locating speech in an upload


class OpenAIHandler(StandInHandler):
    routes = {("POST", "/v1/audio/speech"): "speech", ("POST", "/v1/audio/transcriptions"): "transcribe",
              ("POST", "/v1/chat/completions"): "chat", ("GET", "/v1/models"): "models"}

    def authorised(self) -> bool:
        return self.headers.get("Authorization") == f"Bearer {self.server.key}"

    def presented_key(self) -> str:
        return self.headers.get("Authorization", "").removeprefix("Bearer ")

    def error_body(self, status: int, pad: int) -> dict:
        """OpenAI's error shape; the message quotes the presented key, as OpenAI (401) and the proxies in
        front of compatible servers (400: LiteLLM's words) do."""
        key, header = self.presented_key(), self.headers.get("Authorization", "")
        messages = {
            401: f"Incorrect API key provided: {key}. You can find your API key at "
                 "https://platform.openai.com/account/api-keys.",
            429: f"Rate limit reached for requests made with 'Authorization: {header}'. "
                 "Please try again in 20ms.",
            400: f"Authentication Error, Invalid proxy server token passed. Received API Key = {key}. "
                 "Unable to find token in cache or database.",
        }
        message = messages.get(status, f"The server had an error while processing your request "
                                       f"(HTTP {status}, Authorization: {header}).")
        kinds = {401: "invalid_request_error", 429: "rate_limit_exceeded", 400: "auth_error"}
        return {"error": {"message": prose(pad) + message, "type": kinds.get(status, "server_error"),
                          "param": None, "code": "invalid_api_key" if status == 401 else None}}

    def models(self, path: str) -> None:
        self.send_json(200, {"object": "list", "data": [{"id": "tts-1", "object": "model"}]})

    def speech(self, path: str) -> None:
        request = json.loads(self.body)
        text = request["input"]
        if len(text) > 4096:
            return self.send_json(400, {"error": {"message": "input is too long (max 4096)",
                                                  "type": "invalid_request_error"}})
        synthesis = espeak.synthesize(text, "en-us", 190)
        pcm = np.frombuffer(synthesis.samples, dtype="<i2")
        rate = synthesis.sample_rate
        words = align_words(text, [e.text_position - 1 for e in synthesis.words],
                            [e.sample / rate for e in synthesis.words])
        with self.server.lock:
            self.server.pieces.append({"text": text, "rate": rate, "pcm": pcm,
                                       "words": [(w.text, w.start) for w in words]})
            self.server.extra.setdefault("speech_inputs", []).append(text)
        fmt = request.get("response_format", "mp3")
        if fmt == "pcm":
            return self.send_bytes(200, _encode(pcm, rate, "s16le", ["-ar", "24000"]), "audio/pcm")
        if fmt == "wav":
            return self.send_bytes(200, _wav(pcm, rate), "audio/wav")
        self.send_bytes(200, _encode(pcm, rate, "mp3", ["-c:a", "libmp3lame", "-b:a", "64k"]), "audio/mpeg")

    def transcribe(self, path: str) -> None:
        fields = _multipart(self.headers["Content-Type"], self.body)
        if "word" not in fields.get("timestamp_granularities[]", []):
            return self.send_json(400, {"error": {"message": "word timestamps not requested"}})
        upload = _decode(fields["file"][0])
        words = []
        with self.server.lock:
            pieces = list(self.server.pieces)
        search_from = 0
        for piece in pieces:
            offset = _locate(upload, 16000, piece, search_from)
            if offset is None:
                continue
            search_from = int((offset + len(piece["pcm"]) / piece["rate"]) / FRAME)
            starts = [start for _, start in piece["words"]]
            ends = starts[1:] + [len(piece["pcm"]) / piece["rate"]]
            for (text, start), end in zip(piece["words"], ends, strict=True):
                for heard in _as_heard(text, len(words)):
                    words.append({"word": heard, "start": round(offset + start, 2),
                                  "end": round(offset + end - 0.02, 2)})
        with self.server.lock:
            self.server.extra["transcribed_words"] = words
        self.send_json(200, {"task": "transcribe", "language": "english", "duration": len(upload) / 16000,
                             "text": " ".join(w["word"] for w in words), "words": words})

    def chat(self, path: str) -> None:
        request = json.loads(self.body)
        with self.server.lock:
            self.server.chats += 1
            invalid = self.server.chats <= self.server.invalid
        segments = json.loads(request["messages"][1]["content"])["segments"]
        answer = {"segments": [{"index": s["index"], "queries": self._queries(s["text"])} for s in segments]}
        content = "Sure! Here are your queries: {segments: [" if invalid else json.dumps(answer)
        self.send_json(200, {
            "id": f"chatcmpl-standin{self.server.chats}", "object": "chat.completion", "created": int(time.time()),
            "model": request["model"], "system_fingerprint": "fp_standin",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": None},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150}})

    def _queries(self, text: str) -> list[str]:
        """A query that finds nothing first, then the topics the text mentions, as a model might."""
        found = [t for t in self.server.topics if re.search(rf"\b{t}", text, re.I)]
        return ["misty abstract mood"] + (found or ["abstract"])


def _as_heard(text: str, index: int) -> list[str]:
    """How a recogniser spells a source token: no punctuation, lower case, and sometimes wrong."""
    words = [w for w in re.split(r"[^\w']+", text.lower()) if w]
    if index % 9 == 4 and words:
        words[0] = words[0][::-1] + "h"
    return words


def _multipart(content_type: str, body: bytes) -> dict[str, list]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    fields: dict[str, list] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        fields.setdefault(name, []).append(payload if part.get_filename() else payload.decode())
    return fields


def _wav(pcm: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


def _encode(pcm: np.ndarray, rate: int, fmt: str, args: list[str]) -> bytes:
    return subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "s16le", "-ar", str(rate), "-ac", "1", "-i", "pipe:0",
                           *args, "-f", fmt, "pipe:1"], input=pcm.tobytes(), capture_output=True, check=True).stdout


def _decode(data: bytes) -> np.ndarray:
    out = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", "pipe:0", "-f", "s16le", "-ac", "1", "-ar", "16000",
                          "pipe:1"], input=data, capture_output=True, check=True).stdout
    return np.frombuffer(out, dtype="<i2")


def _envelope(pcm: np.ndarray, rate: int) -> np.ndarray:
    size = int(rate * FRAME)
    usable = len(pcm) // size * size
    return np.abs(pcm[:usable].astype(np.float64)).reshape(-1, size).mean(axis=1)


def _locate(upload: np.ndarray, rate: int, piece: dict, search_from: int) -> float | None:
    """Where ``piece`` is spoken in ``upload``, in seconds: the best match of their loudness envelopes."""
    haystack = _envelope(upload, rate)[search_from:]
    needle = _envelope(piece["pcm"], piece["rate"])
    if len(needle) == 0 or len(haystack) < len(needle):
        return None
    centred = needle - needle.mean()
    scores = np.correlate(haystack - haystack.mean(), centred, "valid")
    best = int(np.argmax(scores))
    window = haystack[best:best + len(needle)]
    similarity = np.corrcoef(window, needle)[0, 1] if window.std() and needle.std() else 0.0
    return (search_from + best) * FRAME if similarity > 0.7 else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("key")
    parser.add_argument("--invalid", type=int, default=0, help="answer the first N chats with invalid JSON")
    parser.add_argument("--topics", default="")
    args = parser.parse_args()
    serve(OpenAIHandler, args.port, key=args.key, pieces=[], chats=0, invalid=args.invalid,
          topics=[t for t in args.topics.split(",") if t])


if __name__ == "__main__":
    main()
