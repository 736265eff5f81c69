"""The lead pages: the list, a lead's page, create and edit, and manual stage changes.

Views parse input, check the permission, call a selector or a service and render; the rules live
in `leads.services` and `leads.lifecycle`. Every view needs a permission: anonymous people are
sent to sign in, signed-in people without it get 403 (PermissionRequiredMixin's default).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils.functional import cached_property
from django.utils.safestring import SafeString
from django.views import View
from django.views.generic import FormView

from crm.display import DateTexts, url_maker
from crm.fragments import render_rows
from crm.list_filters import checkbox_options, has_value, url_without
from crm.pagination import InvalidCursorError, KeysetPage, KeysetPaginator, count_capped
from leads import selectors, services
from leads.filters import DEFAULT_SORT, LEAD_SORTS, LeadFilter, lead_sort_ordering
from leads.forms import LeadCreateForm, LeadEditForm, StageChangeForm, add_service_errors
from leads.lifecycle import FUNNEL, Actor, Stage, passed_stages
from leads.models import Channel, Lead, Segment, StageTransition, full_name, segment_label
from leads.templatetags.leads_tags import stage_badge_html, timeline_entries
from leads.templatetags.scoring_tags import explanation_from, explanation_of, score_parts

# Filters shown in the collapsible panel (the search box sits in the toolbar).
PANEL_FILTERS = (
    "stage",
    "source_channel",
    "campaign",
    "owner",
    "segment",
    "fit_min",
    "fit_max",
    "engagement_min",
    "engagement_max",
)


CHANNEL_LABELS: dict[str, str] = dict(Channel.choices)


@dataclass(frozen=True)
class FilterChip:
    label: str
    remove_url: str


@dataclass(frozen=True, slots=True)
class LeadRow:
    """What a row of the lead list shows, formatted once here: the template only places it
    (numbers as text too, which spares the template localising each one)."""

    id: str
    url: str
    name: str
    email: str
    job_title: str
    stage_badge: SafeString
    company: str
    segment: str
    fit: str
    engagement: str
    fit_parts: SafeString
    engagement_parts: SafeString
    channel: str
    campaign: str
    owner: str
    created_iso: str
    created_title: str
    created_day: str


def lead_rows(leads: Iterable[dict[str, Any]]) -> list[LeadRow]:
    """The rows of a page of leads, from their values (leads.selectors.LEAD_ROW_VALUES): no query."""
    detail_url = url_maker("leads:detail")
    dates = DateTexts()
    rows = []
    for lead in leads:
        created = lead["created_at"].astimezone(dates.zone)
        email, fit, engagement = lead["email"], lead["fit_score"], lead["engagement_score"]
        explanation = explanation_from(lead["score_explanation"], fit_score=fit, engagement_score=engagement)
        owner = ""
        if lead["owner__username"] is not None:  # as get_full_name() or get_username()
            owner = full_name(lead["owner__first_name"], lead["owner__last_name"]) or lead["owner__username"]
        rows.append(
            LeadRow(
                id=str(lead["id"]),
                url=detail_url(lead["id"]),
                name=full_name(lead["first_name"], lead["last_name"]) or email,  # as Lead.__str__
                email=email,
                job_title=lead["job_title"],
                stage_badge=stage_badge_html(lead["stage"]),
                company=lead["company__name"] or "",
                segment=segment_label(lead["company__size"]) if lead["company__name"] else "",
                fit=str(fit),
                engagement=str(engagement),
                fit_parts=score_parts(explanation, "fit"),
                engagement_parts=score_parts(explanation, "engagement"),
                channel=CHANNEL_LABELS.get(lead["source_channel"], lead["source_channel"]),
                campaign=lead["campaign__name"] or "",
                owner=owner,
                created_iso=created.isoformat(),
                created_title=dates.format(created, "DATETIME_FORMAT"),
                created_day=dates.format(created.date(), "M j, Y"),
            )
        )
    return rows


class LeadListView(PermissionRequiredMixin, View):
    permission_required = "leads.view_lead"
    template_name = "leads/lead_list.html"
    per_page = 50

    def get(self, request: HttpRequest) -> HttpResponse:
        sort = request.GET.get("sort", DEFAULT_SORT)
        if sort not in LEAD_SORTS:
            sort = DEFAULT_SORT
        # The resolved sort travels with the filters (LeadFilter ignores it); it also keeps the
        # filter data bound when the URL has no parameters at all.
        params = request.GET.copy()
        params["sort"] = sort

        page: KeysetPage | None = None
        total: tuple[int, bool] | None = None
        cursor_error = ""
        try:
            queryset, rows_queryset, filterset = selectors.lead_list_page(user=request.user, params=params)
        except ValidationError:
            # Re-validate only to show each error next to its filter; no leads are listed.
            filterset = LeadFilter(data=params, queryset=Lead.objects.none())
            filterset.is_valid()
            queryset = None
        if queryset is not None:
            paginator = KeysetPaginator(rows_queryset, ordering=lead_sort_ordering(sort), per_page=self.per_page)
            try:
                page = paginator.page(request.GET.get("cursor") or None)
            except InvalidCursorError as exc:
                cursor_error = str(exc)
            else:
                total = count_capped(queryset)

        form = filterset.form
        _style_filter_form(form)
        filter_errors = bool(form.errors)
        chips = [] if filter_errors else _filter_chips(request.GET, form)
        panel_active = sum(1 for name in PANEL_FILTERS if has_value(request.GET, name))
        rows = lead_rows(page) if page is not None else []
        context = {
            "form": form,
            "page": page,
            "rows": rows,
            "rows_html": render_rows("leads/lead_rows.html", rows=rows),
            "has_page": page is not None,  # an empty KeysetPage is falsy in templates
            "has_cursor": bool(request.GET.get("cursor")),
            "total": total[0] if total else 0,
            "total_capped": total[1] if total else False,
            "cursor_error": cursor_error,
            "filter_errors": filter_errors,
            "chips": chips,
            "panel_active": panel_active,
            "panel_open": filter_errors or panel_active > 0,
            "is_filtered": bool(chips) or filter_errors,
            "sort": sort,
            "sorts": [(key, label) for key, (label, _) in LEAD_SORTS.items()],
            "stage_options": checkbox_options(form, "stage", Stage.choices),
            "channel_options": checkbox_options(form, "source_channel", Channel.choices),
            "first_page_url": url_without(request.GET, "cursor"),
            "clear_url": request.path + (f"?sort={sort}" if sort != DEFAULT_SORT else ""),
        }
        return render(request, self.template_name, context)


class LeadDetailView(PermissionRequiredMixin, View):
    permission_required = "leads.view_lead"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        lead = _lead_or_404(request, pk)
        return render(request, "leads/lead_detail.html", lead_page_context(request, lead))


class LeadTransitionView(PermissionRequiredMixin, View):
    """POST only: move the lead through `leads.services.lead_move`, the one way every generic door
    changes a stage: handoff's dispatcher makes the move through the service that owns it (the
    rep's rejection, the queue's decisions, advancing the opportunity), with its permissions, so
    assignments and clocks close as they do from the work pages; SAL and SQL are made only by the
    acceptance and the qualifying call, and a posted `sal` or `sql` is told so — after the
    lifecycle's own rule (the graph, the reason rule, handoff's BANT guard), whose message the
    form shows on the field it names. A move the page does not offer (not one of MANUAL_TARGETS)
    is still answered by the rules, not by "Select a valid choice".
    """

    permission_required = "leads.change_lead"
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        lead = _lead_or_404(request, pk)
        form = StageChangeForm(request.POST, lead=lead)
        if not form.is_valid():
            form.mark_errors()
            messages.error(request, "The stage was not changed: check the form below.")
        else:
            to, reason, actor = form.cleaned_data["to"], form.cleaned_data["reason"], Actor(user=request.user)
            try:
                lead = services.lead_move(lead_id=lead.pk, to=to, actor=actor, reason=reason)
            except services.MOVE_REFUSALS as exc:
                refused = services.move_refusal(exc)
                messages.error(request, f"The stage was not changed. {refused.message}")
                form.refuse(refused)
            else:
                messages.success(request, f"{lead} moved to {Stage(lead.stage).label}.")
                return redirect(lead)
        # Show the page again with what was typed, so a refused reason is not lost.
        return render(request, "leads/lead_detail.html", lead_page_context(request, lead, stage_form=form))


class LeadMergeView(PermissionRequiredMixin, View):
    """POST only: merge a likely duplicate into this lead (`leads.services.lead_merge`)."""

    permission_required = "leads.change_lead"
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        survivor = _lead_or_404(request, pk)
        duplicate_id = request.POST.get("duplicate", "")
        if not duplicate_id.isdigit():
            messages.error(request, "Choose the duplicate to merge into this lead.")
            return redirect(survivor)
        try:
            merged = services.lead_merge(
                survivor_id=survivor.pk, duplicate_id=int(duplicate_id), actor=Actor(user=request.user)
            )
        except ValidationError as error:
            messages.error(request, f"Nothing was merged: {' '.join(error.messages)}")
            return redirect(survivor)
        record = merged.merges.order_by("-at", "-id").first()
        messages.success(
            request,
            f"Merged {record.merged_email} into this lead: {record.activities_moved} activities and "
            f"{record.transitions_moved} stage changes moved.",
        )
        return redirect(merged)


class LeadCreateView(PermissionRequiredMixin, FormView):
    permission_required = "leads.add_lead"
    form_class = LeadCreateForm
    template_name = "leads/lead_form.html"

    def form_valid(self, form: LeadCreateForm) -> HttpResponse:
        try:
            lead = services.lead_create(actor=Actor(user=self.request.user), **form.service_kwargs())
        except ValidationError as error:
            add_service_errors(form, error)
            return self.form_invalid(form)
        messages.success(self.request, f"Lead {lead} created.")
        return redirect(lead)


class LeadEditView(PermissionRequiredMixin, FormView):
    permission_required = "leads.change_lead"
    form_class = LeadEditForm
    template_name = "leads/lead_form.html"

    @cached_property
    def lead(self) -> Lead:
        return _lead_or_404(self.request, self.kwargs["pk"])

    def get_initial(self) -> dict[str, Any]:
        return LeadEditForm.initial_for(self.lead)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(lead=self.lead, **kwargs)

    def form_valid(self, form: LeadEditForm) -> HttpResponse:
        changes = form.changes()
        if not changes:
            messages.info(self.request, "Nothing changed.")
            return redirect(self.lead)
        try:
            lead = services.lead_update(lead_id=self.lead.pk, actor=Actor(user=self.request.user), **changes)
        except ValidationError as error:
            add_service_errors(form, error)
            return self.form_invalid(form)
        messages.success(self.request, f"Changes to {lead} saved.")
        return redirect(lead)


# --- the lead page ----------------------------------------------------------------------------


TIMELINE_LIMIT = 100


@dataclass(frozen=True)
class FunnelStep:
    stage: Stage
    state: str  # "done", "current" or "todo"
    entered_at: datetime | None


def lead_page_context(request: HttpRequest, lead: Lead, *, stage_form: StageChangeForm | None = None) -> dict[str, Any]:
    history = selectors.lead_stage_history(lead=lead)
    can_change = request.user.has_perm("leads.change_lead")
    if can_change and stage_form is None:
        stage_form = StageChangeForm(lead=lead)
    sql_hint = can_change and stage_form is not None and bool(stage_form.sql_hint_id)
    timeline = selectors.lead_timeline(lead=lead, limit=TIMELINE_LIMIT)
    return {
        "lead": lead,
        "explanation": explanation_of(lead),
        "duplicates": selectors.lead_duplicates(lead=lead),
        "merges": selectors.lead_merges(lead=lead),
        "can_merge": can_change,
        "timeline": timeline,
        "timeline_entries": timeline_entries(timeline),
        "timeline_truncated": len(timeline) >= TIMELINE_LIMIT,
        "history": list(reversed(history)),
        "funnel": _funnel_steps(lead, history),
        "side_stage": lead.stage if lead.stage not in FUNNEL else "",
        "stage_form": stage_form if can_change else None,
        "can_log_call": sql_hint and _may_log_call(request.user, lead),
    }


def _may_log_call(user: Any, lead: Lead) -> bool:
    """Whether `user` may open this lead's discovery-call form, on handoff's work page.

    Handoff's rule (`can_act_on`), asked by permission name so that `leads` imports nothing from
    `handoff`: a manager acts on any lead; a rep on the lead assigned to them, whom the hand-off
    makes its owner. Cached permissions and a loaded column: no query."""
    if user.has_perm("handoff.act_on_any_lead"):
        return True
    return user.has_perm("handoff.work_leads") and lead.owner_id is not None and lead.owner_id == user.pk


def _funnel_steps(lead: Lead, history: list[StageTransition]) -> list[FunnelStep]:
    """The funnel with the lead's place in it. Off the funnel, the stages it passed are done."""
    entered: dict[str, datetime] = {}
    passed: set[str] = set()
    for transition in history:
        entered[transition.to_stage] = transition.at
        passed.update(passed_stages(transition.from_stage, transition.to_stage))
    steps = []
    current = FUNNEL.index(Stage(lead.stage)) if lead.stage in FUNNEL else None
    for index, stage in enumerate(FUNNEL):
        if current is None:
            state = "done" if stage in passed else "todo"
        else:
            state = "done" if index < current else "current" if index == current else "todo"
        steps.append(FunnelStep(stage, state, entered.get(stage) if state != "todo" else None))
    return steps


# --- helpers ----------------------------------------------------------------------------------


def _lead_or_404(request: HttpRequest, pk: int) -> Lead:
    try:
        return selectors.lead_get(user=request.user, lead_id=pk)
    except Lead.DoesNotExist as exc:
        raise Http404("No lead with this id.") from exc


def _style_filter_form(form: Form) -> None:
    """Bootstrap classes and friendlier empty choices on the filter form's widgets."""
    empty_labels = {"campaign": "Any campaign", "owner": "Anyone", "segment": "Any segment"}
    for name, field in form.fields.items():
        if name in empty_labels:
            field.empty_label = empty_labels[name]
            if name == "segment":  # a plain choice field: its widget holds the choices
                field.widget.choices = [("", empty_labels[name]), *Segment.choices]
        if name == "owner":
            field.label_from_instance = lambda user: user.get_full_name() or user.get_username()
        css = "form-select form-select-sm" if name in empty_labels else "form-control form-control-sm"
        if name in form.errors:
            css += " is-invalid"
        field.widget.attrs["class"] = css
        if name.endswith(("_min", "_max")):
            field.widget.attrs["placeholder"] = "min" if name.endswith("_min") else "max"
            field.widget.attrs["step"] = "1"


def _filter_chips(params: QueryDict, form: Form) -> list[FilterChip]:
    """One removable chip per applied filter value, in the order of the panel."""
    data = form.cleaned_data
    chips: list[FilterChip] = []
    if data.get("q", "").strip():
        chips.append(FilterChip(f"“{data['q'].strip()}”", url_without(params, "q")))
    for value in data.get("stage") or []:
        chips.append(FilterChip(f"Stage: {Stage(value).label}", url_without(params, "stage", value)))
    for value in data.get("source_channel") or []:
        chips.append(FilterChip(f"Source: {Channel(value).label}", url_without(params, "source_channel", value)))
    if data.get("campaign"):
        chips.append(FilterChip(f"Campaign: {data['campaign'].name}", url_without(params, "campaign")))
    owner = data.get("owner")
    if owner:
        name = "Unassigned" if owner == "null" else owner.get_full_name() or owner.get_username()
        chips.append(FilterChip(f"Owner: {name}", url_without(params, "owner")))
    if data.get("segment"):
        label = f"Segment: {Segment(data['segment']).label}"
        chips.append(FilterChip(label, url_without(params, "segment")))
    for name, label in (
        ("fit_min", "Fit ≥"),
        ("fit_max", "Fit ≤"),
        ("engagement_min", "Engagement ≥"),
        ("engagement_max", "Engagement ≤"),
    ):
        if data.get(name) is not None:
            chips.append(FilterChip(f"{label} {data[name]:g}", url_without(params, name)))
    return chips
