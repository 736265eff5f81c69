"""Text that Baton refuses wherever it arrives: NUL characters and lone surrogates.

PostgreSQL cannot store U+0000 in text or JSON (psycopg refuses it, so the request answered 500),
and a lone surrogate (U+D800–U+DFFF on its own, which a JSON `\\ud800` escape produces) is not a
character at all: it cannot be encoded as UTF-8 to be stored, logged or sent on. Neither has any
use in a lead, a form or a filter, so both are refused at the door, with a 400 that names where
they were, before a form, a serializer or a query sees them:

- the query string and the path of every request, and form-encoded bodies, by
  `RefuseControlTextMiddleware` (pages and API alike; multipart bodies carry files, whose bytes are
  their own business, so their text fields are checked by the forms' and serializers' own
  validators and by `crm.parsers`);
- JSON, form and multipart bodies of the API, by the parsers in `crm.parsers`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

_SURROGATE = re.compile("[\ud800-\udfff]")
NUL_MESSAGE = "Contains a NUL character (U+0000), which Baton does not accept."


def text_problem(text: str) -> str | None:
    """What is wrong with `text`, or None: a NUL character, or a lone surrogate."""
    if "\x00" in text:
        return NUL_MESSAGE
    if not text.isascii():
        surrogate = _SURROGATE.search(text)
        if surrogate:
            return (
                f"Contains a lone surrogate (U+{ord(surrogate.group()):04X}), which is half of a character, "
                "not one: send text as UTF-8."
            )
    return None


def find_text_problem(data: Any) -> tuple[str, str] | None:
    """The first string (or key) in parsed JSON that `text_problem` refuses: (path, message).

    The path names where it is, as a client wrote it: `first_name`, `utm.utm_source`,
    `[3].properties.note`. Iterative, so it needs no recursion however deep the data is.
    """
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            message = text_problem(value)
            if message:
                return path or "body", message
        elif isinstance(value, dict):
            for key, item in reversed(list(value.items())):
                key_path = f"{path}.{key}" if path else str(key)
                message = text_problem(str(key))
                if message:
                    return key_path, f"The field name {message[0].lower()}{message[1:]}"
                stack.append((key_path, item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{index}]", item) for index, item in reversed(list(enumerate(value))))
    return None


def problem_body(path: str, message: str) -> dict[str, Any]:
    """`{"detail": "<path>: <message>", <top-level field>: [message]}`, like Baton's other 400s."""
    field = re.split(r"[.\[]", path, maxsplit=1)[0]
    body: dict[str, Any] = {"detail": f"{path}: {message}"}
    if field:
        body[field] = [message]
    return body


def _query_problems(pairs: Iterator[tuple[str, list[str]]]) -> tuple[str, str] | None:
    for name, values in pairs:
        for text in (name, *values):
            message = text_problem(text)
            if message:
                return name, message
    return None


class RefuseControlTextMiddleware:
    """400 for a NUL (or a lone surrogate) in the path, the query string or a form-encoded body.

    Cheap for every other request: the raw query string and body are searched for `%00` (and a
    raw NUL) before anything is decoded; only a hit decodes them, to name the parameter. A body
    over DATA_UPLOAD_MAX_MEMORY_SIZE is left to Django, which refuses it when it is read (and the
    form-capture endpoint answers 413 before that).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        found = self._problem(request)
        if found is not None:
            where, name, message = found
            return self._refuse(request, where, name, message)
        return self.get_response(request)

    def _problem(self, request: HttpRequest) -> tuple[str, str, str] | None:
        message = text_problem(request.path_info)
        if message:
            return "address", "path", message
        if _may_hold_nul(request.META.get("QUERY_STRING", "")):
            found = _query_problems(request.GET.lists())
            if found:
                return "query parameter", *found
        form = request.content_type == "application/x-www-form-urlencoded" and _small_enough(request)
        if form and _may_hold_nul(request.body):
            found = _query_problems(request.POST.lists())
            if found:
                return "form field", *found
        return None

    def _refuse(self, request: HttpRequest, where: str, name: str, message: str) -> HttpResponse:
        name = name.replace("\x00", "\\u0000")
        detail = f"The {where} “{name}”: {message}" if where != "address" else f"The address: {message}"
        if request.path_info.startswith("/api/"):
            body = {"detail": detail, **({name: [message]} if where != "address" else {})}
            return HttpResponse(json.dumps(body), status=400, content_type="application/json")
        return HttpResponseBadRequest(detail, content_type="text/plain; charset=utf-8")


def _may_hold_nul(raw: str | bytes) -> bool:
    if isinstance(raw, bytes):
        return b"%00" in raw or b"\x00" in raw
    return "%00" in raw or "\x00" in raw


def _small_enough(request: HttpRequest) -> bool:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return length > 0 and (limit is None or length <= limit)
