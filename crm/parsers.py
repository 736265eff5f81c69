"""The API's request parsers: DRF's, refusing hostile bodies with a 400 that names the problem.

`REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]` names these, so every API view reads its body through
them (views that narrow the list pick from here too):

- **Nesting depth.** Python's JSON decoder recurses once per level, so `[[[[…]]]]` ten thousand
  levels deep raised RecursionError — a 500, and before the view ran, since the form-capture
  throttles read the body to find the form key. `JSONParser` measures the depth on the raw bytes
  first, without recursing and without building anything, and refuses more than `max_depth`
  levels. No Baton body needs more than a few.
- **NUL and lone surrogates** in any string or key (`\\u0000`, `\\ud800`): see `crm.input_guard`.
- **Numbers JSON cannot round-trip.** `1e999` parses as infinity, which PostgreSQL's JSON refuses.
- **Bytes that are not UTF-8** (or the charset the request names) are a 400 saying so.
"""

from __future__ import annotations

import codecs
import math
import re
from typing import Any

from django.http import QueryDict
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils import json

from crm.input_guard import find_text_problem, problem_body, text_problem

MAX_JSON_DEPTH = 32

_ALL_BUT_BRACKETS_AND_QUOTES = bytes(byte for byte in range(256) if byte not in b'[]{}"')
_OPEN_CLOSE = bytes.maketrans(b"[{]}", b"(())")
# Escapes that decode to NUL or to half of a surrogate pair: only then is the parsed data walked.
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")


def json_depth_problem(raw: bytes, *, max_depth: int) -> str | None:
    """Why the JSON in `raw` (UTF-8) is refused for its nesting, or None. No recursion, C speed.

    Escaped backslashes and quotes are dropped (so every `"` left opens or closes a string), then
    everything but brackets and quotes, then the strings; `[`/`{` become `(` and `]`/`}` become `)`.
    A run of more than `max_depth` `(` is too deep at once; otherwise each pass removes the innermost
    `()` pairs, one level a pass: JSON at most `max_depth` deep is empty after `max_depth` passes,
    and whatever is left is deeper, or brackets that are never closed. (Brackets of the wrong kind,
    `[}`, are the decoder's to refuse: its recursion is bounded by this depth.)
    """
    if b"\\" in raw:  # `\\` first (left to right, as the decoder reads them), then `\"`
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    # With no escapes left, quotes alternate: every other piece between them is inside a string.
    outside_strings = b"".join(raw.translate(None, _ALL_BUT_BRACKETS_AND_QUOTES).split(b'"')[::2])
    brackets = outside_strings.translate(_OPEN_CLOSE)
    too_deep = b"(" * (max_depth + 1)
    for _ in range(max_depth):
        if not brackets:
            return None
        if too_deep in brackets:  # found at once for the usual attack, [[[[… or {"a":{"a":…
            break
        shorter = brackets.replace(b"()", b"")
        if len(shorter) == len(brackets):
            break
        brackets = shorter
    if not brackets:
        return None
    if brackets.count(b"(") * 2 == len(brackets):
        return f"The JSON is nested more than {max_depth} levels deep (lists and objects inside each other)."
    return "The JSON's brackets do not match: a list or an object is not closed, or closed twice."


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is too large to store")
    return value


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with a depth limit, refusing NUL, lone surrogates and infinite numbers."""

    max_depth = MAX_JSON_DEPTH
    refuse_bad_text = True

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict[str, Any] | None = None) -> Any:
        encoding = parsers.get_encoding(parser_context or {})
        raw = stream.read() if stream is not None else b""
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            raise ParseError(
                f"JSON parse error - the body is not valid {encoding.upper()} (byte {exc.start}); "
                "send JSON encoded as UTF-8."
            ) from exc
        utf8 = raw if codecs.lookup(encoding).name == "utf-8" else text.encode("utf-8", "surrogatepass")
        problem = json_depth_problem(utf8, max_depth=self.max_depth)
        if problem:
            raise ParseError(f"JSON parse error - {problem}")
        try:
            data = json.loads(
                text,
                parse_constant=json.strict_constant if self.strict else None,
                parse_float=_finite_float,
            )
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        if self.refuse_bad_text and _SUSPECT_ESCAPE.search(utf8):
            found = find_text_problem(data)
            if found:
                raise ParseError(problem_body(*found))
        return data


class BatchJSONParser(JSONParser):
    """For batches whose service answers item by item (activity ingestion): the depth and number
    checks stay, but NUL and lone surrogates are left to the service, so one bad item is that
    item's error and the rest of the batch is stored."""

    refuse_bad_text = False


def _refuse_bad_text(data: QueryDict) -> None:
    for name, values in data.lists():
        for value in (name, *values):
            message = text_problem(value) if isinstance(value, str) else None
            if message:
                raise ParseError(problem_body(name.replace("\x00", "\\u0000"), message))


class FormParser(parsers.FormParser):
    """DRF's form parser, refusing NUL and lone surrogates in field names and values."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict[str, Any] | None = None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        _refuse_bad_text(data)
        return data


class MultiPartParser(parsers.MultiPartParser):
    """DRF's multipart parser, refusing NUL and lone surrogates in the text fields (not the files)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict[str, Any] | None = None) -> Any:
        parsed = super().parse(stream, media_type, parser_context)
        _refuse_bad_text(parsed.data)
        return parsed
