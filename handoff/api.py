"""REST API views for the handoff: the MQL queue and its bulk actions, the SLA board of
assignments, the work on one lead (touches, accept, reject, discovery calls with BANT,
conversion, advancing, reassignment), opportunities, the managed reasons and notifications.

Thin, like the pages: parse input with a serializer, check the role's permission
(`crm.permissions.RolePermission` reads `required_permissions`, set per action below), call a
selector or a service, render. The services decide who may act on which lead (an SDR only on
leads assigned to them, a manager on any) and raise `PermissionDenied` (403),
`ValidationError` keyed by field (400) or `TransitionRefused` (409); `crm.api.exception_handler`
turns them into answers. Lists are scoped in their queryset by `handoff.selectors.api`.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from crm.api import AuthenticateHeaderMixin, DocumentedFilterSetBackend
from handoff import services
from handoff.models import Notification, Opportunity, ReasonUse, RejectionReason, SlaClock
from handoff.selectors import api as selectors
from handoff.serializers import (
    AdvanceSerializer,
    AssignmentSerializer,
    BulkResultSerializer,
    CallLoggedSerializer,
    ConvertSerializer,
    DiscoveryCallCreateSerializer,
    DiscoveryCallSerializer,
    DisqualifySerializer,
    HandOffSerializer,
    MarkReadResultSerializer,
    MarkReadSerializer,
    NotificationSerializer,
    NurtureSerializer,
    OpportunitySerializer,
    QueueLeadSerializer,
    ReassignSerializer,
    RejectionReasonSerializer,
    RejectSerializer,
    TouchCreateSerializer,
    TouchSerializer,
)
from leads import selectors as lead_selectors
from leads.lifecycle import Stage
from leads.models import Lead
from leads.serializers import LeadSerializer

_ERRORS = {
    400: OpenApiResponse(OpenApiTypes.OBJECT, description="Bad input: `{field: [problem, ...]}`."),
    401: OpenApiResponse(OpenApiTypes.OBJECT, description="Not signed in: no or a wrong token."),
    403: OpenApiResponse(OpenApiTypes.OBJECT, description="Your role, or this lead's assignment, does not allow this."),
    404: OpenApiResponse(OpenApiTypes.OBJECT, description="No such lead."),
    409: OpenApiResponse(
        OpenApiTypes.OBJECT,
        description='The lifecycle refused the stage change: `{"detail", "code", <field>: [message]}`.',
    ),
}


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: _ERRORS[code] for code in codes}


def _choice_param(request: Request, name: str, choices: dict[str, Any], default: str | None) -> str | None:
    value = request.query_params.get(name) or default
    if value is not None and value not in choices:
        raise exceptions.ValidationError({name: [f"“{value}” is not one of: {', '.join(choices)}."]})
    return value


class HandoffViewSet(AuthenticateHeaderMixin, viewsets.GenericViewSet):
    """Base: the permissions each action needs, read by crm.permissions.RolePermission."""

    filter_backends: list[Any] = []
    action_permissions: dict[str, list[str]] = {}

    @property
    def required_permissions(self) -> list[str]:
        # OPTIONS (no action) needs what the first action needs.
        default = next(iter(self.action_permissions.values()), [])
        return self.action_permissions.get(getattr(self, "action", None) or "", default)


# --- The MQL queue ------------------------------------------------------------------------------

_REVIEW = ["leads.view_lead", "handoff.review_mql_queue"]

_QUEUE_SORT = OpenApiParameter(
    "sort",
    str,
    enum=list(selectors.QUEUE_SORTS),
    default=selectors.DEFAULT_QUEUE_SORT,
    description="; ".join(f"`{key}`: {label}" for key, (label, _) in selectors.QUEUE_SORTS.items()),
)


@extend_schema(tags=["mql queue"])
class QueueViewSet(HandoffViewSet):
    """The marketers' MQL queue: MQLs nobody holds yet, and the three decisions on them."""

    queryset = Lead.objects.none()  # for the schema; rows come from the selector
    filter_backends = [DocumentedFilterSetBackend]
    filterset_class = selectors.QueueFilter
    action_permissions = dict.fromkeys(("list", "hand_off", "nurture", "disqualify"), _REVIEW)

    def keyset_ordering(self, request: Request) -> tuple[str, ...]:
        return selectors.QUEUE_SORTS[self._sort(request)][1]

    def _sort(self, request: Request) -> str:
        return _choice_param(request, "sort", selectors.QUEUE_SORTS, selectors.DEFAULT_QUEUE_SORT) or ""

    @extend_schema(
        summary="The MQL queue",
        description="MQLs without an open assignment, with their fit and engagement scores and the "
        "explanation, source, campaign and time in the queue; longest waiting first by default. "
        "Needs `review_mql_queue` (Marketer, Manager).",
        parameters=[_QUEUE_SORT],
        responses={200: QueueLeadSerializer(many=True), **_errors(400, 401, 403)},
    )
    def list(self, request: Request) -> Response:
        self._sort(request)  # a bad sort is a 400 naming `sort` before anything is read
        queryset = selectors.mql_queue_for(user=request.user, params=request.query_params)
        page = self.paginate_queryset(queryset)
        context = {"now": timezone.now()}
        return self.get_paginated_response(QueueLeadSerializer(page, many=True, context=context).data)

    @extend_schema(
        summary="Hand MQLs off to sales",
        description="Each lead is handled on its own: routing picks the team (or `team` overrides "
        "it), round robin the rep, the SLA clock starts and the rep is notified. The answer is "
        "200 with one result per lead — a lead that is no longer an MQL, already handed off, or "
        "that nobody can take now is refused with the reason, the others go through.",
        request=HandOffSerializer,
        responses={200: BulkResultSerializer, **_errors(400, 401, 403)},
        examples=[
            OpenApiExample(
                "Partial success",
                response_only=True,
                value={
                    "succeeded": 1,
                    "failed": 1,
                    "results": [
                        {"lead": 311, "ok": True, "message": "Handed off to Ana Ruiz (Inbound)."},
                        {"lead": 312, "ok": False, "message": "This lead is already handed off."},
                    ],
                },
            )
        ],
    )
    @action(detail=False, methods=["post"], url_path="hand-off", pagination_class=None)
    def hand_off(self, request: Request) -> Response:
        serializer = HandOffSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        team = serializer.validated_data.get("team")
        done: dict[int, str] = {}

        def hand_off(lead_id: int) -> None:
            assignment = services.lead_hand_off(lead_id=lead_id, user=request.user, team_id=team.pk if team else None)
            rep = assignment.rep.get_full_name() or assignment.rep.get_username()
            done[lead_id] = f"Handed off to {rep} ({assignment.team})." if assignment.team else f"Handed off to {rep}."

        return _bulk(serializer.validated_data["leads"], hand_off, done)

    @extend_schema(
        summary="Send MQLs back to nurture",
        description="Recycles each lead with a reason from the managed list (one that may be used "
        "to recycle); per-lead results as for hand-off.",
        request=NurtureSerializer,
        responses={200: BulkResultSerializer, **_errors(400, 401, 403)},
    )
    @action(detail=False, methods=["post"], pagination_class=None)
    def nurture(self, request: Request) -> Response:
        return self._exit(request, NurtureSerializer, services.lead_send_to_nurture, "Sent back to nurture.")

    @extend_schema(
        summary="Disqualify MQLs",
        description="Disqualifies each lead with a reason from the managed list (one that may be "
        "used to disqualify); per-lead results as for hand-off.",
        request=DisqualifySerializer,
        responses={200: BulkResultSerializer, **_errors(400, 401, 403)},
    )
    @action(detail=False, methods=["post"], pagination_class=None)
    def disqualify(self, request: Request) -> Response:
        return self._exit(request, DisqualifySerializer, services.lead_disqualify_from_queue, "Disqualified.")

    def _exit(self, request: Request, serializer_class: type, service: Any, message: str) -> Response:
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        done: dict[int, str] = {}

        extra = {"nurture_until": data["nurture_until"]} if data.get("nurture_until") else {}

        def apply(lead_id: int) -> None:
            service(lead_id=lead_id, user=request.user, reason_code=data["reason"], note=data["note"], **extra)
            done[lead_id] = message

        return _bulk(data["leads"], apply, done)


def _bulk(lead_ids: list[int], apply: Any, done: dict[int, str]) -> Response:
    """Apply one single-lead service per lead, each in its own transaction (services.bulk_apply)."""
    results = services.bulk_apply(lead_ids, apply)
    rows = [
        {"lead": result.lead_id, "ok": result.ok, "message": done.get(result.lead_id, "") or result.message}
        for result in results
    ]
    succeeded = sum(result.ok for result in results)
    return Response({"succeeded": succeeded, "failed": len(results) - succeeded, "results": rows})


# --- The SLA board ------------------------------------------------------------------------------


@extend_schema(tags=["assignments"])
class AssignmentViewSet(HandoffViewSet):
    """Open assignments with their SLA clocks, scoped in the queryset: a rep sees only their own."""

    queryset = SlaClock.objects.none()  # for the schema; rows come from the selector
    filter_backends = [DocumentedFilterSetBackend]
    filterset_class = selectors.AssignmentFilter
    action_permissions = {"list": ["handoff.view_assignment", "handoff.view_slaclock"]}

    def keyset_ordering(self, request: Request) -> tuple[str, ...]:
        return ("due_at", "id")

    @extend_schema(
        summary="Open assignments, first touch due soonest first",
        description="Each with the lead, the rep, the team and the SLA clock; `clock.status` is "
        "derived from the timestamps at the time of the request (so is the `status` filter).\n\n"
        "Scoped in the queryset: an SDR sees only the leads assigned to them; managers and "
        "marketers (read-only) see every open assignment and may filter by `rep` and `team`.",
        responses={200: AssignmentSerializer(many=True), **_errors(400, 401, 403)},
    )
    def list(self, request: Request) -> Response:
        now = timezone.now()
        clocks = selectors.open_assignment_clocks_for(user=request.user, params=request.query_params, now=now)
        page = self.paginate_queryset(clocks)
        rows = [clock.assignment for clock in page]
        return self.get_paginated_response(AssignmentSerializer(rows, many=True, context={"now": now}).data)


# --- Work on one lead ---------------------------------------------------------------------------

_WORK = ["leads.view_lead", "handoff.work_leads"]


@extend_schema(tags=["lead work"])
class LeadWorkViewSet(HandoffViewSet):
    """What sales does on one lead, under /api/v1/leads/{id}/. Only the rep the lead is assigned
    to, or a manager, may act (the services check; 403 otherwise); marketers do not work leads."""

    queryset = Lead.objects.none()  # for the schema (the path's id is a lead's)
    lookup_value_converter = "int"
    pagination_class = None
    action_permissions = {
        "reassign": ["leads.view_lead", "handoff.reassign_lead"],
        "touches": _WORK,
        "accept": _WORK,
        "reject": _WORK,
        "discovery_calls": ["leads.view_lead", "handoff.view_discoverycall"],
        "log_discovery_call": [*_WORK, "handoff.add_discoverycall"],
        "convert": _WORK,
        "advance": _WORK,
    }

    def _lead(self, pk: int) -> Lead:
        """The lead of the path: 404 if there is none (before any service locks anything)."""
        return lead_selectors.lead_get(user=self.request.user, lead_id=pk)

    def _lead_answer(self, lead: Lead) -> Response:
        return Response(LeadSerializer(lead_selectors.lead_get(user=self.request.user, lead_id=lead.pk)).data)

    @extend_schema(
        summary="Reassign a lead (managers)",
        description="Ends the current assignment (its clock stops) and assigns the lead to `rep`, or "
        "to the next rep in the team's rotation; the new assignment gets a new clock and both reps "
        "are notified. Needs `reassign_lead` (Manager).",
        request=ReassignSerializer,
        responses={200: AssignmentSerializer, **_errors(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"])
    def reassign(self, request: Request, pk: int) -> Response:
        lead = self._lead(pk)
        serializer = ReassignSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        assignment = services.lead_reassign(
            lead_id=lead.pk,
            user=request.user,
            rep_id=serializer.validated_data.get("rep"),
            reason=serializer.validated_data["reason"],
        )
        return Response(AssignmentSerializer(selectors.assignment_get(assignment_id=assignment.pk)).data)

    @extend_schema(
        summary="Log a touch (call, email, meeting)",
        description="The first touch of an assignment stops its SLA clock.",
        request=TouchCreateSerializer,
        responses={201: TouchSerializer, **_errors(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"])
    def touches(self, request: Request, pk: int) -> Response:
        lead = self._lead(pk)
        serializer = TouchCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        activity = services.touch_log(
            lead_id=lead.pk, user=request.user, kind=data["kind"], note=data["note"], at=data.get("at")
        )
        return Response(TouchSerializer(activity).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Accept a lead (mql → sal)",
        description="Accepting is a first touch: it stops the SLA clock.",
        request=None,
        responses={200: LeadSerializer, **_errors(401, 403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk: int) -> Response:
        lead = self._lead(pk)
        services.lead_accept(lead_id=lead.pk, user=request.user)
        return self._lead_answer(lead)

    @extend_schema(
        summary="Reject a lead back to marketing or out",
        description="To `recycled` (back to nurture) or `disqualified`, with a reason from the "
        "managed list that may be used for it: the feedback marketing tunes scoring with. Closes "
        "the assignment.",
        request=RejectSerializer,
        responses={200: LeadSerializer, **_errors(400, 401, 403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: int) -> Response:
        lead = self._lead(pk)
        serializer = RejectSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        services.lead_reject(
            lead_id=lead.pk, user=request.user, to=data["to"], reason_code=data["reason"], note=data["note"],
            nurture_until=data["nurture_until"] if data["to"] == Stage.RECYCLED else None,
        )  # fmt: skip
        return self._lead_answer(lead)

    @extend_schema(
        methods=["GET"],
        summary="A lead's discovery calls, newest first",
        responses={200: DiscoveryCallSerializer(many=True), **_errors(401, 403, 404)},
    )
    @action(detail=True, methods=["get"], url_path="discovery-calls", url_name="discovery-calls")
    def discovery_calls(self, request: Request, pk: int) -> Response:
        lead = self._lead(pk)
        return Response(DiscoveryCallSerializer(selectors.lead_discovery_calls(lead=lead), many=True).data)

    @extend_schema(
        methods=["POST"],
        summary="Log a discovery call with BANT",
        description="Every BANT field is required: a missing one is a 400 naming it and what it "
        "needs, and nothing is written. An outcome of `qualified` must satisfy the qualification "
        "policy; when it does not, the 400 lists under `outcome` each criterion that failed, in "
        "words. A qualified call converts the lead to SQL and opens its opportunity (unless "
        "`convert` is false). Only the assigned rep or a manager may log it; marketers cannot.",
        request=DiscoveryCallCreateSerializer,
        responses={201: CallLoggedSerializer, **_errors(400, 401, 403, 404, 409)},
        examples=[
            OpenApiExample(
                "Missing BANT",
                response_only=True,
                status_codes=["400"],
                value={
                    "decision_maker": ["Authority: say who makes the decision."],
                    "expected_decision_date": ["Timing: give the expected decision date."],
                },
            ),
            OpenApiExample(
                "Refused by the policy",
                response_only=True,
                status_codes=["400"],
                value={
                    "outcome": [
                        "Not qualified under the qualification policy:",
                        "Budget: “No budget” does not qualify; the policy needs approved budget or planned / "
                        "being requested.",
                    ]
                },
            ),
        ],
    )
    @discovery_calls.mapping.post
    def log_discovery_call(self, request: Request, pk: int) -> Response:
        lead = self._lead(pk)
        serializer = DiscoveryCallCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        convert = data.pop("convert")
        call = services.call_log(lead_id=lead.pk, user=request.user, data=data, convert=convert)
        call = selectors.discovery_call_get(call_id=call.pk)
        opportunity = getattr(call, "opportunity", None)
        body = {
            "call": DiscoveryCallSerializer(call).data,
            "opportunity": OpportunitySerializer(opportunity).data if opportunity else None,
            "lead_stage": selectors.lead_stage(lead_id=lead.pk),
        }
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Convert a lead to SQL with a qualified call",
        description="The lead becomes an SQL and its opportunity opens. The call must be one of "
        "this lead's, with the outcome `qualified`.",
        request=ConvertSerializer,
        responses={201: OpportunitySerializer, **_errors(400, 401, 403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def convert(self, request: Request, pk: int) -> Response:
        lead = self._lead(pk)
        serializer = ConvertSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        opportunity = services.lead_convert_to_sql(
            lead_id=lead.pk, call_id=serializer.validated_data["call"], user=request.user
        )
        body = OpportunitySerializer(selectors.opportunity_get(opportunity_id=opportunity.pk)).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Move an SQL on: opportunity, then customer",
        description="For the lead's owner or a manager.",
        request=AdvanceSerializer,
        responses={200: LeadSerializer, **_errors(400, 401, 403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def advance(self, request: Request, pk: int) -> Response:
        lead = self._lead(pk)
        serializer = AdvanceSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.lead_advance(
            lead_id=lead.pk,
            user=request.user,
            to=serializer.validated_data["to"],
            reason=serializer.validated_data["reason"],
        )
        return self._lead_answer(lead)


# --- Opportunities, reasons, notifications ------------------------------------------------------


@extend_schema(tags=["opportunities"])
class OpportunityViewSet(HandoffViewSet):
    """Opportunities, newest first, scoped in the queryset: an SDR sees the ones they own."""

    queryset = Opportunity.objects.none()
    action_permissions = {"list": ["leads.view_lead", "handoff.view_opportunity"]}

    def keyset_ordering(self, request: Request) -> tuple[str, ...]:
        return ("-created_at", "-id")

    @extend_schema(
        summary="Opportunities, newest first",
        description="An SDR sees the opportunities they own; managers and marketers see all.",
        responses={200: OpportunitySerializer(many=True), **_errors(400, 401, 403)},
    )
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(selectors.opportunities_for(user=request.user))
        return self.get_paginated_response(OpportunitySerializer(page, many=True).data)


_USES = {ReasonUse.RECYCLE.value: ReasonUse.RECYCLE, ReasonUse.DISQUALIFY.value: ReasonUse.DISQUALIFY}


@extend_schema(tags=["rejection reasons"])
class RejectionReasonViewSet(HandoffViewSet):
    """The managed list of reasons to recycle or disqualify a lead. Short: unpaged."""

    queryset = RejectionReason.objects.none()
    pagination_class = None
    action_permissions = {"list": ["handoff.view_rejectionreason"]}

    @extend_schema(
        summary="Active reasons to recycle or disqualify",
        description="In the managed order. `use` says what a reason may be used for; the `use` "
        "parameter keeps those valid for recycling or for disqualifying (including `both`).",
        parameters=[OpenApiParameter("use", str, enum=list(_USES), required=False)],
        responses={200: RejectionReasonSerializer(many=True), **_errors(400, 401, 403)},
    )
    def list(self, request: Request) -> Response:
        use = _choice_param(request, "use", _USES, None)
        return Response(RejectionReasonSerializer(selectors.active_rejection_reasons(use=use), many=True).data)


@extend_schema(tags=["notifications"])
class NotificationViewSet(HandoffViewSet):
    """Your own notifications; nobody reads anyone else's. Any signed-in user."""

    queryset = Notification.objects.none()
    filter_backends = [DocumentedFilterSetBackend]
    filterset_class = selectors.NotificationFilter
    action_permissions: dict[str, list[str]] = {"list": [], "read": []}

    def keyset_ordering(self, request: Request) -> tuple[str, ...]:
        return ("-created_at", "-id")

    @extend_schema(
        summary="Your notifications, newest first",
        description="New assignments, SLA warnings and breaches, reassignments. `unread=true` keeps the unread ones.",
        responses={200: NotificationSerializer(many=True), **_errors(400, 401)},
    )
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(selectors.notifications_of(user=request.user, params=request.query_params))
        return self.get_paginated_response(NotificationSerializer(page, many=True).data)

    @extend_schema(
        summary="Mark your notifications read",
        description="The ones in `ids` (others' ids are ignored), or all of them without `ids`.",
        request=MarkReadSerializer,
        responses={200: MarkReadResultSerializer, **_errors(400, 401)},
    )
    @action(detail=False, methods=["post"], pagination_class=None, filter_backends=[])
    def read(self, request: Request) -> Response:
        serializer = MarkReadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        marked = services.notifications_mark_read(user=request.user, ids=serializer.validated_data.get("ids"))
        return Response({"marked": marked, "unread": selectors.notifications_unread(user=request.user)})
