"""REST API views for leads, their activities and stage history, activity types and campaigns.

Thin, like the pages: parse input with a serializer, check permission (RolePermission, the
default: the model permission for the method, or `required_permissions`), call a selector or a
service, render. Domain errors become HTTP answers in `crm.api.exception_handler`.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from crm.api import AuthenticateHeaderMixin, DocumentedFilterSetBackend
from leads import selectors, services
from leads.filters import DEFAULT_SORT, LEAD_SORTS, LeadFilter, lead_sort_ordering
from leads.lifecycle import Actor
from leads.models import ActivityType, Campaign, Lead
from leads.serializers import (
    ActivitySerializer,
    ActivityTypeSerializer,
    CampaignCreateSerializer,
    CampaignSerializer,
    LeadCreateSerializer,
    LeadSerializer,
    LeadTransitionSerializer,
    LeadUpdateSerializer,
    StageTransitionSerializer,
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
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(LeadSerializer(page, many=True).data)

    def retrieve(self, request: Request, pk: int) -> Response:
        return Response(LeadSerializer(self.get_object()).data)

    def create(self, request: Request) -> Response:
        serializer = LeadCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        lead = services.lead_create(actor=Actor(user=request.user), **serializer.validated_data)
        lead = selectors.lead_get(user=request.user, lead_id=lead.pk)
        location = request.build_absolute_uri(f"{request.path}{lead.pk}/")
        return Response(
            LeadSerializer(lead).data, status=status.HTTP_201_CREATED, headers={"Location": location}
        )

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
        responses={200: ActivitySerializer(many=True), 404: _ERRORS[404]},
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
        description="The only way to change a lead's stage. Refused moves answer 409 with "
        '`{"detail": message, "code": code, <field>: [message]}` and change nothing.',
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
        services.lead_transition(
            lead_id=lead.pk,
            to=serializer.validated_data["to"],
            reason=serializer.validated_data["reason"],
            actor=Actor(user=request.user),
        )
        return Response(LeadSerializer(selectors.lead_get(user=request.user, lead_id=lead.pk)).data)


def _lead_sort(request: Request) -> str:
    sort = request.query_params.get("sort") or DEFAULT_SORT
    if sort not in LEAD_SORTS:
        raise exceptions.ValidationError(
            {"sort": [f"“{sort}” is not a sort; choose one of: {', '.join(LEAD_SORTS)}."]}
        )
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
    list=extend_schema(summary="List campaigns"),
    retrieve=extend_schema(summary="Get a campaign by slug"),
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
