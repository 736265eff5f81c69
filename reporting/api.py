"""The report data as JSON: /api/v1/reports/funnel/, velocity/, sla/, marketing/, feedback/, reps/.

The same querystring as the report pages (`reporting.forms`: period or from/to, mode, breakdown,
by), validated by the same form, answered by the same builders (`reporting.selectors_extra`), so
the API and the page show the same numbers. Bad input is a 400 naming the parameter; a
parameter the report does not read is refused too, so a typo is not silently ignored.

Permissions, as on the pages: `reporting.view_reports` for funnel, velocity, marketing and
feedback (Marketers, Managers); `reporting.view_team_reports` for sla and reps (Managers).

Routes: `urlpatterns` below, mounted by crm/api_urls.py with `path("reports/", include("reporting.api"))`.
"""

from __future__ import annotations

from typing import Any

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.api import AuthenticateHeaderMixin
from reporting import selectors_extra as reports
from reporting.forms import DEFAULT_PERIOD, PERIODS, QUERY_NAMES, ReportFilterForm, ReportParams
from reporting.funnel import BREAKDOWNS, Mode
from reporting.selectors import FEEDBACK_BY, Distribution

# --- Output shapes ---------------------------------------------------------------------------------


class PeriodSerializer(serializers.Serializer):
    """The period reported on, after presets and defaults are applied (both days inclusive)."""

    def get_fields(self) -> dict[str, serializers.Field]:
        return {
            "from": serializers.DateField(source="first_day", help_text="First day, inclusive."),
            "to": serializers.DateField(source="last_day", help_text="Last day, inclusive."),
            "preset": serializers.CharField(source="period", help_text="The preset, or `custom`."),
            "label": serializers.CharField(source="period_label"),
        }


_RATE = {"allow_null": True, "help_text": "A share from 0 to 1; null when its base is 0."}
_LEADS_URL = {"allow_null": True, "help_text": "The lead list filtered to exactly these leads; null if none can be."}


class StageCountSerializer(serializers.Serializer):
    stage = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField(help_text="Leads (cohort modes) or stage entries (flow mode).")
    conversion = serializers.FloatField(**{**_RATE, "help_text": "Share of the previous stage's count."})
    share = serializers.FloatField(**{**_RATE, "help_text": "Share of the first stage's count."})
    leads_url = serializers.CharField(**_LEADS_URL)


class FunnelLineSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="The group's key (a channel, an id, ...); empty for the total.")
    label = serializers.CharField()
    stages = StageCountSerializer(many=True)
    mql_to_sql = serializers.FloatField(**_RATE)
    overall = serializers.FloatField(**_RATE)
    rank = serializers.CharField(help_text="`best`, `worst` (MQL→SQL rate among groups with enough MQLs) or empty.")


class FunnelReportSerializer(serializers.Serializer):
    period = PeriodSerializer()
    mode = serializers.CharField()
    breakdown = serializers.CharField()
    total = FunnelLineSerializer()
    rows = FunnelLineSerializer(many=True, help_text="One per group; empty without a breakdown.")


class StepTimeSerializer(serializers.Serializer):
    step = serializers.CharField(help_text="`mql→sal`, `sal→sql` or `mql→sql`.")
    label = serializers.CharField()
    count = serializers.IntegerField(help_text="Leads timed.")
    p50_hours = serializers.FloatField(allow_null=True)
    p90_hours = serializers.FloatField(allow_null=True)
    leads_url = serializers.CharField(**_LEADS_URL)


class VelocityLineSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    steps = StepTimeSerializer(many=True)


class StallSerializer(serializers.Serializer):
    stage = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField(help_text="Open leads in this stage now.")
    p50_days = serializers.FloatField(allow_null=True)
    p90_days = serializers.FloatField(allow_null=True)
    leads_url = serializers.CharField()


class VelocityReportSerializer(serializers.Serializer):
    period = PeriodSerializer()
    breakdown = serializers.CharField()
    total = VelocityLineSerializer()
    rows = VelocityLineSerializer(many=True)
    stalls = StallSerializer(many=True, help_text="Where open leads wait today, whatever the period.")


class DistributionSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    p50 = serializers.FloatField(allow_null=True, help_text="Median.")
    p90 = serializers.FloatField(allow_null=True, help_text="90th percentile (nearest rank).")


class SlaGroupSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    handed_off = serializers.IntegerField()
    in_time = serializers.IntegerField()
    breaches = serializers.IntegerField()
    within_sla = serializers.FloatField(**_RATE)


class SlaWeekSerializer(serializers.Serializer):
    week = serializers.DateField(help_text="The week's Monday.")
    handed_off = serializers.IntegerField()
    in_time = serializers.IntegerField()
    decided = serializers.IntegerField(help_text="Hand-offs whose outcome is known (touched, or past due).")
    within_sla = serializers.FloatField(**_RATE)


class SlaReportSerializer(serializers.Serializer):
    period = PeriodSerializer()
    handed_off = serializers.IntegerField(source="summary.handed_off")
    touched_in_time = serializers.IntegerField(source="summary.touched_in_time")
    touched_late = serializers.IntegerField(source="summary.touched_late")
    breached_untouched = serializers.IntegerField(source="summary.breached_untouched")
    running = serializers.IntegerField(source="summary.running")
    stopped = serializers.IntegerField(source="summary.stopped", help_text="Reassigned before their due time.")
    within_sla = serializers.FloatField(source="summary.within_sla", **_RATE)
    first_response_business_minutes = DistributionSerializer(source="summary.business_minutes")
    first_response_wall_minutes = DistributionSerializer(source="summary.wall_minutes")
    by_rep = SlaGroupSerializer(many=True)
    by_team = SlaGroupSerializer(many=True)
    by_policy = SlaGroupSerializer(many=True)
    weekly = SlaWeekSerializer(many=True)


class ReviewTimesSerializer(serializers.Serializer):
    """The marketing review commitment of the stays in the MQL queue that ended in the month or period."""

    reviewed = serializers.IntegerField(help_text="Stays a marketer ended: handed off, sent to nurture, disqualified.")
    business_minutes = DistributionSerializer(
        help_text="Review time of those, in business minutes on their review policy's calendar."
    )
    wall_minutes = DistributionSerializer(help_text="The same review time on the wall clock.")
    automatic = serializers.IntegerField(help_text="Handed off automatically: no review, not timed.")
    automatic_late = serializers.IntegerField(help_text="Of those, handed off after the review was due.")
    left = serializers.IntegerField(help_text="Left the queue some other way: not timed.")
    judged = serializers.IntegerField(
        help_text="Judged against the target: reviewed with a due time, or ended past the due time however it ended."
    )
    within_target = serializers.IntegerField(help_text="Reviewed by the due time.")
    within_target_share = serializers.FloatField(**{**_RATE, "help_text": "within_target / judged."})


class MonthVolumeSerializer(serializers.Serializer):
    month = serializers.DateField(help_text="The month's first day.")
    delivered = serializers.IntegerField(help_text="Leads whose first MQL entry is in the month.")
    target = serializers.IntegerField(allow_null=True)
    attainment = serializers.FloatField(**_RATE)
    leads_url = serializers.CharField()
    review = ReviewTimesSerializer(help_text="Stays in the queue that ended in the month.")


class MarketingReportSerializer(serializers.Serializer):
    period = PeriodSerializer(help_text="Widened to whole months: targets are monthly.")
    months = MonthVolumeSerializer(many=True)
    delivered = serializers.IntegerField()
    target = serializers.IntegerField(allow_null=True, help_text="The months' targets added up.")
    attainment = serializers.FloatField(**_RATE, source="data.attainment")
    review = ReviewTimesSerializer(source="data.review", help_text="Stays in the queue that ended in the period.")
    review_target_minutes = serializers.IntegerField(
        source="data.review_target_minutes", allow_null=True, help_text="The active review policy's target."
    )
    review_overdue_now = serializers.IntegerField(
        source="data.review_overdue_now", help_text="MQLs waiting past their review due time now, whatever the period."
    )
    queue_review_hours = DistributionSerializer(
        help_text="Kept for existing clients: `review.wall_minutes` in hours (reviews by a marketer only)."
    )


class FeedbackLineSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="The group (a channel, campaign, source or score band).")
    by_reason = serializers.DictField(child=serializers.IntegerField(), help_text="Rejections per reason.")
    marketing = serializers.IntegerField(help_text="Rejected by marketing from the MQL queue.")
    sales_rejected = serializers.IntegerField()
    handed_off = serializers.IntegerField()
    sales_reject_share = serializers.FloatField(**_RATE)


class FeedbackReportSerializer(serializers.Serializer):
    period = PeriodSerializer()
    by = serializers.CharField()
    reasons = serializers.ListField(child=serializers.CharField())
    rows = FeedbackLineSerializer(many=True)
    total = FeedbackLineSerializer()


class RepLineSerializer(serializers.Serializer):
    rep_id = serializers.IntegerField()
    name = serializers.CharField()
    username = serializers.CharField()
    assigned = serializers.IntegerField()
    touches = serializers.IntegerField()
    calls = serializers.IntegerField(help_text="Discovery calls held.")
    sqls = serializers.IntegerField()
    conversion = serializers.FloatField(**_RATE)
    median_response_minutes = serializers.FloatField(allow_null=True)
    leads_url = serializers.CharField()


class RepsReportSerializer(serializers.Serializer):
    period = PeriodSerializer()
    rows = RepLineSerializer(many=True)


# --- Views -----------------------------------------------------------------------------------------

_PARAMETERS = {
    "period": OpenApiParameter(
        "period",
        str,
        enum=list(PERIODS),
        default=DEFAULT_PERIOD,
        description="A preset relative to today; `custom` (or leaving it out) uses `from` and `to`. "
        + "; ".join(f"`{key}`: {label}" for key, label in PERIODS.items()),
    ),
    "from": OpenApiParameter("from", OpenApiTypes.DATE, description="First day (YYYY-MM-DD), inclusive."),
    "to": OpenApiParameter("to", OpenApiTypes.DATE, description="Last day (YYYY-MM-DD), inclusive; default today."),
    "mode": OpenApiParameter(
        "mode",
        str,
        enum=list(Mode.ALL),
        default=Mode.CREATED,
        description="; ".join(f"`{key}`: {label}" for key, label in Mode.LABELS.items()),
    ),
    "breakdown": OpenApiParameter(
        "breakdown",
        str,
        enum=[key for key in BREAKDOWNS if key],
        description="Group by: " + ", ".join(f"`{key}`" for key in BREAKDOWNS if key) + ". Leave out for none.",
    ),
    "by": OpenApiParameter(
        "by", str, enum=list(FEEDBACK_BY), default="channel", description="Group rejections by this."
    ),
}
_ERRORS = {
    400: OpenApiResponse(OpenApiTypes.OBJECT, description="Bad parameter: `{parameter: [problem, ...]}`."),
    401: OpenApiResponse(OpenApiTypes.OBJECT, description="Not signed in."),
    403: OpenApiResponse(OpenApiTypes.OBJECT, description="Your role may not read this report."),
}
# Parameters every endpoint accepts besides its filters (DRF's format override).
_ALWAYS_ALLOWED = {"format"}


def _report_schema(name: str, serializer: type[serializers.Serializer], description: str):  # type: ignore[no-untyped-def]
    info = reports.REPORTS_BY_NAME[name]
    names = [QUERY_NAMES.get(n, n) for n in ("period", "date_from", "date_to", *info.filters[1:])]
    return extend_schema(
        tags=["reports"],
        summary=f"{info.title} report",
        description=f"{description}\n\nNeeds the `{info.permission}` permission.",
        parameters=[_PARAMETERS[n] for n in names],
        responses={200: serializer, **_ERRORS},
    )


class ReportAPIView(AuthenticateHeaderMixin, APIView):
    report_name: str

    @property
    def required_permissions(self) -> list[str]:  # read by crm.permissions.RolePermission
        return [reports.REPORTS_BY_NAME[self.report_name].permission]

    def params(self, request: Request) -> ReportParams:
        info = reports.REPORTS_BY_NAME[self.report_name]
        form = ReportFilterForm(request.query_params, fields=info.filters)
        accepted = {QUERY_NAMES.get(name, name) for name in form.fields} | _ALWAYS_ALLOWED
        unknown = {
            key: [f"Unknown parameter. This report reads: {', '.join(sorted(accepted - _ALWAYS_ALLOWED))}."]
            for key in request.query_params
            if key not in accepted
        }
        if not form.is_valid() or unknown:
            raise exceptions.ValidationError({**form.query_errors(), **unknown})
        return form.resolve()

    def report(self, params: ReportParams) -> dict[str, Any]:
        raise NotImplementedError

    serializer_class: type[serializers.Serializer]

    def get(self, request: Request) -> Response:
        return Response(self.serializer_class(self.report(self.params(request))).data)


@_report_schema(
    "funnel",
    FunnelReportSerializer,
    "Leads reaching each funnel stage with stage-to-stage and overall conversion, in one of three "
    "modes (cohort by creation, cohort by first MQL, flow), optionally by a breakdown with the "
    "MQL→SQL rate per group. Computed from the stage history; each count carries the lead-list URL "
    "that selects exactly its leads.",
)
class FunnelReportAPIView(ReportAPIView):
    report_name = "funnel"
    serializer_class = FunnelReportSerializer

    def report(self, params: ReportParams) -> dict[str, Any]:
        data = reports.funnel_report(start=params.start, end=params.end, mode=params.mode, breakdown=params.breakdown)
        return {"period": params, "mode": data.mode, "breakdown": data.breakdown, "total": data.total,
                "rows": data.rows}  # fmt: skip


@_report_schema(
    "velocity",
    VelocityReportSerializer,
    "Median and 90th percentile hours MQL→SAL, SAL→SQL and MQL→SQL for leads that first became MQL "
    "in the period, optionally by a breakdown; and where open leads stall today.",
)
class VelocityReportAPIView(ReportAPIView):
    report_name = "velocity"
    serializer_class = VelocityReportSerializer

    def report(self, params: ReportParams) -> dict[str, Any]:
        data = reports.velocity_report(start=params.start, end=params.end, breakdown=params.breakdown)
        return {"period": params, "breakdown": data.breakdown, "total": data.total, "rows": data.rows,
                "stalls": data.stalls}  # fmt: skip


@_report_schema(
    "sla",
    SlaReportSerializer,
    "First-touch SLAs of the hand-offs made in the period: outcomes, first response time in "
    "business and wall-clock minutes, breaches by rep, team and policy, and week by week.",
)
class SlaReportAPIView(ReportAPIView):
    report_name = "sla"
    serializer_class = SlaReportSerializer

    def report(self, params: ReportParams) -> dict[str, Any]:
        data = reports.sla_report(start=params.start, end=params.end)
        return {"period": params, "summary": data.summary, "by_rep": data.by_rep, "by_team": data.by_team,
                "by_policy": data.by_policy, "weekly": data.weekly}  # fmt: skip


@_report_schema(
    "marketing",
    MarketingReportSerializer,
    "MQLs delivered per month against the month's target, and the marketing review commitment of "
    "the stays in the MQL queue that ended each month and in the period: review time p50/p90 in "
    "business and wall-clock minutes, automatic hand-offs counted apart (not timed), the share "
    "reviewed within the review policy's target, and how many wait past their due time now. The "
    "period is widened to whole months.",
)
class MarketingReportAPIView(ReportAPIView):
    report_name = "marketing"
    serializer_class = MarketingReportSerializer

    def params(self, request: Request) -> ReportParams:
        return super().params(request).whole_months()

    def report(self, params: ReportParams) -> dict[str, Any]:
        data = reports.marketing_report(start=params.start, end=params.end)
        wall = data.review.wall_minutes
        hours = Distribution(wall.count, *(None if m is None else m / 60 for m in (wall.p50, wall.p90)))
        return {"period": params, "months": data.months, "delivered": data.delivered, "target": data.target,
                "data": data, "queue_review_hours": hours}  # fmt: skip


@_report_schema(
    "feedback",
    FeedbackReportSerializer,
    "Rejection, recycle and disqualification reasons per channel, campaign, source or score band, "
    "and the share of the leads handed off to sales that sales rejected.",
)
class FeedbackReportAPIView(ReportAPIView):
    report_name = "feedback"
    serializer_class = FeedbackReportSerializer

    def report(self, params: ReportParams) -> dict[str, Any]:
        data = reports.feedback_report(start=params.start, end=params.end, by=params.by)
        return {"period": params, "by": data.by, "reasons": data.reasons, "rows": data.rows, "total": data.total}


@_report_schema(
    "reps",
    RepsReportSerializer,
    "Per rep, in the period: leads assigned, sales touches, discovery calls, SQLs, conversion to SQL "
    "and median first response (wall-clock minutes).",
)
class RepsReportAPIView(ReportAPIView):
    report_name = "reps"
    serializer_class = RepsReportSerializer

    def report(self, params: ReportParams) -> dict[str, Any]:
        return {"period": params, "rows": reports.leaderboard_report(start=params.start, end=params.end)}


urlpatterns = [
    path("funnel/", FunnelReportAPIView.as_view(), name="api-report-funnel"),
    path("velocity/", VelocityReportAPIView.as_view(), name="api-report-velocity"),
    path("sla/", SlaReportAPIView.as_view(), name="api-report-sla"),
    path("marketing/", MarketingReportAPIView.as_view(), name="api-report-marketing"),
    path("feedback/", FeedbackReportAPIView.as_view(), name="api-report-feedback"),
    path("reps/", RepsReportAPIView.as_view(), name="api-report-reps"),
]
