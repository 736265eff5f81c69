"""Keyset ("cursor") pagination, for pages and the API alike.

OFFSET pagination reads and throws away every row before the page, so page 20,000 of a
million-lead list costs as much as reading 20,000 pages. Keyset pagination remembers the sort
key of the last row shown and asks for the rows after it, which an index on (sort key, id)
answers in the same time on any page. The price: pages are "next" and "previous", not numbers.
Counts are capped (`count_capped`) for the same reason.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.db.models import Model, Q, QuerySet
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response

COUNT_CAP = 10_000


@dataclass
class KeysetPage:
    object_list: list[Any]
    next_cursor: str | None
    previous_cursor: str | None
    start_index: int  # 1-based position of the first row, for "Showing 51–100"
    per_page: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def has_next(self) -> bool:
        return self.next_cursor is not None

    @property
    def has_previous(self) -> bool:
        return self.previous_cursor is not None

    @property
    def end_index(self) -> int:
        return self.start_index + len(self.object_list) - 1

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.object_list)

    def __len__(self) -> int:
        return len(self.object_list)


class KeysetPaginator:
    """Pages a queryset ordered by `ordering`, whose last key must be unique (the id)."""

    def __init__(self, queryset: QuerySet, *, ordering: Sequence[str], per_page: int) -> None:
        if not ordering or ordering[-1].lstrip("-") not in {"id", "pk"}:
            raise ValueError("Keyset ordering must end with the primary key as tiebreaker")
        self.queryset = queryset
        self.ordering = tuple(ordering)
        self.per_page = per_page
        self.model: type[Model] = queryset.model

    # -- cursors ------------------------------------------------------------------------------
    def _encode(self, row: Any, *, direction: str, position: int) -> str:
        values = [self._value_of(row, key.lstrip("-")) for key in self.ordering]
        payload = {"v": [_jsonable(v) for v in values], "d": direction, "p": position}
        raw = json.dumps(payload, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _decode(self, cursor: str) -> tuple[list[Any], str, int]:
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
            raw_values, direction, position = payload["v"], payload["d"], int(payload["p"])
            if direction not in {"n", "p"} or len(raw_values) != len(self.ordering) or position < 0:
                raise ValueError("malformed")
            values = [
                self._field(key.lstrip("-")).to_python(value)
                for key, value in zip(self.ordering, raw_values, strict=True)
            ]
        except (ValueError, KeyError, TypeError, binascii.Error, ValidationError) as exc:
            raise InvalidCursorError(
                "The page cursor is invalid or out of date; start from the first page."
            ) from exc
        return values, direction, position

    def _field(self, name: str):  # type: ignore[no-untyped-def]
        return self.model._meta.pk if name == "pk" else self.model._meta.get_field(name)

    def _value_of(self, row: Any, name: str) -> Any:
        """The sort key `name` of a row: a model instance, or a dict from `QuerySet.values()`."""
        if isinstance(row, Mapping):
            return row[name] if name in row else row[self._field(name).attname]
        return row.pk if name == "pk" else getattr(row, self._field(name).attname)

    # -- queries ------------------------------------------------------------------------------
    def _after(self, values: list[Any], *, reverse: bool) -> Q:
        """Rows strictly after `values` in this ordering (before, when `reverse`)."""
        condition = Q()
        equal_so_far = Q()
        for key, value in zip(self.ordering, values, strict=True):
            name = key.lstrip("-")
            descending = key.startswith("-") != reverse
            condition |= equal_so_far & Q(**{f"{name}__{'lt' if descending else 'gt'}": value})
            equal_so_far &= Q(**{name: value})
        # A redundant bound on the leading key lets the database range-scan its index.
        lead_name = self.ordering[0].lstrip("-")
        lead_descending = self.ordering[0].startswith("-") != reverse
        bound = Q(**{f"{lead_name}__{'lte' if lead_descending else 'gte'}": values[0]})
        return bound & condition

    def page(self, cursor: str | None = None) -> KeysetPage:
        size = self.per_page
        if not cursor:
            rows = list(self.queryset.order_by(*self.ordering)[: size + 1])
            has_more = len(rows) > size
            rows = rows[:size]
            return KeysetPage(
                rows,
                self._encode(rows[-1], direction="n", position=size) if has_more else None,
                None,
                1 if rows else 0,
                size,
            )
        values, direction, position = self._decode(cursor)
        if direction == "n":
            rows = list(
                self.queryset.filter(self._after(values, reverse=False)).order_by(*self.ordering)[: size + 1]
            )
            has_more = len(rows) > size
            rows = rows[:size]
            start = position
            next_cursor = self._encode(rows[-1], direction="n", position=start + size) if has_more else None
            previous_cursor = self._encode(rows[0], direction="p", position=start) if rows else None
        else:
            flipped = [key[1:] if key.startswith("-") else f"-{key}" for key in self.ordering]
            rows = list(
                self.queryset.filter(self._after(values, reverse=True)).order_by(*flipped)[: size + 1]
            )
            has_more = len(rows) > size
            rows = list(reversed(rows[:size]))
            start = max(position - len(rows), 0)
            previous_cursor = (
                self._encode(rows[0], direction="p", position=start) if has_more and rows else None
            )
            next_cursor = self._encode(rows[-1], direction="n", position=start + len(rows)) if rows else None
        return KeysetPage(rows, next_cursor, previous_cursor, start + 1 if rows else 0, size)


class InvalidCursorError(ValueError):
    pass


def count_capped(queryset: QuerySet, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """(count, capped): exact up to `cap`, so counting never scans a million rows. Only the ids
    are read (a `.values(...)` queryset would otherwise count whole rows, joins and all)."""
    count = queryset.order_by().values("pk")[: cap + 1].count()
    return min(count, cap), count > cap


def _jsonable(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


class KeysetAPIPagination(BasePagination):
    """DRF pagination over KeysetPaginator. Views declare `keyset_ordering(request)`."""

    page_size = 50
    max_page_size = 200
    cursor_query_param = "cursor"
    page_size_query_param = "page_size"

    def paginate_queryset(self, queryset: QuerySet, request: Request, view: Any = None) -> list[Any]:
        from rest_framework.exceptions import ValidationError as APIValidationError

        try:
            size = int(request.query_params.get(self.page_size_query_param, self.page_size))
        except ValueError as exc:
            raise APIValidationError({"page_size": "Must be a whole number."}) from exc
        if not 1 <= size <= self.max_page_size:
            raise APIValidationError({"page_size": f"Must be between 1 and {self.max_page_size}."})
        ordering = view.keyset_ordering(request) if hasattr(view, "keyset_ordering") else ("-id",)
        paginator = KeysetPaginator(queryset, ordering=ordering, per_page=size)
        try:
            self.page = paginator.page(request.query_params.get(self.cursor_query_param))
        except InvalidCursorError as exc:
            raise APIValidationError({"cursor": str(exc)}) from exc
        self.request = request
        return self.page.object_list

    def _link(self, cursor: str | None) -> str | None:
        if cursor is None:
            return None
        params = self.request.query_params.copy()
        params[self.cursor_query_param] = cursor
        return self.request.build_absolute_uri(f"{self.request.path}?{urlencode(params, doseq=True)}")

    def get_paginated_response(self, data: list[Any]) -> Response:
        return Response(
            {
                "next": self._link(self.page.next_cursor),
                "previous": self._link(self.page.previous_cursor),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["results"],
            "properties": {
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Opaque cursor from the `next` or `previous` link.",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Results per page (1–{self.max_page_size}, default {self.page_size}).",
                "schema": {"type": "integer"},
            },
        ]
