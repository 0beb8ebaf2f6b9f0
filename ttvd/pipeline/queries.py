"""Queries stage: group captions into passages and describe each with a few visual keywords."""
from __future__ import annotations

import re

from ttvd.config import Settings
from ttvd.timeline import Caption, Passage

MIN_PASSAGE_SECONDS = 3.0
MAX_PASSAGE_SECONDS = 8.0
QUERIES_PER_PASSAGE = 3

_WORD = re.compile(r"[^\W\d_][\w'’-]*", re.UNICODE)
_NOT_NOUN = ("ly", "ed", "ing")
_DETERMINED = re.compile(
    r"\b(?:the|a|an|its|his|her|their|our|my|your|this|that|these|those|some|every)\s+"
    r"((?:[^\W\d_][\w'’-]*\s+){0,2}[^\W\d_][\w'’-]*)", re.IGNORECASE)
_STOPWORDS = frozenset("""
a about above after again against all almost also am among an and any are aren't as at away back be
because been before being below between both but by can could did do does doing done down during each
even ever every few for from further get got had has have having he her here hers herself him himself
his how i if in into is it its itself just like made make many may me might more most much must my
myself never no nor not now of off often on once one only or other our ours ourselves out over own
per perhaps quite rather really said same say says she should so some still such than that the their
theirs them themselves then there these they this those though through thus to too under until up
upon us very was we well were what when where which while who whom whose why will with within
without would yet you your yours yourself yourselves day days time times thing things way ways
lot lots kind sort began begin begins went go goes going came come comes took take takes told tell
""".split())


def make_passages(captions: list[Caption], duration: float) -> list[Passage]:
    """Join consecutive captions into passages of a few seconds that tile ``0..duration``."""
    groups: list[list[Caption]] = []
    for caption in captions:
        if groups and _span(groups[-1]) < MIN_PASSAGE_SECONDS \
                and caption.end - groups[-1][0].start <= MAX_PASSAGE_SECONDS:
            groups[-1].append(caption)
        else:
            groups.append([caption])
    if len(groups) > 1 and _span(groups[-1]) < MIN_PASSAGE_SECONDS / 2:
        groups[-2].extend(groups.pop())
    passages: list[Passage] = []
    for index, group in enumerate(groups):
        start = 0.0 if index == 0 else passages[-1].end
        end = duration if index == len(groups) - 1 else groups[index + 1][0].start
        passages.append(Passage(round(start, 3), round(end, 3), " ".join(c.text for c in group)))
    return passages


def keywords(passages: list[Passage], settings: Settings | None = None) -> list[list[str]]:
    """A few search queries per passage, most visual first: noun phrases, then other content words."""
    result = []
    for passage in passages:
        phrases = _noun_phrases(passage.text)
        heads = [phrase.split()[-1] for phrase in phrases]
        others = [w for w in _content_words(passage.text) if not w.endswith(_NOT_NOUN)]
        queries = list(dict.fromkeys(phrases + heads + others))[:QUERIES_PER_PASSAGE]
        result.append(queries or ["abstract background"])
    return result


def _noun_phrases(text: str) -> list[str]:
    """Up to two words after a determiner, stopping at punctuation or a function word."""
    phrases = []
    for match in _DETERMINED.finditer(text):
        words: list[str] = []
        for word in match.group(1).lower().split():
            if word in _STOPWORDS or word.endswith(_NOT_NOUN):
                break
            words.append(word)
        if words:
            phrases.append(" ".join(words[-2:]))
    return sorted(dict.fromkeys(phrases), key=lambda p: -len(p.split()))


def _span(group: list[Caption]) -> float:
    return group[-1].end - group[0].start


def _content_words(text: str) -> list[str]:
    return [w for w in (m.group().lower().strip("'’-") for m in _WORD.finditer(text))
            if len(w) > 2 and w not in _STOPWORDS]
