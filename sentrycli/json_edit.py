"""Set one value in a JSON document's text, leaving every other character as it was.

`sentry setup` writes one value into files people lay out by hand
(.chalice/config.json, a stage's policy). Dumping the parsed document again
would reformat all of it, so this reads the text with the standard library's
decoder at offsets, finds where the value lies, and replaces just those
characters, or inserts the one member that is missing, laid out like the
member before it.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# Keys of objects and indexes of arrays, from the top of the document.
Location = Sequence[str | int]

_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")


class CannotEdit(ValueError):
    """The value cannot be set without rewriting more of the document than the value itself."""


@dataclass(frozen=True)
class _Item:
    """One member of an object (or element of an array), where it lies in the text."""

    key: str | int
    start: int  # the key's opening quote (an element: its first character)
    colon: str  # what separates the key from its value, e.g. ": " ("" in an array)
    value_start: int
    value_end: int


def set_value(text: str, location: Location, value: Any, *, replace: bool = True) -> str:
    """`text` with `value` at `location`; `text` must be valid JSON (json.loads it first).

    A missing key is inserted, with any objects that lead to it. An existing
    value is replaced, unless `replace` is false or it is `value` already (then
    it stays as written, however it is laid out). Raises CannotEdit when a
    step is not an object (or array), a key appears twice, or an index is
    missing.
    """
    document = json.loads(text)
    start = _skip(text, 0)
    for depth, key in enumerate(location):
        items = _items(text, start, location[:depth], array=isinstance(key, int))
        found = [item for item in items if item.key == key]
        if len(found) > 1:
            raise CannotEdit(f"{_name(location[: depth + 1])} appears {len(found)} times")
        if not found:
            if any(isinstance(step, int) for step in location[depth:]):
                raise CannotEdit(f"{_name(location[: depth + 1])} is not there")
            missing = value
            for outer in reversed(location[depth + 1 :]):
                missing = {outer: missing}
            edited = _insert(text, start, items, str(key), missing)
            break
        start = found[0].value_start
    else:
        current, end = _DECODER.raw_decode(text, start)
        if not replace or _canonical(current) == _canonical(value):
            return text
        edited = text[:start] + json.dumps(value, ensure_ascii=False) + text[end:]
    # A safeguard: the edit changes the value at `location` and nothing else.
    if json.loads(edited) != _assigned(document, location, value):
        raise CannotEdit(f"setting {_name(location)} would change more than that value")
    return edited


def _items(text: str, start: int, where: Location, array: bool) -> list[_Item]:
    """The members of the object (or elements of the array) that starts at `start`."""
    opening, closing = ("[", "]") if array else ("{", "}")
    if text[start] != opening:
        raise CannotEdit(f"{_name(where)} is not an {'array' if array else 'object'}")
    items: list[_Item] = []
    index = _skip(text, start + 1)
    while text[index] != closing:
        item_start, key, colon = index, len(items), ""
        if not array:
            key, key_end = _DECODER.raw_decode(text, index)  # the key is a JSON string
            index = _skip(text, _skip(text, key_end) + 1)  # past the colon
            colon = text[key_end:index]
        value_end = _DECODER.raw_decode(text, index)[1]
        items.append(_Item(key, item_start, colon, index, value_end))
        index = _skip(text, value_end)
        if text[index] == ",":
            index = _skip(text, index + 1)
    return items


def _insert(text: str, start: int, items: list[_Item], key: str, value: Any) -> str:
    """`text` with the member `key`: `value` added last to the object at `start`."""
    if not items:  # an empty object: the member goes just inside its brace
        member = f"{json.dumps(key, ensure_ascii=False)}: {json.dumps(value, ensure_ascii=False)}"
        return text[: start + 1] + member + text[start + 1 :]
    last = items[-1]
    lead = text[_skip_back(text, last.start) : last.start]  # e.g. "\n    ": the last member's line and indent
    rendered = json.dumps(value, ensure_ascii=False)
    if "\n" not in lead and len(items) == 1:
        lead = " "  # one member on one line: nothing to copy but the usual space after a comma
    elif "\n" in lead:
        newline = "\r\n" if "\r\n" in lead else "\n"
        indent = lead.rsplit("\n", 1)[1]
        tail = text[last.value_end : _skip(text, last.value_end)]  # before the closing brace
        outer = tail.rsplit("\n", 1)[1] if "\n" in tail else ""
        unit = indent[len(outer) :] if indent.startswith(outer) and indent != outer else indent[:1] or " "
        rendered = json.dumps(value, indent=unit, ensure_ascii=False).replace("\n", newline + indent)
    member = f",{lead}{json.dumps(key, ensure_ascii=False)}{last.colon}{rendered}"
    return text[: last.value_end] + member + text[last.value_end :]


def _assigned(document: Any, location: Location, value: Any) -> Any:
    """A copy of `document` with `value` at `location` (objects made on the way): what the edit must give."""
    result = copy.deepcopy(document)
    node = result
    for key in location[:-1]:
        node = node.setdefault(key, {}) if isinstance(node, dict) else node[key]
    node[location[-1]] = value
    return result


def _canonical(value: Any) -> str:
    """`value` as JSON text, one way for equal values: 1, 1.0 and true stay three values (Python's == is looser)."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _skip(text: str, index: int) -> int:
    match = _SPACE.match(text, index)
    assert match is not None  # the pattern matches the empty string
    return match.end()


def _skip_back(text: str, index: int) -> int:
    while index and text[index - 1] in " \t\n\r":
        index -= 1
    return index


def _name(location: Location) -> str:
    """`location` as a person reads it: stages.dev.environment_variables, Statement[3]."""
    named = "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in location)
    return named.lstrip(".") or "the document"
