"""Properties of job option validation (``ttvd.options``), checked over generated JSON (hypothesis).

- every valid options object is accepted, and what ``validate`` returns is valid and returned
  unchanged when checked again (normalising is idempotent);
- validation is total: any JSON value, in any field, gives a checked dict or a ``ConfigError`` (a 400
  answer), never another exception; and a single option's check gives its value or a ``ValueError``;
- over HTTP, any options object is accepted (202) or refused with a 400 and the error body, never a 500;
  every one that ``validate`` refuses is a 400.
"""
from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ttvd import options
from ttvd.errors import ConfigError

from helpers import Wsgi

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _integers(bounds: tuple[int, int], even: bool = False) -> st.SearchStrategy[Any]:
    """An integer within ``bounds`` as JSON may spell it: a number, a float like 720.0 or its digits."""
    number = st.integers(*bounds).filter(lambda n: not (even and n % 2))
    return st.one_of(number, number.map(float), number.map(str), number.map(lambda n: f" +{n} "))


_NAMES = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9 ._+()-]{0,30}", fullmatch=True)
VALID: dict[str, st.SearchStrategy[Any]] = {
    "engine": st.sampled_from(options.ENGINES),
    "aspect": st.sampled_from(list(options.ASPECTS)),
    "height": _integers(options.HEIGHTS, even=True),
    "fps": _integers(options.FPS),
    "preset": st.sampled_from(options.X264_PRESETS),
    "crf": _integers(options.CRF),
    "encoder": st.sampled_from(options.ENCODERS),
    **{stage: st.sampled_from((*names, options.AUTO)) for stage, names in options.BACKENDS.items()},
    "captions": st.sampled_from((*options.CAPTION_PRESETS, *options.BACKENDS["timing"], options.AUTO)),
    "caption_position": st.sampled_from(options.CAPTION_POSITIONS),
    "music": st.one_of(st.sampled_from(("none", options.AUTO, *options.MUSIC_MOODS)), _NAMES),
    "music_volume": _integers(options.MUSIC_VOLUME),
    "transition": st.sampled_from(options.TRANSITIONS),
    "title": st.text(st.characters(blacklist_characters="\n"), max_size=options.MAX_TITLE_CHARS),
    "voice": st.one_of(st.just(options.AUTO), _NAMES),
    "language": st.one_of(st.just(options.AUTO), st.from_regex(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}", fullmatch=True)),
    "callback_url": st.builds("{}://{}{}/{}".format, st.sampled_from(("http", "https")),
                              st.from_regex(r"[a-z0-9]([a-z0-9.-]{0,20}[a-z0-9])?", fullmatch=True),
                              st.sampled_from(("", ":80", ":8080", ":65535")),
                              st.from_regex(r"[A-Za-z0-9._~/?=&%-]{0,40}", fullmatch=True)),
}
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)


def _no_two_timings(chosen: dict[str, Any]) -> dict[str, Any]:
    # "captions": "openai" is the older spelling of "timing": giving both is refused, so keep one
    if "timing" in chosen and chosen.get("captions") in (*options.BACKENDS["timing"], options.AUTO):
        del chosen["captions"]
    return chosen


valid_options = st.fixed_dictionaries({}, optional=VALID).map(_no_two_timings)


def test_every_option_has_a_valid_strategy() -> None:
    assert set(VALID) == set(options.OPTION_NAMES)


@FAST
@given(valid_options)
def test_valid_options_are_accepted_and_normalised_once_for_all(given_options: dict[str, Any]) -> None:
    checked = options.validate(given_options)
    assert set(checked) <= set(options.OPTION_NAMES)
    assert len(checked) == len(given_options)
    assert options.validate(checked) == checked
    assert json.loads(json.dumps(checked)) == checked  # stored in the state file as it is
    for name in ("height", "fps", "crf", "music_volume"):
        if name in checked:
            assert type(checked[name]) is int
    if "captions" in checked:
        assert checked["captions"] in options.CAPTION_PRESETS


@FAST
@given(st.one_of(JSON, st.dictionaries(st.one_of(st.sampled_from(options.OPTION_NAMES), st.text(max_size=12)),
                                       st.one_of(JSON, *VALID.values()), max_size=6)))
def test_any_json_is_checked_or_refused_with_a_config_error(value: Any) -> None:
    try:
        checked = options.validate(value)
    except ConfigError as exc:
        assert str(exc)
        return
    assert isinstance(value, dict)
    assert options.validate(checked) == checked


@FAST
@given(st.sampled_from(sorted(options.CHECKS)), st.one_of(JSON, st.text(max_size=5000), *VALID.values()))
def test_each_check_gives_its_value_or_a_value_error(name: str, value: Any) -> None:
    try:
        checked = options.check(name, value)
    except ValueError:
        return
    assert options.check(name, checked) == checked


# the client fixture's spool is shared by the examples: each accepted job is one more file, no matter
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(options.OPTION_NAMES), st.one_of(JSON, *VALID.values()), min_size=1,
                       max_size=3))
def test_refused_options_are_a_400_over_http(client: Wsgi, given_options: dict[str, Any]) -> None:
    try:
        options.validate(given_options)
    except ConfigError:
        refused = True
    else:
        refused = False
    status, body = client.json("POST", "/api/v1/generate", {"text": "A short story.", "options": given_options})
    if refused or status != 202:  # valid options may still be over a cost cap (TTVD_MAX_FPS...): a 400 too
        assert status == 400 and set(body) == {"error"}, body
