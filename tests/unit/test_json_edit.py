"""Setting one value in a JSON document's text: only that value's characters change."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sentrycli.json_edit import CannotEdit, set_value


@pytest.mark.parametrize(
    ("text", "location", "edited"),
    [
        ('{"a" :1 , "b":  [1,2]}', ["b"], '{"a" :1 , "b":  "v"}'),
        ('{"a": [0, {"b": 1}]}', ["a", 1, "b"], '{"a": [0, {"b": "v"}]}'),
        ('{"a": {}}', ["a", "b"], '{"a": {"b": "v"}}'),
        ('{"a": 1}', ["b"], '{"a": 1, "b": "v"}'),
        ('{ "a": 1,   "b": 2 }', ["c"], '{ "a": 1,   "b": 2,   "c": "v" }'),
        (
            '{\r\n\t"a": {\r\n\t\t"b": 1\r\n\t}\r\n}',
            ["a", "c", "d"],
            '{\r\n\t"a": {\r\n\t\t"b": 1,\r\n\t\t"c": {\r\n\t\t\t"d": "v"\r\n\t\t}\r\n\t}\r\n}',
        ),
        ('{\n    "x": "caf\\u00e9",\n    "a": 1\n}\n', ["a"], '{\n    "x": "caf\\u00e9",\n    "a": "v"\n}\n'),
    ],
    ids=["replace", "in-array", "empty-object", "one-line", "spaced", "crlf-tabs-nested", "escapes-kept"],
)
def test_only_the_value_changes(text: str, location: list[str | int], edited: str) -> None:
    assert set_value(text, location, "v") == edited


def test_an_existing_value_is_kept_when_asked() -> None:
    text = '{"a":   1}'
    assert set_value(text, ["a"], "v", replace=False) is text
    assert set_value(text, ["b"], "v", replace=False) == '{"a":   1, "b":   "v"}'  # laid out like its neighbour


def test_a_value_that_is_there_already_stays_as_written() -> None:
    text = '{"Resource": [\n  "a",\n  "b"\n], "n": 1, "s": "caf\\u00e9"}'
    assert set_value(text, ["Resource"], ["a", "b"]) is text
    assert set_value(text, ["s"], "café") is text
    # Equal in Python is not enough: 1, 1.0 and true are three JSON values, and order makes another list.
    assert set_value(text, ["n"], True) == text.replace('"n": 1', '"n": true')
    assert set_value(text, ["n"], 1.0) == text.replace('"n": 1', '"n": 1.0')
    assert set_value(text, ["Resource"], ["b", "a"]) == '{"Resource": ["b", "a"], "n": 1, "s": "caf\\u00e9"}'


@pytest.mark.parametrize(
    ("text", "location", "message"),
    [
        ('{"a": [1]}', ["a", "b"], "a is not an object"),
        ('{"a": {"b": 1}}', ["a", 0], "a is not an array"),
        ('{"a": [1]}', ["a", 3], r"a\[3\] is not there"),
        ('{"a": 1, "a": 2}', ["a"], "a appears 2 times"),
        ("[1]", ["a"], "the document is not an object"),
    ],
    ids=["not-an-object", "not-an-array", "no-such-index", "key-twice", "top"],
)
def test_what_cannot_be_edited_in_place_is_refused(text: str, location: list[str | int], message: str) -> None:
    with pytest.raises(CannotEdit, match=message):
        set_value(text, location, "v")


# Keys and strings from a few characters, escapes among them: the layouts are what varies.
TEXT = st.text(alphabet='ab "\\é\n', max_size=3)
SCALARS = st.none() | st.booleans() | st.integers() | TEXT
DOCUMENTS = st.dictionaries(
    TEXT,
    st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner), max_leaves=6),
    max_size=4,
)


def scalar_locations(value: Any, location: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """Where `value` holds a scalar, at any depth."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else None
    if items is None:
        yield location
        return
    for key, item in items:
        yield from scalar_locations(item, (*location, key))


@settings(max_examples=60, deadline=None, database=None, derandomize=True)
@given(DOCUMENTS, st.sampled_from([None, 0, 2, "\t"]), st.sampled_from([(", ", ": "), (",", ":"), (" ,", " : ")]))
def test_in_any_layout_only_the_value_changes(document: dict[str, Any], indent: Any, separators: Any) -> None:
    text = json.dumps(document, indent=indent, separators=separators)
    for location in [*scalar_locations(document), ("a new key",)]:
        if location == ("a new key",) and "a new key" in document:
            continue
        edited = set_value(text, location, "v")
        # Outside one span no longer than the old value, every character is where it was.
        old = json.dumps(_at(document, location)) if location != ("a new key",) else ""
        same = _common_prefix(text, edited) + _common_prefix(text[::-1], edited[::-1])
        assert same >= len(text) - len(old)


def _at(document: Any, location: tuple[str | int, ...]) -> Any:
    for key in location:
        document = document[key]
    return document


def _common_prefix(a: str, b: str) -> int:
    return next((at for at, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
