"""REST API views for leads, their activities and stage history, activity types and campaigns.

Thin, like the pages: parse input with a serializer, check permission (RolePermission, the
default: the model permission for the method, or `required_permissions`), call a selector or a
service, render. Domain errors become HTTP answers in `crm.api.exception_handler`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet
from django.http import QueryDict
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from crm import parsers
from crm.api import AuthenticateHeaderMixin, DocumentedFilterSetBackend, refuse_large_body
from leads import ingestion, selectors, services
from leads.filters import DEFAULT_SORT, LEAD_SORTS, LeadFilter, lead_sort_ordering
from leads.lifecycle import Actor
from leads.models import ActivityType, Campaign, FormSource, Lead
from leads.serializers import (
    LEAD_LIST_VALUES,
    ActivityBatchResultSerializer,
    ActivityItemSerializer,
    ActivityItemsSerializer,
    ActivitySerializer,
    ActivityTypeSerializer,
    CampaignCreateSerializer,
    CampaignSerializer,
    FormCaptureSerializer,
    LeadCreateSerializer,
    LeadDuplicateSerializer,
    LeadMergeSerializer,
    LeadSerializer,
    LeadTransitionSerializer,
    LeadUpdateSerializer,
    LeadUpsertSerializer,
    StageTransitionSerializer,
    lead_list_representation,
)

ACTIVITY_ORDERING = ("-occurred_at", "-id")

_ERRORS = {
    400: OpenApiResponse(OpenApiTypes.OBJECT, description="Bad input: `{field: [problem, ...]}`."),
    403: OpenApiResponse(OpenApiTypes.OBJECT, description="Your role does not allow this."),
    404: OpenApiResponse(OpenApiTypes.OBJECT, description="No such lead."),
}
_SORT_PARAMETER = OpenApiParameter(
    "sort",
    str,
    enum=list(LEAD_SORTS),
    default=DEFAULT_SORT,
    description="; ".join(f"`{key}`: {label}" for key, (label, _) in LEAD_SORTS.items()),
)


@extend_schema_view(
    list=extend_schema(
        summary="List leads",
        parameters=[_SORT_PARAMETER],
        responses={200: LeadSerializer(many=True), 400: _ERRORS[400]},
    ),
    retrieve=extend_schema(summary="Get a lead", responses={200: LeadSerializer, 404: _ERRORS[404]}),
    create=extend_schema(
        summary="Create a lead",
        description="Created at stage `lead`. The stage and the scores cannot be written (400).",
        request=LeadCreateSerializer,
        responses={201: LeadSerializer, 400: _ERRORS[400], 403: _ERRORS[403]},
    ),
    update=extend_schema(
        summary="Replace a lead's editable profile",
        description="Every editable field must be given. The stage, scores and email cannot be "
        "written (400); move the stage with `transition`.",
        request=LeadUpdateSerializer,
        responses={200: LeadSerializer, **_ERRORS},
    ),
    partial_update=extend_schema(
        summary="Change some of a lead's profile fields",
        description="The stage, scores and email cannot be written (400); move the stage with `transition`.",
        request=LeadUpdateSerializer,
        responses={200: LeadSerializer, **_ERRORS},
    ),
)
@extend_schema(tags=["leads"])
class LeadViewSet(AuthenticateHeaderMixin, viewsets.GenericViewSet):
    """Leads: read by every role; created and edited by roles holding add/change_lead."""

    serializer_class = LeadSerializer
    filter_backends = [DocumentedFilterSetBackend]
    filterset_class = LeadFilter
    lookup_value_converter = "int"
    # Set per action (see `@action(...)` below) where the model permission of the method is
    # not the right one; read by crm.permissions.RolePermission.
    required_permissions: list[str] | None = None

    def get_queryset(self) -> QuerySet[Lead]:
        return selectors.lead_queryset_for(user=self.request.user)

    def get_object(self) -> Lead:
        lead = selectors.lead_get(user=self.request.user, lead_id=self.kwargs["pk"])
        self.check_object_permissions(self.request, lead)
        return lead

    def keyset_ordering(self, request: Request) -> tuple[str, ...]:
        if self.action == "activities":
            return ACTIVITY_ORDERING
        return lead_sort_ordering(_lead_sort(request))

    def list(self, request: Request) -> Response:
        params = request.query_params.copy()
        # The sort is checked first so a bad one is a 400 naming `sort`. Passing it on also keeps
        # the filterset bound: lead_list treats empty params as an unbound, invalid filterset.
        params["sort"] = _lead_sort(request)
        queryset, _ = selectors.lead_list(user=request.user, params=params)
        # Plain rows of the columns a lead shows (its company, campaign, owner and scoring model
        # version joined in), rendered as LeadSerializer would: see lead_list_representation.
        page = self.paginate_queryset(queryset.values(*LEAD_LIST_VALUES))
        return self.get_paginated_response(lead_list_representation(page))

    def retrieve(self, request: Request, pk: int) -> Response:
        return Response(LeadSerializer(self.get_object()).data)

    def create(self, request: Request) -> Response:
        serializer = LeadCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        lead = services.lead_create(actor=Actor(user=request.user), **serializer.validated_data)
        lead = selectors.lead_get(user=request.user, lead_id=lead.pk)
        location = request.build_absolute_uri(f"{request.path}{lead.pk}/")
        return Response(LeadSerializer(lead).data, status=status.HTTP_201_CREATED, headers={"Location": location})

    def update(self, request: Request, pk: int, *, partial: bool = False) -> Response:
        lead = self.get_object()
        serializer = LeadUpdateSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        services.lead_update(lead_id=lead.pk, actor=Actor(user=request.user), **serializer.validated_data)
        return Response(LeadSerializer(selectors.lead_get(user=request.user, lead_id=lead.pk)).data)

    def partial_update(self, request: Request, pk: int) -> Response:
        return self.update(request, pk, partial=True)

    @extend_schema(
        summary="A lead's activities, newest first",
        responses={200: ActivitySerializer(many=True), 400: _ERRORS[400], 404: _ERRORS[404]},
    )
    @action(
        detail=True,
        methods=["get"],
        filter_backends=[],
        required_permissions=["leads.view_lead", "leads.view_activity"],
    )
    def activities(self, request: Request, pk: int) -> Response:
        lead = self.get_object()
        page = self.paginate_queryset(selectors.lead_activities(lead=lead))
        return self.get_paginated_response(ActivitySerializer(page, many=True).data)

    @extend_schema(
        summary="A lead's stage history, oldest first",
        responses={200: StageTransitionSerializer(many=True), 404: _ERRORS[404]},
    )
    @action(
        detail=True,
        methods=["get"],
        filter_backends=[],
        pagination_class=None,
        required_permissions=["leads.view_lead", "leads.view_stagetransition"],
    )
    def history(self, request: Request, pk: int) -> Response:
        lead = self.get_object()
        return Response(StageTransitionSerializer(selectors.lead_stage_history(lead=lead), many=True).data)

    @extend_schema(
        summary="Move a lead to another stage",
        description="Through the same services, and with the same permissions, as the pages: out of "
        "the funnel from sales' hands is the rep's rejection (the assignment ends, its SLA clock stops, "
        "an open opportunity is lost) — a marketer may not — and from the MQL queue the queue's "
        "decision; to opportunity or customer is the owner's or a manager's advance. SAL (acceptance) "
        "and SQL (the qualifying call) are refused with the endpoint that makes them. Refused moves "
        'answer 409 with `{"detail": message, "code": code, <field>: [message]}`, 403 when your role '
        "or the lead's assignment does not allow them, 400 naming the field, and change nothing.",
        request=LeadTransitionSerializer,
        responses={
            200: LeadSerializer,
            **_ERRORS,
            409: OpenApiResponse(OpenApiTypes.OBJECT, description="The lifecycle refused the move."),
        },
    )
    @action(
        detail=True,
        methods=["post"],
        filter_backends=[],
        required_permissions=["leads.view_lead", "leads.change_lead"],
    )
    def transition(self, request: Request, pk: int) -> Response:
        lead = self.get_object()
        serializer = LeadTransitionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.lead_move(
            lead_id=lead.pk,
            to=serializer.validated_data["to"],
            reason=serializer.validated_data["reason"],
            reason_code=serializer.validated_data["reason_code"],
            actor=Actor(user=request.user),
        )
        return Response(LeadSerializer(selectors.lead_get(user=request.user, lead_id=lead.pk)).data)

    @extend_schema(
        summary="Create or update a lead by email",
        description="Finds the lead by its email (trimmed, any case). A new lead is created at "
        "stage `lead` (201) with `company_name` and `utm` as its first-touch attribution; an existing "
        "one (200) gets the profile fields that are given and not blank — blanks never erase, and its "
        "attribution is never overwritten. The stage and scores cannot be written (400).",
        request=LeadUpsertSerializer,
        responses={
            200: OpenApiResponse(LeadSerializer, description="An existing lead, updated."),
            201: OpenApiResponse(LeadSerializer, description="A new lead."),
            400: _ERRORS[400],
            403: _ERRORS[403],
        },
    )
    @action(
        detail=False,
        methods=["put"],
        url_path="upsert",
        filter_backends=[],
        pagination_class=None,
        required_permissions=["leads.view_lead", "leads.add_lead", "leads.change_lead"],
    )
    def upsert(self, request: Request) -> Response:
        serializer = LeadUpsertSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        email, utm = fields.pop("email"), fields.pop("utm", None)
        lead, created = ingestion.lead_upsert(email=email, actor=Actor(user=request.user), fields=fields, utm=utm)
        body = LeadSerializer(selectors.lead_get(user=request.user, lead_id=lead.pk)).data
        if not created:
            return Response(body)
        location = request.build_absolute_uri(reverse("api-lead-detail", kwargs={"pk": lead.pk}))
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": location})

    @extend_schema(
        summary="Likely duplicates of a lead",
        description="Other leads with the same first and last name at the same company, or the "
        "same phone number (digits compared), oldest first; at most 10. Merge one with `merge`.",
        responses={200: LeadDuplicateSerializer(many=True), 404: _ERRORS[404]},
    )
    @action(
        detail=True,
        methods=["get"],
        filter_backends=[],
        pagination_class=None,
        required_permissions=["leads.view_lead"],
    )
    def duplicates(self, request: Request, pk: int) -> Response:
        lead = self.get_object()
        return Response(LeadDuplicateSerializer(selectors.lead_duplicates(lead=lead), many=True).data)

    @extend_schema(
        summary="Merge a duplicate into this lead",
        description="This lead survives. The duplicate's activities and stage history move to it, its "
        "blank profile fields are filled from the duplicate, the earlier first touch wins, and the "
        "duplicate is deleted. The merge is recorded with who made it; the lead is then rescored. "
        "A duplicate that does not exist, or this lead itself, is a 400 naming `duplicate`.",
        request=LeadMergeSerializer,
        responses={200: LeadSerializer, **_ERRORS},
    )
    @action(
        detail=True,
        methods=["post"],
        filter_backends=[],
        required_permissions=["leads.view_lead", "leads.change_lead"],
    )
    def merge(self, request: Request, pk: int) -> Response:
        lead = self.get_object()
        serializer = LeadMergeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.lead_merge(
            survivor_id=lead.pk,
            duplicate_id=serializer.validated_data["duplicate"],
            actor=Actor(user=request.user),
        )
        return Response(LeadSerializer(selectors.lead_get(user=request.user, lead_id=lead.pk)).data)


def _lead_sort(request: Request) -> str:
    sort = request.query_params.get("sort") or DEFAULT_SORT
    if sort not in LEAD_SORTS:
        raise exceptions.ValidationError({"sort": [f"“{sort}” is not a sort; choose one of: {', '.join(LEAD_SORTS)}."]})
    return sort


@extend_schema(tags=["activity types"])
@extend_schema_view(list=extend_schema(summary="The managed list of activity types"))
class ActivityTypeViewSet(AuthenticateHeaderMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Every activity type, active or not, as systems send them (`code`). A short list: unpaged."""

    queryset = ActivityType.objects.order_by("category", "name", "code")
    serializer_class = ActivityTypeSerializer
    filter_backends: list[Any] = []
    pagination_class = None


@extend_schema_view(
    list=extend_schema(summary="List campaigns", responses={200: CampaignSerializer(many=True), 400: _ERRORS[400]}),
    retrieve=extend_schema(
        summary="Get a campaign by slug",
        responses={200: CampaignSerializer, 404: OpenApiResponse(OpenApiTypes.OBJECT, description="No such campaign.")},
    ),
    create=extend_schema(
        summary="Create a campaign",
        request=CampaignCreateSerializer,
        responses={201: CampaignSerializer, 400: _ERRORS[400], 403: _ERRORS[403]},
    ),
)
@extend_schema(tags=["campaigns"])
class CampaignViewSet(
    AuthenticateHeaderMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Campaigns, by their slug (the utm_campaign value). Created by roles holding add_campaign."""

    queryset = Campaign.objects.all()
    serializer_class = CampaignSerializer
    filter_backends: list[Any] = []
    lookup_field = "slug"
    lookup_value_converter = "slug"

    def keyset_ordering(self, request: Request) -> tuple[str, ...]:
        return ("name", "id")

    def create(self, request: Request) -> Response:
        serializer = CampaignCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        campaign = services.campaign_create(**serializer.validated_data)
        return Response(CampaignSerializer(campaign).data, status=status.HTTP_201_CREATED)


# --- Ingestion: activities in bulk ------------------------------------------------------------

# 5,000 items of a few hundred bytes each fit easily; a body this big is a mistake or an attack.
ACTIVITY_BATCH_MAX_BYTES = 20 * 1024 * 1024

_JSON_TYPES = {dict: "an object", list: "a list", str: "a string", bool: "true or false", type(None): "null"}


def _batch_items(data: Any) -> list[Any]:
    """The items of a batch body: a JSON list, or an object `{"items": [...]}`. 400 otherwise."""
    if isinstance(data, list):
        return data
    expected = 'Send a JSON list of activities, or an object {"items": [...]}'
    if isinstance(data, Mapping):
        if "items" not in data:
            raise exceptions.ValidationError({"items": [f"This field is required. {expected}."]})
        unknown = sorted(set(data) - {"items"})
        if unknown:
            raise exceptions.ValidationError({key: [f"Unknown field. {expected}."] for key in unknown})
        data = data["items"]
        if isinstance(data, list):
            return data
    got = _JSON_TYPES.get(type(data), "a number")
    raise exceptions.ValidationError({"items": [f"{expected}; got {got}."]})


@extend_schema(
    tags=["activities"],
    summary="Record activities in bulk",
    description=(
        "Each item is one activity of one lead, found by its email or created (with its company, "
        f"from the email's domain). Up to {ingestion.MAX_ITEMS_PER_BATCH:,} items per request.\n\n"
        "Items are checked one by one, so a bad item never rejects the good ones: the answer is "
        "**always 200** once the batch is read, with one result per item, in request order — "
        "`created`, `duplicate` (this `source_system` + `external_id` was recorded before, or earlier "
        "in the batch: re-sending is safe, even while an earlier attempt is still being processed) or "
        "`error` with `{field: [problem]}`. Only a request that is not a batch at all is refused as a "
        f"whole: 400 for malformed JSON (nested more than {parsers.MAX_JSON_DEPTH} levels deep, or a "
        "string holding a NUL character or a lone surrogate, named by its place in the body), a body that is not a "
        f'list (or `{{"items": [...]}}`), or more than {ingestion.MAX_ITEMS_PER_BATCH:,} items (naming '
        "`items`); 413 for a body over 20 MB; 415 for anything but JSON.\n\n"
        "Needs the `add_activity` permission (Marketer, Manager, SDR roles). Creating a lead for an "
        "unknown email also needs `add_lead`, and its new company or campaign `add_company` / "
        "`add_campaign` (Marketer, Manager): without them such an item is an `email` error, or the "
        "lead is created without the company or campaign that does not exist yet. Integrations use the "
        "token of a user with the Marketer role, and the history shows that user as the creator of "
        "new leads. New activities are scored shortly after, in the background.\n\n"
        "UTM values are printable text of at most 200 characters; `utm_campaign` names the campaign "
        "by its slug (lower case, other characters made `-`: `Spring Launch` → `spring-launch`). "
        "Concurrent batches that share leads and external ids are safe: each activity is stored once."
    ),
    request=PolymorphicProxySerializer(
        component_name="ActivityBatch",
        serializers=[ActivityItemSerializer(many=True), ActivityItemsSerializer],
        resource_type_field_name=None,
        many=False,
    ),
    responses={
        200: ActivityBatchResultSerializer,
        400: OpenApiResponse(
            OpenApiTypes.OBJECT,
            description="Not a batch: malformed JSON (`detail`), or `{items: [problem]}`.",
        ),
        401: OpenApiResponse(OpenApiTypes.OBJECT, description="No or a wrong token."),
        403: _ERRORS[403],
        413: OpenApiResponse(OpenApiTypes.OBJECT, description="The body is over 20 MB."),
    },
    examples=[
        OpenApiExample(
            "Two activities",
            request_only=True,
            value=[
                {
                    "email": "ada@analytical.io",
                    "type": "content_download",
                    "occurred_at": "2026-11-22T09:30:00Z",
                    "source_system": "hubspot",
                    "external_id": "evt-1001",
                    "properties": {"topic": "pipeline analytics"},
                    "lead": {"first_name": "Ada", "job_title": "VP Marketing", "company_name": "Analytical"},
                    "utm": {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "spring-launch"},
                },
                {"email": "not-an-address", "type": "page_view", "source_system": "hubspot"},
            ],
        ),
        OpenApiExample(
            "Per-item results",
            response_only=True,
            value={
                "received": 2,
                "created": 1,
                "duplicates": 0,
                "errors": 1,
                "results": [
                    {
                        "index": 0,
                        "status": "created",
                        "activity_id": 5120,
                        "lead_id": 311,
                        "lead_created": True,
                    },
                    {
                        "index": 1,
                        "status": "error",
                        "errors": {"email": ["“not-an-address” is not a valid email address."]},
                    },
                ],
            },
        ),
    ],
)
class ActivityIngestView(AuthenticateHeaderMixin, APIView):
    """`POST /api/v1/activities/`: hands the parsed items straight to the ingestion service.

    No serializer per item: `activities_ingest` validates every item itself and writes the good
    ones with a handful of set-based queries, which is what lets a 1,000-item batch take a
    fraction of a second.
    """

    # JSON only (multipart or a form is a 415); NUL and lone surrogates are each item's own error.
    parser_classes = [parsers.BatchJSONParser]
    required_permissions = ["leads.add_activity"]

    def post(self, request: Request) -> Response:
        refuse_large_body(request, max_bytes=ACTIVITY_BATCH_MAX_BYTES)
        items = _batch_items(request.data)
        user = request.user  # its permissions are cached on it by the permission check: no queries
        results = ingestion.activities_ingest(
            items=items,
            actor=Actor(user=user),
            may_create_leads=user.has_perm("leads.add_lead"),
            may_create_companies=user.has_perm("leads.add_company"),
            may_create_campaigns=user.has_perm("leads.add_campaign"),
        )
        counts = {"created": 0, "duplicate": 0, "error": 0}
        rows = []
        for result in results:
            counts[result.status] += 1
            rows.append(result.as_dict())
        return Response(
            {
                "received": len(results),
                "created": counts["created"],
                "duplicates": counts["duplicate"],
                "errors": counts["error"],
                "results": rows,
            }
        )


# --- Ingestion: public website forms ---------------------------------------------------------

FORM_KEY_HEADER = "X-Baton-Form-Key"
FORM_KEY_FIELD = "form_key"
HONEYPOT_FIELD = "baton_hp"
# 50 fields of 2,000 characters (leads.ingestion.form_capture's limits), with room for encoding.
FORM_CAPTURE_MAX_BYTES = 256 * 1024
_RECEIVED = {"status": "received"}


def _form_key(request: Request) -> str:
    """The key from the header, else from the `form_key` field of the body."""
    key = request.headers.get(FORM_KEY_HEADER, "")
    if not key and isinstance(request.data, Mapping):
        value = request.data.get(FORM_KEY_FIELD, "")
        key = value if isinstance(value, str) else ""
    return key.strip()


class _FormCaptureThrottle(SimpleRateThrottle):
    def get_rate(self) -> str | None:
        # DRF reads the rates once, at import; reading them per request honours settings overrides.
        try:
            return api_settings.DEFAULT_THROTTLE_RATES[self.scope]
        except KeyError as exc:
            raise ImproperlyConfigured(f"Set REST_FRAMEWORK['DEFAULT_THROTTLE_RATES'][{self.scope!r}]") from exc


class FormCaptureIPThrottle(_FormCaptureThrottle):
    """Per client address (DRF's `get_ident`: mind REST_FRAMEWORK['NUM_PROXIES'] behind a proxy)."""

    scope = "form_capture_ip"

    def get_cache_key(self, request: Request, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class FormCaptureKeyThrottle(_FormCaptureThrottle):
    """Per form key, whether or not it is valid: one website cannot flood Baton from many addresses."""

    scope = "form_capture_key"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        key = _form_key(request)
        if not key:
            return None  # refused with 401 by the view; the address throttle still counts it
        ident = hashlib.sha256(key.encode()).hexdigest()[:32]
        return self.cache_format % {"scope": self.scope, "ident": ident}


def _form_fields(data: Any) -> dict[str, Any]:
    """The submitted fields as one value per name (repeated names, e.g. checkboxes, joined)."""
    if isinstance(data, QueryDict):
        fields = {}
        for name, values in data.lists():
            texts = [value for value in values if isinstance(value, str)]  # uploaded files are not kept
            if texts:
                fields[name] = ", ".join(texts)
        return fields
    if isinstance(data, Mapping):
        return dict(data)
    raise exceptions.ValidationError(
        {"non_field_errors": ["Send the form's fields as a JSON object, or form-encoded."]}
    )


@extend_schema(
    tags=["forms"],
    summary="Capture a website form submission",
    description=(
        "For website forms; public, so no user token or session (and no CSRF token). Each form "
        f"source has a key: send it in the `{FORM_KEY_HEADER}` header, or as a `{FORM_KEY_FIELD}` "
        "field when a plain HTML form posts form-encoded data. A missing key is a 401, an unknown key "
        "or one of a deactivated form source a 403.\n\n"
        "The lead is created, or its given fields updated, by email; the UTM fields become the "
        "first-touch attribution of a new lead; the other fields are kept on the form-submission "
        "activity. The answer is the same whether the email was known or not. Rate limited per key "
        "and per client address (429 with `Retry-After`)."
    ),
    auth=[],
    parameters=[
        OpenApiParameter(
            FORM_KEY_HEADER,
            str,
            location=OpenApiParameter.HEADER,
            required=False,
            description=f"The form source's key (or send a `{FORM_KEY_FIELD}` field).",
        )
    ],
    request={
        "application/json": FormCaptureSerializer,
        "application/x-www-form-urlencoded": FormCaptureSerializer,
        "multipart/form-data": FormCaptureSerializer,
    },
    responses={
        201: OpenApiResponse(OpenApiTypes.OBJECT, description='`{"status": "received"}`.'),
        400: _ERRORS[400],
        401: OpenApiResponse(OpenApiTypes.OBJECT, description="No form key."),
        403: OpenApiResponse(OpenApiTypes.OBJECT, description="Unknown key, or an inactive form source."),
        413: OpenApiResponse(OpenApiTypes.OBJECT, description="The body is over 256 KB."),
        429: OpenApiResponse(OpenApiTypes.OBJECT, description="Too many submissions; see `Retry-After`."),
    },
)
class FormCaptureView(APIView):
    """`POST /api/v1/forms/capture/`: a public endpoint, authenticated by the form source's key."""

    authentication_classes: list[Any] = []  # no session, so no CSRF; the form key is the credential
    permission_classes = [AllowAny]
    throttle_classes = [FormCaptureIPThrottle, FormCaptureKeyThrottle]
    # Baton's parsers (crm.parsers): the nesting limit and the NUL check run before a throttle
    # reads the body for the form key.
    parser_classes = [parsers.JSONParser, parsers.FormParser, parsers.MultiPartParser]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        refuse_large_body(request, max_bytes=FORM_CAPTURE_MAX_BYTES)  # before a throttle parses it
        super().initial(request, *args, **kwargs)

    def get_authenticate_header(self, request: Request) -> str:
        # A challenge keeps DRF from turning the 401 for a missing key into a 403.
        return f'FormKey header="{FORM_KEY_HEADER}"'

    def post(self, request: Request) -> Response:
        source = self._form_source(request)
        fields = _form_fields(request.data)
        fields.pop(FORM_KEY_FIELD, None)  # a credential, not a form field to keep
        if str(fields.pop(HONEYPOT_FIELD, "") or "").strip():
            return Response(_RECEIVED, status=status.HTTP_201_CREATED)  # a bot: answered, not stored
        ingestion.form_capture(source=source, data=fields)
        # The same answer for a new and a known email: an anonymous caller learns nothing about leads.
        return Response(_RECEIVED, status=status.HTTP_201_CREATED)

    def _form_source(self, request: Request) -> FormSource:
        key = _form_key(request)
        if not key:
            raise exceptions.NotAuthenticated(
                f"A form key is required: send it in the {FORM_KEY_HEADER} header, "
                f"or as a `{FORM_KEY_FIELD}` field of the form."
            )
        source = ingestion.form_source_for_key(key)
        if source is None:
            raise exceptions.PermissionDenied(
                "This form key is not valid: it is unknown, or its form source has been deactivated. "
                "Ask a Baton administrator for the form source's current key."
            )
        return source
