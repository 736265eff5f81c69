"""The report pages under /reports/: funnel, velocity, SLA, MQL volume, feedback, rep leaderboard.

Each page reads its filters from the querystring (`reporting.forms`), calls one builder in
`reporting.selectors_extra` (which calls the report selectors), and renders the numbers as a
chart and a table beside it. `?format=csv&table=<name>` on the same URL downloads a table.

Permissions (see `reporting.selectors_extra.REPORTS`): `reporting.view_reports` (Marketers and
Managers) for the funnel, velocity, MQL volume and feedback; `reporting.view_team_reports`
(Managers) for the SLA board and the rep leaderboard. Anonymous people are sent to sign in;
signed-in people without the permission get 403.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.mixins import PermissionRequiredMixin
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.views import View

from leads.lifecycle import Stage
from reporting import exports
from reporting import selectors_extra as reports
from reporting.forms import MODE_CHOICES, PERIOD_KEYS, PERIODS, ReportFilterForm, ReportParams
from reporting.funnel import BREAKDOWNS, Mode
from reporting.selectors import FEEDBACK_BY

# Chart colours: the solid colour of each tone in static/css/baton.css, by stage (the same
# families as the stage badges, leads/templatetags/leads_tags.py).
TONES = {
    "secondary": "#6c757d", "info": "#0aa2c0", "primary": "#0d6efd", "purple": "#6f42c1", "warning": "#e0a800",
    "success": "#198754", "teal": "#20c997", "danger": "#dc3545",
}  # fmt: skip
STAGE_COLOURS = {
    Stage.LEAD: TONES["secondary"], Stage.MQL: TONES["info"], Stage.SAL: TONES["primary"], Stage.SQL: TONES["purple"],
    Stage.OPPORTUNITY: TONES["warning"], Stage.CUSTOMER: TONES["success"], Stage.RECYCLED: TONES["teal"],
    Stage.DISQUALIFIED: TONES["danger"],
}  # fmt: skip
PALETTE = ["#2c5282", "#f6ad55", "#0aa2c0", "#6f42c1", "#20c997", "#dc3545", "#e0a800", "#6c757d", "#d63384",
           "#198754"]  # fmt: skip

MODE_NOTES = {
    Mode.CREATED: "Leads created in the period, followed to wherever they got by now.",
    Mode.MQL: "Leads that first became an MQL in the period, followed to wherever they got by now.",
    Mode.FLOW: "Stage entries that happened in the period, whichever lead made them.",
}


class ReportView(PermissionRequiredMixin, View):
    """A report page: filters, a builder, charts, tables, and CSV of each table."""

    report_name: str
    template_name: str

    @property
    def info(self) -> reports.ReportInfo:
        return reports.REPORTS_BY_NAME[self.report_name]

    def get_permission_required(self) -> tuple[str, ...]:
        return (self.info.permission,)

    def params(self, form: ReportFilterForm) -> ReportParams:
        return form.resolve()

    def build(self, params: ReportParams) -> Any:
        raise NotImplementedError

    def charts(self, data: Any, params: ReportParams) -> dict[str, Any]:
        return {}

    def filename_parts(self, params: ReportParams) -> tuple[str, ...]:
        return (params.slug(),)

    def get(self, request: HttpRequest) -> HttpResponse:
        form = ReportFilterForm(request.GET, fields=self.info.filters)
        params = self.params(form)
        wants_csv = request.GET.get("format") == "csv"
        if wants_csv and form.errors:
            problems = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.query_errors().items())
            return HttpResponseBadRequest(f"Fix the report's filters: {problems}", content_type="text/plain")
        data = self.build(params)
        tables = exports.TABLES[self.report_name](data)
        if wants_csv:
            wanted = request.GET.get("table") or tables[0].name
            table = next((t for t in tables if t.name == wanted), None)
            if table is None:
                raise Http404(f"This report has no table named “{wanted}”.")
            filename = exports.filename(self.report_name, table.name, *self.filename_parts(params))
            return exports.csv_response(table, filename=filename)
        context = {
            "report": self.info,
            "data": data,
            "params": params,
            "form": form,
            "form_errors": form.error_summary(),
            "tabs": _tabs(request, self.report_name),
            "tables": {table.name: table for table in tables},
            # The CSV links carry the parameters the page used (defaults replacing bad input).
            "csv_params": params.query(self.info.filters),
            "charts": self.charts(data, params),
            "period_choices": list(PERIODS.items()),
            "mode_label": dict(MODE_CHOICES)[params.mode],
            "mode_note": MODE_NOTES[params.mode],
            "breakdown_label": BREAKDOWNS[params.breakdown],
            "by_label": FEEDBACK_BY[params.by],
            "min_mqls": reports.MIN_MQLS_TO_RANK,
        }
        return render(request, self.template_name, context)


def _tabs(request: HttpRequest, current: str) -> list[dict[str, Any]]:
    """The reports the user may read, each keeping the period (and the breakdown, where it applies)."""
    tabs = []
    for info in reports.REPORTS:
        if not request.user.has_perm(info.permission):
            continue
        query = QueryDict(mutable=True)
        for key in PERIOD_KEYS + tuple(name for name in ("breakdown", "mode", "by") if name in info.filters):
            if request.GET.get(key):
                query[key] = request.GET[key]
        url = reverse(f"reporting:{info.name}")
        url = f"{url}?{query.urlencode()}" if query else url
        tabs.append({"info": info, "url": url, "active": info.name == current})
    return tabs


def _pct(value: float | None) -> float | None:
    return round(value * 100, 1) if value is not None else None


# --- Funnel ---------------------------------------------------------------------------------------


class FunnelView(ReportView):
    report_name = "funnel"
    template_name = "reporting/funnel.html"

    def build(self, params: ReportParams) -> reports.FunnelReport:
        return reports.funnel_report(start=params.start, end=params.end, mode=params.mode, breakdown=params.breakdown)

    def filename_parts(self, params: ReportParams) -> tuple[str, ...]:
        return (params.mode, params.breakdown, params.slug())

    def charts(self, data: reports.FunnelReport, params: ReportParams) -> dict[str, Any]:
        total = data.total
        funnel_chart = {
            "type": "bar",
            "labels": [cell.label for cell in total.stages],
            "datasets": [
                {
                    "label": "Entries" if data.mode == Mode.FLOW else "Leads",
                    "data": [cell.count for cell in total.stages],
                    "colors": [STAGE_COLOURS[cell.stage] for cell in total.stages],
                }
            ],
            "links": [cell.leads_url for cell in total.stages],
            "valueTitle": "Stage entries" if data.mode == Mode.FLOW else "Leads",
            "valueLabels": True,
        }
        charts: dict[str, Any] = {"funnel": funnel_chart}
        # The groups with the most MQLs (the table's first rows), best rate first.
        rated = [row for row in data.rows if row.mql_to_sql is not None][:15]
        rated.sort(key=lambda row: -(row.mql_to_sql or 0))
        if data.breakdown and rated:
            charts["rates"] = {
                "type": "bar",
                "horizontal": True,
                "labels": [row.label for row in rated],
                "datasets": [
                    {
                        "label": "MQL → SQL (%)",
                        "data": [_pct(row.mql_to_sql) for row in rated],
                        "colors": [
                            TONES["success"] if row.rank == "best" else TONES["danger"] if row.rank == "worst"
                            else PALETTE[0]
                            for row in rated
                        ],
                    }
                ],
                "percent": True,
                "valueLabels": True,
            }  # fmt: skip
        return charts


# --- Velocity -------------------------------------------------------------------------------------


class VelocityView(ReportView):
    report_name = "velocity"
    template_name = "reporting/velocity.html"

    def build(self, params: ReportParams) -> reports.VelocityReport:
        return reports.velocity_report(start=params.start, end=params.end, breakdown=params.breakdown)

    def filename_parts(self, params: ReportParams) -> tuple[str, ...]:
        return (params.breakdown, params.slug())

    def charts(self, data: reports.VelocityReport, params: ReportParams) -> dict[str, Any]:
        lines = data.rows[:15] if data.rows else [data.total]
        steps = data.steps
        velocity = {
            "type": "bar",
            "horizontal": bool(data.rows),
            "labels": [line.label for line in lines] if data.rows else [label for _, label in steps],
            "datasets": (
                [
                    {"label": f"{label}, median", "data": [_days(line.steps[i].p50_hours) for line in lines],
                     "color": PALETTE[i]}
                    for i, (_, label) in enumerate(steps)
                ]
                if data.rows
                else [
                    {"label": "Median", "data": [_days(s.p50_hours) for s in data.total.steps], "color": PALETTE[0]},
                    {"label": "90th percentile", "data": [_days(s.p90_hours) for s in data.total.steps],
                     "color": PALETTE[1]},
                ]
            ),
            "valueTitle": "Days",
        }  # fmt: skip
        open_stalls = [row for row in data.stalls if row.count]
        stalls = {
            "type": "bar",
            "horizontal": True,
            "labels": [row.label for row in open_stalls],
            "datasets": [
                {"label": "Median wait", "data": [_round(row.p50_days) for row in open_stalls], "color": PALETTE[0]},
                {"label": "90th percentile", "data": [_round(row.p90_days) for row in open_stalls],
                 "color": PALETTE[1]},
            ],
            "links": [row.leads_url for row in open_stalls],
            "valueTitle": "Days in the current stage",
        }  # fmt: skip
        return {"velocity": velocity, "stalls": stalls}


def _days(hours: float | None) -> float | None:
    return round(hours / 24, 2) if hours is not None else None


def _round(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None


# --- SLA and speed-to-lead ------------------------------------------------------------------------


class SlaView(ReportView):
    report_name = "sla"
    template_name = "reporting/sla.html"

    def build(self, params: ReportParams) -> reports.SlaReport:
        return reports.sla_report(start=params.start, end=params.end)

    def charts(self, data: reports.SlaReport, params: ReportParams) -> dict[str, Any]:
        weekly = {
            "type": "bar",
            "labels": [f"{w.week:%b} {w.week.day}" for w in data.weekly],
            "datasets": [
                {"label": "Handed off", "data": [w.handed_off for w in data.weekly], "color": PALETTE[0]},
                {"label": "Within SLA (%)", "data": [_pct(w.within_sla) for w in data.weekly], "color": PALETTE[1],
                 "type": "line", "axis": "y1"},
            ],
            "valueTitle": "Hand-offs",
            "y1Percent": True,
        }  # fmt: skip
        return {"weekly": weekly}


# --- Marketing: MQL volume vs target --------------------------------------------------------------


class MarketingView(ReportView):
    report_name = "marketing"
    template_name = "reporting/marketing.html"

    def params(self, form: ReportFilterForm) -> ReportParams:
        return form.resolve().whole_months()  # targets are per month

    def build(self, params: ReportParams) -> reports.MarketingReport:
        return reports.marketing_report(start=params.start, end=params.end)

    def charts(self, data: reports.MarketingReport, params: ReportParams) -> dict[str, Any]:
        volume = {
            "type": "bar",
            "labels": [f"{m.month:%b %Y}" for m in data.months],
            "datasets": [
                {"label": "MQLs delivered", "data": [m.delivered for m in data.months], "color": TONES["info"]},
                {"label": "Target", "data": [m.target for m in data.months], "color": TONES["danger"],
                 "type": "line", "dashed": True},
            ],
            "links": [m.leads_url for m in data.months],
            "valueTitle": "MQLs",
        }  # fmt: skip
        target = data.review_target_minutes
        review = {
            "type": "bar",
            "labels": volume["labels"],
            "datasets": [
                {"label": "Median review time", "data": [_hours(m.review.business_minutes.p50) for m in data.months],
                 "color": PALETTE[0]},
                {"label": "90th percentile", "data": [_hours(m.review.business_minutes.p90) for m in data.months],
                 "color": PALETTE[1]},
                *([{"label": "Target", "data": [_hours(target)] * len(data.months), "color": TONES["danger"],
                    "type": "line", "dashed": True}] if target else []),
                {"label": "Reviewed within target (%)", "data": [_pct(m.review.within_target_share)
                 for m in data.months], "color": TONES["success"], "type": "line", "axis": "y1"},
            ],
            "valueTitle": "Business hours",
            "y1Percent": True,
        }  # fmt: skip
        return {"volume": volume, "review": review}


def _hours(minutes: float | None) -> float | None:
    return round(minutes / 60, 2) if minutes is not None else None


# --- Feedback -------------------------------------------------------------------------------------


class FeedbackView(ReportView):
    report_name = "feedback"
    template_name = "reporting/feedback.html"

    def build(self, params: ReportParams) -> reports.FeedbackReport:
        return reports.feedback_report(start=params.start, end=params.end, by=params.by)

    def filename_parts(self, params: ReportParams) -> tuple[str, ...]:
        return (f"by-{params.by}", params.slug())

    def charts(self, data: reports.FeedbackReport, params: ReportParams) -> dict[str, Any]:
        rows = data.rows[:15]
        reasons = {
            "type": "bar",
            "horizontal": True,
            "stacked": True,
            "labels": [row.key for row in rows],
            "datasets": [
                {"label": reason, "data": [row.reasons[i] for row in rows], "color": PALETTE[i % len(PALETTE)]}
                for i, reason in enumerate(data.reasons)
            ],
            "valueTitle": "Rejections",
        }
        return {"reasons": reasons}


# --- Rep leaderboard ------------------------------------------------------------------------------


class RepsView(ReportView):
    report_name = "reps"
    template_name = "reporting/reps.html"

    def build(self, params: ReportParams) -> list[reports.RepLine]:
        return reports.leaderboard_report(start=params.start, end=params.end)

    def charts(self, data: list[reports.RepLine], params: ReportParams) -> dict[str, Any]:
        rows = data[:15]
        return {
            "reps": {
                "type": "bar",
                "horizontal": True,
                "labels": [row.name for row in rows],
                "datasets": [
                    {"label": "Leads assigned", "data": [row.assigned for row in rows], "color": PALETTE[7]},
                    {"label": "SQLs", "data": [row.sqls for row in rows], "color": TONES["purple"]},
                ],
                "links": [row.leads_url for row in rows],
                "valueTitle": "Leads",
            }
        }
