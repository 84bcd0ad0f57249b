"""Properties of `protocol.parse` over generated input (hypothesis): plain sync tests.

Any text gives a request or a refusal, never an exception; whatever a Send carries is
relayed as strict JSON that is valid UTF-8 (PROTOCOL.md §7).
"""

from __future__ import annotations

import json
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtime import protocol

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SURROGATES = st.characters(categories=["Cs"])
# Text that leans on what breaks parsers: lone surrogates, controls, quotes, brackets.
NASTY_TEXT = st.text(
    st.one_of(
        st.characters(codec=None),
        SURROGATES,
        st.characters(max_codepoint=0x1F),
        st.sampled_from('"\\{}[],:ping'),
    ),
    max_size=40,
)
BIG_NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=10**300, max_value=10**320),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([2**53 + 1, -(2**63), 10**308, -(10**308), 5e-324, 1.7976931348623157e308]),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | BIG_NUMBERS | NASTY_TEXT,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(NASTY_TEXT, children, max_size=4)
    ),
    max_leaves=20,
)
RECIPIENTS = st.one_of(
    st.just("all"),
    st.just("system"),
    st.uuids(version=4).map(str),
    NASTY_TEXT,
)
EVENTS = st.one_of(st.sampled_from(["admin", "approved", "connections"]), NASTY_TEXT)


@st.composite
def frames(draw) -> str:
    """A frame as a client might send it: JSON objects with the protocol's keys, any values."""
    frame = draw(st.dictionaries(NASTY_TEXT, JSON_VALUES, max_size=3))
    frame["to"] = draw(st.one_of(RECIPIENTS, JSON_VALUES))
    if draw(st.booleans()):
        frame["data"] = draw(JSON_VALUES)
    if draw(st.booleans()):
        frame["event"] = draw(st.one_of(EVENTS, JSON_VALUES))
    for name in ("key", "id", "type", "from"):
        if draw(st.booleans()):
            frame[name] = draw(st.one_of(NASTY_TEXT, JSON_VALUES))
    text = json.dumps(frame, ensure_ascii=draw(st.booleans()))
    if draw(st.booleans()):
        # A duplicate key appended: the last one wins.
        name = draw(st.sampled_from(["to", "data", "event", "key", "id"]))
        value = json.dumps(draw(st.one_of(RECIPIENTS, JSON_VALUES)))
        text = f"{text[:-1]}{', ' if frame else ''}{json.dumps(name)}:{value}}}"
    return text


@st.composite
def deep_frames(draw) -> str:
    """A message whose data nests `depth` levels of arrays or objects, balanced or not."""
    depth = draw(st.sampled_from([31, 32, 33, 100, 999, 1000, 5000]))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    inner = opener * depth + "1" * (opener == '{"a":') + closer * draw(st.sampled_from([depth, 0]))
    return f'{{"to":"all","data":{inner}}}'


@st.composite
def number_frames(draw) -> str:
    """A message whose data is a number token: long, huge, tiny, or a non-JSON constant."""
    token = draw(
        st.one_of(
            st.from_regex(
                r"-?[1-9][0-9]{0,5000}(\.[0-9]{1,50})?([eE][+-]?[0-9]{1,4})?", fullmatch=True
            ),
            st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1e-999", "-0"]),
        )
    )
    return f'{{"to":"all","data":{token}}}'


def strictly_parsed(text: str):
    """`text` as a browser's JSON.parse would read it, or an AssertionError."""

    def refuse(name: str):
        raise AssertionError(f"{name} is not JSON")

    value = json.loads(text, parse_constant=refuse)
    text.encode("utf-8")  # raises on a lone surrogate left raw
    return value


def check(text: str) -> None:
    result = protocol.parse(text)
    assert isinstance(result, protocol.Refusal | protocol.Request), result
    if isinstance(result, protocol.Refusal):
        strictly_parsed(protocol.encode(result.frame()))
        assert result.code in set(protocol.Code)
    if isinstance(result, protocol.Send):
        sender = str(uuid.uuid4())
        relayed = protocol.encode(protocol.message_frame(sender, result.to, result.data))
        assert strictly_parsed(relayed)["from"] == sender
    if isinstance(result, protocol.BecomeAdmin):
        assert isinstance(result.key, str)


@FAST
@given(st.text(max_size=200))
def test_any_text_gives_a_request_or_a_refusal(text):
    check(text)


@FAST
@given(st.text(st.one_of(st.characters(codec=None), SURROGATES), max_size=200))
def test_any_text_with_lone_surrogates_gives_a_request_or_a_refusal(text):
    check(text)


@FAST
@given(frames())
def test_frames_with_hostile_values_give_a_request_or_a_refusal(text):
    check(text)


@FAST
@given(JSON_VALUES)
def test_any_json_value_as_data_is_relayed_as_strict_json(data):
    text = json.dumps({"to": "all", "data": data})
    result = protocol.parse(text)
    assert isinstance(result, protocol.Send | protocol.Refusal), result
    check(text)
    if isinstance(result, protocol.Send):
        relayed = protocol.encode(protocol.message_frame("x", "all", result.data))
        assert strictly_parsed(relayed)["data"] == json.loads(text)["data"]


@settings(max_examples=30, deadline=None)
@given(deep_frames())
def test_deep_nesting_gives_a_refusal_past_32_levels_and_never_raises(text):
    result = protocol.parse(text)
    check(text)
    balanced = text.count("[") + text.count("{") == text.count("]") + text.count("}")
    if not balanced:
        assert isinstance(result, protocol.Refusal) and result.code == protocol.Code.INVALID_JSON
    depth = text.count("[") + text.count("{")  # the outer object included
    if balanced and depth > protocol.MAX_DEPTH:
        assert isinstance(result, protocol.Refusal) and result.code == protocol.Code.INVALID_MESSAGE
    if balanced and depth <= protocol.MAX_DEPTH:
        assert isinstance(result, protocol.Send)


@settings(max_examples=60, deadline=None)
@given(number_frames())
def test_numbers_are_relayed_as_strict_json_or_refused_as_invalid_json(text):
    result = protocol.parse(text)
    check(text)
    assert isinstance(result, protocol.Send | protocol.Refusal), result
    if isinstance(result, protocol.Refusal):
        assert result.code == protocol.Code.INVALID_JSON, result
