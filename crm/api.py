"""Shared pieces of the REST API: the exception handler and small helpers every API view uses.

The exception handler lets services stay unaware of HTTP: they raise Django's
`ValidationError` (keyed by field), a domain conflict such as `leads.lifecycle.TransitionRefused`
or `Model.DoesNotExist`, and the API answers 400, 409 or 404 with a body that names the field and
the problem. `crm` sits below the apps, so apps register their conflict errors here
(`register_conflict`) rather than `crm` importing them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

# Form posts from the browsable API carry the CSRF token in the body; it is not a field.
_IGNORED_INPUT_KEYS = frozenset({"csrfmiddlewaretoken"})


_CONFLICTS: list[type[Exception]] = []


def register_conflict(exc_class: type[Exception]) -> type[Exception]:
    """Answer `exc_class` with 409 Conflict: `{"detail", "code", <field>: [message]}`.

    The class must carry `message`, `code` and `field` attributes (as TransitionRefused does):
    the request was well formed but the current state of the record refuses it.
    """
    if exc_class not in _CONFLICTS:
        _CONFLICTS.append(exc_class)
    return exc_class


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, taught the domain errors that services raise."""
    if isinstance(exc, tuple(_CONFLICTS)):
        return Response(
            {"detail": exc.message, "code": exc.code, exc.field: [exc.message]},  # type: ignore[attr-defined]
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(validation_error_detail(exc))
    elif isinstance(exc, ObjectDoesNotExist):
        exc = exceptions.NotFound(f"{_model_label(exc)} not found.")
    return drf_exception_handler(exc, context)


def validation_error_detail(exc: DjangoValidationError) -> dict[str, list[str]]:
    """`{field: [message, ...]}`; errors not tied to a field go under `non_field_errors`."""
    if hasattr(exc, "error_dict"):
        return {
            (api_settings.NON_FIELD_ERRORS_KEY if field == NON_FIELD_ERRORS else field): messages
            for field, messages in exc.message_dict.items()
        }
    return {api_settings.NON_FIELD_ERRORS_KEY: exc.messages}


def _model_label(exc: ObjectDoesNotExist) -> str:
    # Model.DoesNotExist has the qualified name "Lead.DoesNotExist".
    name = type(exc).__qualname__.removesuffix(".DoesNotExist")
    return name if name and name != "ObjectDoesNotExist" else "Object"


class AuthenticateHeaderMixin:
    """Answer anonymous requests 401 with a `WWW-Authenticate` header, not 403.

    DRF asks only the first authentication class for a challenge; SessionAuthentication (first
    in settings) has none, which turns "who are you?" into a misleading 403. Any class with a
    challenge (TokenAuthentication: `Token`) will do.
    """

    def get_authenticate_header(self, request: Request) -> str | None:
        for authenticator in self.get_authenticators():  # type: ignore[attr-defined]
            header = authenticator.authenticate_header(request)
            if header:
                return header
        return None


class DocumentedFilterSetBackend(DjangoFilterBackend):
    """Puts a view's `filterset_class` in the OpenAPI schema without filtering anything.

    The view's selector applies the filterset itself (so the page and the API share one code
    path); this backend only lets drf-spectacular describe the query parameters.
    """

    def filter_queryset(self, request: Request, queryset: Any, view: Any) -> Any:
        return queryset


class StrictInputMixin:
    """A write serializer that refuses keys it does not accept, instead of silently ignoring them.

    `read_only_messages` gives the reason for fields a client might expect to write (the stage,
    the scores); `read_only_fields_of` names the read serializer whose other fields are
    "read-only" rather than "unknown".
    """

    read_only_messages: Mapping[str, str] = {}
    read_only_fields_of: type[serializers.Serializer] | None = None

    def _unexpected_keys(self, data: Any) -> dict[str, list[str]]:
        if not isinstance(data, Mapping):
            return {}
        writable = {name for name, field in self.fields.items() if not field.read_only}  # type: ignore[attr-defined]
        readable = set(self.read_only_fields_of().fields) if self.read_only_fields_of else set()
        errors: dict[str, list[str]] = {}
        for key in data:
            if key in writable or key in _IGNORED_INPUT_KEYS:
                continue
            if key in self.read_only_messages:
                errors[key] = [self.read_only_messages[key]]
            elif key in readable:
                errors[key] = ["This field is read-only."]
            else:
                errors[key] = [f"Unknown field. Writable fields: {', '.join(sorted(writable))}."]
        return errors

    def to_internal_value(self, data: Any) -> Any:
        unexpected = self._unexpected_keys(data)
        try:
            value = super().to_internal_value(data)  # type: ignore[misc]
        except exceptions.ValidationError as exc:
            if unexpected and isinstance(exc.detail, dict):
                raise exceptions.ValidationError({**exc.detail, **unexpected}) from exc
            raise
        if unexpected:
            raise exceptions.ValidationError(unexpected)
        return value


class UserSummarySerializer(serializers.Serializer):
    """A user as other records show them: id and display name."""

    id = serializers.IntegerField(read_only=True)
    name = serializers.SerializerMethodField()

    def get_name(self, user: Any) -> str:
        return user.get_full_name() or user.get_username()


def user_summary(user: Any) -> dict[str, Any]:
    """`UserSummarySerializer(user).data`, built directly for long lists (tests hold them equal)."""
    return {"id": int(user.id), "name": user.get_full_name() or user.get_username()}


# The API token endpoints (issue, list, revoke) are in crm/security/api.py.


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


def refuse_large_body(request: Request, *, max_bytes: int) -> None:
    """Answer 413 before parsing a body longer than `max_bytes`.

    Django's DATA_UPLOAD_MAX_MEMORY_SIZE guards `request.body` and form data, but DRF's JSON
    parser reads the stream directly, so a JSON body has no limit unless the view sets one.
    """
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > max_bytes:
        raise PayloadTooLarge(f"The request body is {length:,} bytes; at most {max_bytes:,} are accepted. Split it.")
