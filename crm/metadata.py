"""What the API answers to `OPTIONS`: the endpoint's name, media types and allowed methods.

DRF's `SimpleMetadata` also describes the fields of POST and PUT, by calling the view's
`get_serializer()` and, for PUT, its `get_object()`. Baton's API views choose a serializer per
action and read records through selectors keyed by the URL, so on the action routes that raised
(an AssertionError for the missing `serializer_class`, a KeyError for `pk` on `/leads/upsert/`)
and `OPTIONS` answered 500 on twelve endpoints. The request and response bodies are described
where they are exact — the OpenAPI schema — so this answer links to it and never builds a
serializer or reads a record: it cannot fail, and it costs no query.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from rest_framework.metadata import BaseMetadata
from rest_framework.request import Request


class APIMetadata(BaseMetadata):
    def determine_metadata(self, request: Request, view: Any) -> dict[str, Any]:
        return {
            "name": view.get_view_name(),
            "description": view.get_view_description(),
            "allowed_methods": list(view.allowed_methods),
            "renders": [renderer.media_type for renderer in view.renderer_classes],
            "parses": [parser.media_type for parser in view.parser_classes],
            "schema": request.build_absolute_uri(reverse("api-schema")),
        }
