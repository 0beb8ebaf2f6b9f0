"""Queries stage: group captions into passages that end with a sentence, and describe each with a few
visual search queries: its noun phrases ("night train"), then their nouns ("train", "night").

English text is tagged with TextBlob's bundled part-of-speech lexicon (no download); text in another
language falls back to its longest content words.
"""
from __future__ import annotations

import re

from textblob.taggers import PatternTagger

from ttvd.config import Settings
from ttvd.timeline import Caption, Passage

MIN_PASSAGE_SECONDS = 3.0
MAX_PASSAGE_SECONDS = 8.0
QUERIES_PER_PASSAGE = 3
PAUSE_SECONDS = 0.45   # a silence this long between captions is a clause boundary even without punctuation

_SENTENCE, _CLAUSE, _NONE = 2, 1, 0
_CLOSERS = "\"'”’»)]"
_SENTENCE_END = re.compile(r"[.!?…]+[" + re.escape(_CLOSERS) + r"]*$")
_CLAUSE_END = re.compile(r"[,;:—–)]+[" + re.escape(_CLOSERS) + r"]*$")
# Dotted words that end a sentence less often than they sit inside one: "Dr. Alvarez", "the U.N. report".
_ABBREVIATION = re.compile(r"^(?:(?:[^\W\d_]\.){2,}|[A-Z]\.|(?:mr|mrs|ms|dr|st|mt|prof|sr|jr|vs|no|fig|gen|"
                           r"capt|lt|col|sgt|rev|hon|ave|approx)\.)[" + re.escape(_CLOSERS) + r"]*$",
                           re.IGNORECASE)

_NOUN_TAGS = frozenset(("NN", "NNS", "NNP", "NNPS"))
_MODIFIER_TAGS = _NOUN_TAGS | {"JJ", "JJR", "JJS"}
_WORD = re.compile(r"[^\W\d_][\w'’-]*", re.UNICODE)
# Words that are not pictures: function words, vague nouns, and adjectives of order or amount.
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
year years first last next single whole entire certain several various least less part parts end
""".split())
# The commonest English function words: a text with almost none of them is in another language.
_ENGLISH = frozenset("""
the a an and of to in is was it that he she they with for on at his her i you your my we our be are were
had have has not but as by from this or so said all one there their what would which when will been
""".split())
_ENGLISH_SHARE = 0.15   # about 40% of the words of English prose; under 5% of French, German or Spanish
_JUDGED_WORDS = 12      # a shorter text is tagged as English: a headline may have no function word at all

_tagger = PatternTagger()


def make_passages(captions: list[Caption], duration: float) -> list[Passage]:
    """Join consecutive captions into passages of a few seconds that tile ``0..duration``.

    A passage ends where a sentence ends when one does within MAX_PASSAGE_SECONDS, else at a clause
    end or a pause; only a sentence with neither is cut mid-phrase.
    """
    groups: list[list[Caption]] = []
    first = 0
    while first < len(captions):
        last = _passage_end(captions, first)
        groups.append(captions[first:last + 1])
        first = last + 1
    if len(groups) > 1 and _span(groups[-1]) < MIN_PASSAGE_SECONDS / 2:
        groups[-2].extend(groups.pop())
    passages: list[Passage] = []
    for index, group in enumerate(groups):
        start = 0.0 if index == 0 else passages[-1].end
        end = duration if index == len(groups) - 1 else groups[index + 1][0].start
        passages.append(Passage(round(start, 3), round(end, 3), " ".join(c.text for c in group)))
    return passages


def _passage_end(captions: list[Caption], first: int) -> int:
    """Index of the last caption of the passage that starts at caption ``first``."""
    fitting = [first]
    while fitting[-1] + 1 < len(captions) \
            and captions[fitting[-1] + 1].end - captions[first].start <= MAX_PASSAGE_SECONDS:
        fitting.append(fitting[-1] + 1)
    for strength in (_SENTENCE, _CLAUSE):
        ends = [i for i in fitting if _boundary(captions, i) >= strength]
        long_enough = [i for i in ends if captions[i].end - captions[first].start >= MIN_PASSAGE_SECONDS]
        if long_enough:
            return long_enough[0]
        # a short sentence of its own beats a passage cut in mid-phrase
        half = [i for i in ends if captions[i].end - captions[first].start >= MIN_PASSAGE_SECONDS / 2]
        if half:
            return half[-1]
    return fitting[-1]


def _boundary(captions: list[Caption], index: int) -> int:
    """How strongly the narration breaks after caption ``index``: sentence, clause or not at all."""
    if index == len(captions) - 1:
        return _SENTENCE
    words = captions[index].words
    last = words[-1].text if words else captions[index].text.rsplit(" ", 1)[-1]
    if is_sentence_end(last):
        return _SENTENCE
    if _CLAUSE_END.search(last) or captions[index + 1].start - captions[index].end >= PAUSE_SECONDS:
        return _CLAUSE
    return _NONE


def is_sentence_end(word: str) -> bool:
    """True when ``word`` ends a sentence: a full stop, question or exclamation mark, not an abbreviation."""
    return bool(_SENTENCE_END.search(word)) and not _ABBREVIATION.match(word)


def keywords(passages: list[Passage], settings: Settings | None = None) -> list[list[str]]:
    """A few search queries per passage, most specific first: noun phrases, then their nouns."""
    english = _is_english(" ".join(p.text for p in passages))
    result = []
    for passage in passages:
        queries = _noun_queries(passage.text) if english else _longest_words(passage.text)
        result.append(queries[:QUERIES_PER_PASSAGE] or ["abstract background"])
    return result


def _noun_queries(text: str) -> list[str]:
    """Phrases of two words, one-word phrases, then the head and the other noun of each longer phrase."""
    phrases = noun_phrases(text)
    longer = [p for p in phrases if len(p) > 1]
    queries = [" ".join(word for word, _ in p) for p in longer]
    queries += [p[0][0] for p in phrases if len(p) == 1]
    queries += [p[-1][0] for p in longer]
    queries += [word for p in longer for word, tag in p[:-1] if tag in _NOUN_TAGS]
    return list(dict.fromkeys(queries))


def noun_phrases(text: str) -> list[tuple[tuple[str, str], ...]]:
    """Each noun phrase of ``text`` as its last two (word, tag) pairs, modifier and head noun, lower case.

    "The night train left" gives (("night", "NN"), ("train", "NN")); "a small wooden boat" gives
    (("wooden", "JJ"), ("boat", "NN")).
    """
    phrases: list[tuple[tuple[str, str], ...]] = []
    run: list[tuple[str, str]] = []
    for word, tag in [*_tagger.tag(text), ("", "")]:
        word = word.lower().strip("'’-")
        if tag in _MODIFIER_TAGS and _WORD.fullmatch(word) and len(word) > 1 and word not in _STOPWORDS:
            run.append((word, tag))
            continue
        while run and run[-1][1] not in _NOUN_TAGS:
            run.pop()
        if run:
            phrases.append(tuple(run[-2:]))
        run = []
    return list(dict.fromkeys(phrases))


def _is_english(text: str) -> bool:
    """True unless ``text`` is long enough to tell and has too few English function words."""
    words = [w.lower() for w in _WORD.findall(text)]
    return len(words) < _JUDGED_WORDS or sum(w in _ENGLISH for w in words) >= _ENGLISH_SHARE * len(words)


def _longest_words(text: str) -> list[str]:
    """Content words of a text in another language, longest first: long words are rarely function words."""
    words = [w for w in (m.group().lower().strip("'’-") for m in _WORD.finditer(text))
             if len(w) > 3 and w not in _STOPWORDS]
    return sorted(dict.fromkeys(words), key=len, reverse=True)


def _span(group: list[Caption]) -> float:
    return group[-1].end - group[0].start
