"""Footage search queries from ONE chat call for all passages, answered as JSON and checked.

An answer that does not fit the schema is sent back once or twice with the reason; then the stage
falls back to offline keywords. The model is never asked until it happens to agree.
"""
from __future__ import annotations

import json
import logging
from typing import Any

from ttvd.backends import openai_client
from ttvd.config import Settings
from ttvd.errors import ServiceUnavailable
from ttvd.timeline import Passage

log = logging.getLogger(__name__)
ATTEMPTS = 3          # the first answer and at most two corrections
QUERIES_PER_PASSAGE = 3
MAX_QUERY_CHARS = 60

# The answer's shape, as a JSON schema (sent to the model; checked by ``parse``).
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["segments"],
    "properties": {"segments": {"type": "array", "items": {
        "type": "object", "required": ["index", "queries"],
        "properties": {"index": {"type": "integer", "minimum": 0},
                       "queries": {"type": "array", "minItems": 1, "maxItems": 5,
                                   "items": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS}}}}}},
}
SYSTEM = ("You pick background footage for a narrated video. For each numbered segment of the narration, "
          "write 1 to 3 short search queries (1-3 concrete, visual English words each, e.g. 'ocean waves', "
          "'city night') for a stock video library, best first. Answer with one JSON object only, matching "
          "this JSON schema, with exactly one entry per segment index: " + json.dumps(SCHEMA))


class InvalidAnswer(ValueError):
    pass


def queries(passages: list[Passage], settings: Settings) -> list[list[str]]:
    """One list of queries per passage, best first."""
    client = openai_client.client(settings)
    segments = [{"index": i, "text": p.text} for i, p in enumerate(passages)]
    messages = [{"role": "system", "content": SYSTEM},
                {"role": "user", "content": json.dumps({"segments": segments}, ensure_ascii=False)}]
    problem = ""
    for attempt in range(ATTEMPTS):
        response = openai_client.request(settings, "chat", lambda: client.chat.completions.create(
            model=settings.openai_chat_model, messages=messages, temperature=0.2,  # noqa: B023 (called at once)
            response_format={"type": "json_object"}))
        content = _content(response)
        try:
            return parse(content, len(passages))
        except InvalidAnswer as exc:
            problem = str(exc)
            log.warning("OpenAI chat answer %d of %d was not usable: %s", attempt + 1, ATTEMPTS, problem)
            messages += [{"role": "assistant", "content": content[:4000]},
                         {"role": "user", "content": f"That answer is not valid: {problem}. "
                                                     "Answer again with the JSON object only."}]
    raise ServiceUnavailable(openai_client.SERVICE,
                             f"OpenAI gave no valid search queries in {ATTEMPTS} answers ({problem})")


def parse(content: str, count: int) -> list[list[str]]:
    """The queries in ``content``, one list per segment index ``0..count-1``; InvalidAnswer if it breaks SCHEMA."""
    try:
        data = json.loads(_unfenced(content))
    except ValueError as exc:
        raise InvalidAnswer(f"not JSON ({exc})") from None
    segments = data.get("segments") if isinstance(data, dict) else None
    if not isinstance(segments, list):
        raise InvalidAnswer("no 'segments' array")
    found: dict[int, list[str]] = {}
    for item in segments:
        index = item.get("index") if isinstance(item, dict) else None
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < count:
            raise InvalidAnswer(f"segment index {index!r} is not one of 0..{count - 1}")
        found[index] = _queries(item.get("queries"), index)
    missing = [i for i in range(count) if i not in found]
    if missing:
        raise InvalidAnswer(f"no queries for segment(s) {missing[:10]}")
    return [found[i] for i in range(count)]


def _queries(value: Any, index: int) -> list[str]:
    if not isinstance(value, list) or not 1 <= len(value) <= 5:
        raise InvalidAnswer(f"segment {index}: 'queries' must be a list of 1 to 5 strings")
    cleaned = []
    for query in value:
        if not isinstance(query, str) or not query.strip() or len(query) > MAX_QUERY_CHARS:
            raise InvalidAnswer(f"segment {index}: each query must be a non-empty string of at most "
                                f"{MAX_QUERY_CHARS} characters")
        cleaned.append(" ".join(query.lower().split()))
    return list(dict.fromkeys(cleaned))[:QUERIES_PER_PASSAGE]


def _content(response: Any) -> str:
    try:
        return response.choices[0].message.content or ""
    except (AttributeError, IndexError, TypeError):
        return ""


def _unfenced(content: str) -> str:
    """Local models often wrap JSON in a Markdown code fence despite being asked not to."""
    text = content.strip()
    if text.startswith("```"):
        text = text.split("\n", 1)[-1].rsplit("```", 1)[0]
    return text
