"""The SDR workspace: "My leads" (open assignments by SLA due time, with live countdowns) and the
handoff brief of one lead, where the rep touches, accepts or rejects it, logs the discovery call
with BANT, and moves the opportunity on.

Views parse input, check the permission, call a selector or a service and render. Every page
needs `handoff.work_leads` (anonymous people are sent to sign in, others get 403); the services
decide who may act on which lead and raise PermissionDenied (403) otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.safestring import SafeString
from django.views import View

from crm.display import DateTexts, naturaltime, url_maker
from crm.fragments import render_rows
from handoff import services
from handoff.forms_workspace import (
    DiscoveryCallForm,
    RejectForm,
    TouchForm,
    add_call_errors,
)
from handoff.models import CallOutcome, Opportunity, SlaClock, SlaStatus
from handoff.selectors import workspace as selectors
from handoff.templatetags.handoff_tags import sla_clock
from leads.forms import add_service_errors
from leads.lifecycle import Stage, TransitionRefused
from leads.models import Lead, full_name, segment_label
from leads.templatetags.leads_tags import stage_badge_html, timeline_entries
from leads.views import CHANNEL_LABELS


class WorkspaceView(PermissionRequiredMixin, View):
    permission_required = "handoff.work_leads"


@dataclass(frozen=True, slots=True)
class MyLeadsRow:
    """A row of "My leads" with what it shows formatted once here (the SLA clock pill, dates,
    URLs, numbers as text): the template only places it. Up to 200 rows a page."""

    lead_id: int
    status: str
    url: str
    name: str
    hot_title: str
    subtitle: str
    company: str
    company_line: str
    stage_badge: SafeString
    channel: str
    source_line: str
    fit: str
    engagement: str
    clock_pill: SafeString
    due: str
    assigned_iso: str
    assigned_title: str
    assigned_ago: str
    rep_line: str


def my_leads_rows(listing: selectors.MyLeads, *, show_rep: bool) -> list[MyLeadsRow]:
    """The rows of "My leads", from the selector's plain values (no query)."""
    work_url = url_maker("handoff:work_lead")
    dates = DateTexts()
    zone = dates.zone
    now = listing.now
    rows = []
    for row in listing.rows:
        values, clock = row.values, row.clock
        lead_id, email = values["lead_id"], values["lead__email"]
        name = full_name(values["lead__first_name"], values["lead__last_name"]) or email  # as str(lead)
        company = values["lead__company__name"] or ""
        company_line = ""
        if company:  # "Enterprise · DE"
            segment = segment_label(values["lead__company__size"])
            company_line = " · ".join(part for part in (segment, values["lead__company__country"]) if part)
        assigned_at = values["assigned_at"].astimezone(zone)
        rep_line = ""
        if show_rep:
            rep_line = full_name(values["rep__first_name"], values["rep__last_name"]) or values["rep__username"]
            if values["team__name"]:
                rep_line += f" · {values['team__name']}"
        hot_at, channel = values["lead__hot_signal_at"], values["lead__source_channel"]
        rows.append(
            MyLeadsRow(
                lead_id=lead_id,
                status=row.status,
                url=work_url(lead_id),
                name=name,
                hot_title=naturaltime(hot_at, now) if hot_at else "",
                subtitle=values["lead__job_title"] or email,
                company=company,
                company_line=company_line,
                stage_badge=stage_badge_html(values["lead__stage"]),
                channel=CHANNEL_LABELS.get(channel, channel),
                source_line=values["lead__campaign__name"] or values["lead__source_detail"] or "No campaign",
                fit=str(values["lead__fit_score"]),
                engagement=str(values["lead__engagement_score"]),
                clock_pill=sla_clock(clock, row.status, now, dates=dates),
                due=dates.format(clock.due_at.astimezone(zone), "D j M, H:i") if clock else "",
                assigned_iso=assigned_at.isoformat(timespec="seconds"),
                assigned_title=dates.format(assigned_at, "DATETIME_FORMAT"),
                assigned_ago=naturaltime(values["assigned_at"], now),
                rep_line=rep_line,
            )
        )
    return rows


class MyLeadsView(WorkspaceView):
    def get(self, request: HttpRequest) -> HttpResponse:
        scope = selectors.workspace_scope(user=request.user, rep_param=request.GET.get("rep", ""))
        listing = selectors.my_leads(scope=scope)
        rows = my_leads_rows(listing, show_rep=scope.is_manager)
        return render(
            request,
            "handoff/workspace/my_leads.html",
            {
                "scope": scope,
                "listing": listing,
                "rows": rows,
                "rows_html": render_rows("handoff/my_leads_rows.html", rows=rows),
                "now": listing.now,
            },
        )


# --- the handoff brief --------------------------------------------------------------------------


def _lead_or_404(lead_id: int) -> Lead:
    try:
        return selectors.work_lead(lead_id=lead_id)
    except Lead.DoesNotExist as exc:
        raise Http404("No lead with this id.") from exc


def _render_brief(
    request: HttpRequest,
    lead: Lead,
    *,
    touch_form: TouchForm | None = None,
    reject_form: RejectForm | None = None,
    call_form: DiscoveryCallForm | None = None,
) -> HttpResponse:
    brief = selectors.lead_brief(lead=lead, user=request.user)
    if not selectors.can_view(request.user, lead, brief.open_assignment):
        raise PermissionDenied("This lead is not assigned to you.")
    allowed = brief.permissions
    context: dict[str, Any] = {
        "lead": lead,
        "brief": brief,
        "timeline_entries": timeline_entries(brief.timeline),
        "now": brief.now,
        "can": allowed,
        "touch_form": (touch_form or TouchForm()) if allowed["touch"] else None,
        "reject_form": (reject_form or RejectForm(reasons=brief.reasons)) if allowed["reject"] else None,
        "reject_open": reject_form is not None and bool(reject_form.errors),
        "call_form": (call_form or DiscoveryCallForm()) if allowed["call"] else None,
        "advance_to": selectors.ADVANCE_TO.get(lead.stage) if allowed["advance"] else None,
    }
    return render(request, "handoff/workspace/work_lead.html", context)


class WorkLeadView(WorkspaceView):
    def get(self, request: HttpRequest, lead_id: int) -> HttpResponse:
        return _render_brief(request, _lead_or_404(lead_id))


class LeadActionView(WorkspaceView):
    """POST only. Subclasses call one service; success redirects (post/redirect/get)."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, lead_id: int) -> HttpResponse:
        lead = _lead_or_404(lead_id)
        return self.act(request, lead)

    def act(self, request: HttpRequest, lead: Lead) -> HttpResponse:  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def back(lead: Lead, anchor: str = "") -> HttpResponse:
        return redirect(reverse("handoff:work_lead", args=[lead.pk]) + (f"#{anchor}" if anchor else ""))


class TouchView(LeadActionView):
    def act(self, request: HttpRequest, lead: Lead) -> HttpResponse:
        form = TouchForm(request.POST)
        if not form.is_valid():
            return _render_brief(request, lead, touch_form=form)
        try:
            activity = services.touch_log(
                lead_id=lead.pk, user=request.user, kind=form.cleaned_data["kind"], note=form.cleaned_data["note"]
            )
        except ValidationError as error:
            add_service_errors(form, error)
            return _render_brief(request, lead, touch_form=form)
        kind = dict(form.fields["kind"].choices)[form.cleaned_data["kind"]]
        clock = SlaClock.objects.filter(assignment__lead=lead, assignment__is_open=True).first()
        if clock is not None and clock.first_touch_at == activity.occurred_at:
            status = clock.status_at()
            verdict = "SLA met" if status == SlaStatus.MET else "SLA met late"
            messages.success(request, f"{kind} logged. First touch: the SLA clock stopped — {verdict}.")
        else:
            messages.success(request, f"{kind} logged.")
        return self.back(lead)


class AcceptView(LeadActionView):
    def act(self, request: HttpRequest, lead: Lead) -> HttpResponse:
        try:
            lead = services.lead_accept(lead_id=lead.pk, user=request.user)
        except (ValidationError, TransitionRefused) as error:
            messages.error(request, f"{lead} was not accepted: {_message(error)}")
        else:
            messages.success(request, f"Accepted: {lead} is now a sales accepted lead (SAL).")
        return self.back(lead)


class RejectView(LeadActionView):
    def act(self, request: HttpRequest, lead: Lead) -> HttpResponse:
        form = RejectForm(request.POST, reasons=selectors.active_reasons())
        if not form.is_valid():
            messages.error(request, "The lead was not rejected: check the reason below.")
            return _render_brief(request, lead, reject_form=form)
        to = form.cleaned_data["to"]
        try:
            lead = services.lead_reject(
                lead_id=lead.pk,
                user=request.user,
                to=to,
                reason_code=form.cleaned_data["reason"],
                note=form.cleaned_data["note"],
                nurture_until=form.cleaned_data["nurture_until"] if to == Stage.RECYCLED else None,
            )
        except ValidationError as error:
            add_service_errors(form, error)
            messages.error(request, "The lead was not rejected: check the reason below.")
            return _render_brief(request, lead, reject_form=form)
        except TransitionRefused as refused:
            messages.error(request, f"The lead was not rejected. {refused.message}")
            return _render_brief(request, lead, reject_form=form)
        reason = dict(form.fields["reason"].choices).get(form.cleaned_data["reason"], "")
        where = "back to marketing (Recycled)" if to == Stage.RECYCLED else "out of the funnel (Disqualified)"
        messages.success(request, f"{lead} sent {where}: {reason}.")
        return redirect("handoff:my_leads")


class DiscoveryCallView(LeadActionView):
    def act(self, request: HttpRequest, lead: Lead) -> HttpResponse:
        form = DiscoveryCallForm(request.POST)
        if not form.is_valid():
            form.add_missing_bant()
            return _render_brief(request, lead, call_form=form)
        try:
            call = services.call_log(lead_id=lead.pk, user=request.user, data=form.call_data())
        except ValidationError as error:
            add_call_errors(form, error)
            return _render_brief(request, lead, call_form=form)
        except TransitionRefused as refused:
            form.add_error(None, f"The call was not logged: {refused.message}")
            return _render_brief(request, lead, call_form=form)
        if call.outcome == CallOutcome.QUALIFIED:
            opportunity = Opportunity.objects.filter(discovery_call=call).first()
            if opportunity is not None:
                messages.success(request, f"Converted to SQL — opportunity {opportunity.name} created")
                return self.back(lead, "opportunity")
            messages.success(request, "Qualified discovery call logged.")
            return self.back(lead)
        lead.refresh_from_db(fields=["stage"])
        messages.success(
            request,
            f"Discovery call logged ({CallOutcome(call.outcome).label.lower()}). "
            f"{lead} stays at {Stage(lead.stage).label}.",
        )
        return self.back(lead)


class AdvanceView(LeadActionView):
    def act(self, request: HttpRequest, lead: Lead) -> HttpResponse:
        to = request.POST.get("to", "")
        try:
            lead = services.lead_advance(lead_id=lead.pk, user=request.user, to=to, reason=request.POST.get("note", ""))
        except (ValidationError, TransitionRefused) as error:
            messages.error(request, f"{lead} did not move: {_message(error)}")
        else:
            messages.success(request, f"{lead} moved to {Stage(lead.stage).label}.")
        return self.back(lead)


def _message(error: Exception) -> str:
    if isinstance(error, TransitionRefused):
        return error.message
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return str(error)


urlpatterns = [
    path("my-leads/", MyLeadsView.as_view(), name="my_leads"),
    path("my-leads/<int:lead_id>/", WorkLeadView.as_view(), name="work_lead"),
    path("my-leads/<int:lead_id>/touch/", TouchView.as_view(), name="work_touch"),
    path("my-leads/<int:lead_id>/accept/", AcceptView.as_view(), name="work_accept"),
    path("my-leads/<int:lead_id>/reject/", RejectView.as_view(), name="work_reject"),
    path("my-leads/<int:lead_id>/call/", DiscoveryCallView.as_view(), name="work_call"),
    path("my-leads/<int:lead_id>/advance/", AdvanceView.as_view(), name="work_advance"),
]
