"""Setting one value in a JSON document's text: only that value's characters change."""

from __future__ import annotations

import pytest

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
