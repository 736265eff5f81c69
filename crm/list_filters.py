"""Helpers shared by the filtered, keyset-paged list pages (the lead list, the MQL queue)."""

from __future__ import annotations

from typing import Any

from django.forms import Form
from django.http import QueryDict


def has_value(params: QueryDict, name: str) -> bool:
    """Whether the query string gives `name` a non-blank value."""
    return any(value.strip() for value in params.getlist(name))


def url_without(params: QueryDict, name: str, value: str | None = None) -> str:
    """This page's query string without `name` (or only its `value`), back on the first page."""
    query = params.copy()
    query.pop("cursor", None)
    if value is None:
        query.pop(name, None)
    else:
        query.setlist(name, [v for v in query.getlist(name) if v != value])
    for key in [key for key, values in query.lists() if not any(v.strip() for v in values)]:
        query.pop(key)
    return f"?{query.urlencode()}"


def checkbox_options(form: Form, name: str, choices: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Checkbox options for a multiple-choice filter, marking the selected ones."""
    selected = set(form[name].value() or [])
    return [
        {"value": value, "label": label, "checked": value in selected, "id": f"f-{name}-{value}"}
        for value, label in choices
    ]
