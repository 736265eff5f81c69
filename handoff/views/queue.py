"""The MQL queue: marketers review new MQLs and hand them off, send them back to nurture or
disqualify them — one at a time or in bulk.

Views parse input, check the permission, call a selector or a service and render. Filters and
the sort live in the URL, so a view of the queue can be shared, and every action comes back to
the same filtered URL. Anonymous people are sent to sign in; people without
`handoff.review_mql_queue` get 403.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.forms import Form
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.template.backends.utils import csrf_input
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString
from django.views import View

from crm.display import DateTexts, url_maker
from crm.fragments import render_rows
from crm.list_filters import checkbox_options, has_value, url_without
from crm.pagination import InvalidCursorError, KeysetPage, count_capped
from handoff import automation, services
from handoff.forms_queue import (
    DEFAULT_QUEUE_SORT,
    QUEUE_SORTS,
    WAIT_PRESETS,
    QueueActionForm,
    QueueDecision,
    QueueFilter,
    wait_label,
)
from handoff.selectors import queue as selectors
from handoff.templatetags.queue_tags import score_breakdown_html, wait
from leads import services as lead_services
from leads.models import Channel, Lead, Segment
from leads.views import CHANNEL_LABELS, FilterChip

PERMISSION = "handoff.review_mql_queue"
PANEL_FILTERS = (
    "source_channel",
    "campaign",
    "segment",
    "fit_min",
    "fit_max",
    "engagement_min",
    "engagement_max",
    "waiting",
    "hot",
)
# How long a wait reads as getting long (amber) and too long (red) in the "In queue" column.
WAIT_WARN = timedelta(hours=24)
WAIT_LATE = timedelta(days=3)
MAX_NAMES_IN_MESSAGE = 10


@dataclass(frozen=True)
class ScorePart:
    label: str
    points: int


@dataclass
class ScoreBreakdown:
    """The contributions that make up one score, and whether they add up to it."""

    score: int
    parts: list[ScorePart] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(part.points for part in self.parts)

    @property
    def adds_up(self) -> bool:
        return self.total == self.score


@dataclass(frozen=True)
class QueueFlag:
    """Something a marketer should know before deciding: held for review, back from nurture…"""

    tone: str  # danger, warning, info
    icon: str  # a Bootstrap icon name
    text: str
    title: str = ""


@dataclass
class QueueRow:
    """A row of the queue, with what it shows formatted once here (numbers as text, dates,
    URLs, the score breakdowns' HTML): the template only places it."""

    lead: Lead
    wait: timedelta
    fit: ScoreBreakdown
    engagement: ScoreBreakdown
    topics: list[str]
    id: str = ""
    url: str = ""
    name: str = ""
    company: str = ""
    segment: str = ""
    channel: str = ""
    campaign: str = ""
    wait_text: str = ""
    mql_iso: str = ""
    mql_title: str = ""
    mql_full: str = ""
    hot_iso: str = ""
    hot_title: str = ""
    hot_full: str = ""
    why: SafeString = field(default_factory=SafeString)
    route: str = ""  # which rule would take the lead, and whether it waits for review
    route_title: str = ""
    review_text: str = ""  # the review policy's due time, or how overdue the review is
    review_tone: str = ""
    review_title: str = ""
    flags: list[QueueFlag] = field(default_factory=list)

    @property
    def wait_tone(self) -> str:
        return "late" if self.wait >= WAIT_LATE else "warn" if self.wait >= WAIT_WARN else "ok"


def score_breakdowns(lead: Lead) -> tuple[ScoreBreakdown, ScoreBreakdown]:
    """The lead's explanation split into its fit and engagement parts (biggest first)."""
    fit, engagement = ScoreBreakdown(lead.fit_score), ScoreBreakdown(lead.engagement_score)
    explanation = lead.score_explanation if isinstance(lead.score_explanation, list) else []
    for item in explanation:
        if not isinstance(item, dict):
            continue
        try:
            part = ScorePart(str(item.get("label") or "Rule"), int(item.get("points") or 0))
        except (TypeError, ValueError):
            continue
        (fit if item.get("kind") == "fit" else engagement).parts.append(part)
    for breakdown in (fit, engagement):
        breakdown.parts.sort(key=lambda part: -part.points)
    return fit, engagement


class QueueView(PermissionRequiredMixin, View):
    permission_required = PERMISSION
    template_name = "handoff/queue/queue.html"
    per_page = 50

    def get(self, request: HttpRequest) -> HttpResponse:
        sort = request.GET.get("sort", DEFAULT_QUEUE_SORT)
        if sort not in QUEUE_SORTS:
            sort = DEFAULT_QUEUE_SORT
        params = request.GET.copy()
        params["sort"] = sort  # keeps the filter data bound when the URL has no parameters

        now = timezone.now()
        page: KeysetPage | None = None
        total: tuple[int, bool] | None = None
        cursor_error = ""
        try:
            queryset, filterset = selectors.queue_list(user=request.user, params=params)
        except ValidationError:
            filterset = QueueFilter(data=params, queryset=Lead.objects.none())
            filterset.is_valid()
            queryset = None
        summary = selectors.queue_summary(now=now)
        if queryset is not None:
            paginator = selectors.queue_paginator(queryset, sort=sort, per_page=self.per_page)
            try:
                page = paginator.page(request.GET.get("cursor") or None)
            except InvalidCursorError as exc:
                cursor_error = str(exc)

        form = filterset.form
        _style_filter_form(form)
        filter_errors = bool(form.errors)
        chips = [] if filter_errors else _filter_chips(request.GET, form)
        if page is not None:
            # The whole queue is counted for the header already; count again only when filtered.
            total = (
                (summary.waiting, summary.waiting_capped)
                if not chips
                else count_capped(queryset, cap=selectors.QUEUE_COUNT_CAP)
            )
        teams = selectors.handoff_teams()
        rows = _rows(page.object_list, now, teams) if page is not None else []
        panel_active = sum(1 for name in PANEL_FILTERS if has_value(request.GET, name))
        reasons = selectors.queue_reasons()
        next_url = request.get_full_path()
        row_context = {
            "next_url": next_url,
            "next_param": quote(next_url),  # as the urlencode filter does
            "action_url": reverse("handoff:queue_action"),
            "teams": teams,
            "team_choice": len(teams) > 1,
        }
        context = {
            **row_context,
            "form": form,
            "page": page,
            "rows": rows,
            "rows_html": render_rows(
                "handoff/queue_rows.html", rows=rows, csrf_input=csrf_input(request), **row_context
            ),
            "has_page": page is not None,
            "has_cursor": bool(request.GET.get("cursor")),
            "total": total[0] if total else 0,
            "total_capped": total[1] if total else False,
            "summary": summary,
            "oldest_wait": now - summary.oldest_mql_at if summary.oldest_mql_at else None,
            "cursor_error": cursor_error,
            "filter_errors": filter_errors,
            "chips": chips,
            "panel_active": panel_active,
            "panel_open": filter_errors or panel_active > 0,
            "is_filtered": bool(chips) or filter_errors,
            "sort": sort,
            "sorts": [(key, label) for key, (label, _) in QUEUE_SORTS.items()],
            "channel_options": checkbox_options(form, "source_channel", Channel.choices),
            "first_page_url": url_without(request.GET, "cursor"),
            "clear_url": request.path + (f"?sort={sort}" if sort != DEFAULT_QUEUE_SORT else ""),
            "nurture_form": _modal_form(reasons, QueueDecision.NURTURE),
            "cool_offs": cool_off_summary(reasons["nurture"]),
            "disqualify_form": _modal_form(reasons, QueueDecision.DISQUALIFY),
        }
        return render(request, self.template_name, context)


class QueueActionView(PermissionRequiredMixin, View):
    """POST: act on the picked leads, report each outcome, return to the queue as it was.

    GET (a row's "Send back to nurture…" without JavaScript) and a bulk POST without a reason
    show the action's own page, where the reason is chosen; a POST that fails validation shows
    that page again with each error on its field, and nothing is changed.
    """

    permission_required = PERMISSION
    template_name = "handoff/queue/action.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        decision = request.GET.get("action", "")
        lead_ids = _ids(request.GET.getlist("lead"))
        if decision not in QueueDecision.values or not lead_ids:
            messages.error(request, "Choose an action and at least one lead from the queue.")
            return redirect(_back_url(request, request.GET.get("next", "")))
        form = QueueActionForm(
            reasons=selectors.queue_reasons(),
            decision=decision,
            initial={"action": decision, "lead": lead_ids, "next": request.GET.get("next", "")},
        )
        return self._render_form(request, form, decision, lead_ids)

    def post(self, request: HttpRequest) -> HttpResponse:
        decision = request.POST.get("action", "")
        reasons = selectors.queue_reasons()
        if decision in (QueueDecision.NURTURE, QueueDecision.DISQUALIFY) and "reason" not in request.POST:
            # The bulk bar without JavaScript: ask for the reason on the action's own page.
            lead_ids = _ids(request.POST.getlist("lead"))
            if lead_ids:
                initial = {"action": decision, "lead": lead_ids, "next": request.POST.get("next", "")}
                form = QueueActionForm(reasons=reasons, decision=decision, initial=initial)
                return self._render_form(request, form, decision, lead_ids)
        form = QueueActionForm(request.POST, reasons=reasons, decision=decision or None)
        if not form.is_valid():
            if form.has_error("lead") or form.has_error("action"):
                problem = form.errors.get("lead") or form.errors.get("action")
                messages.error(request, f"Nothing was changed: {' '.join(problem)}")
                return redirect(_back_url(request, request.POST.get("next", "")))
            return self._render_form(request, form, decision, form.cleaned_data.get("lead") or [])

        data = form.cleaned_data
        lead_ids: list[int] = data["lead"]
        leads = {lead.pk: lead for lead in selectors.queue_leads(lead_ids=lead_ids)}
        user = request.user
        assignments: dict[int, Any] = {}
        if data["action"] == QueueDecision.HAND_OFF:
            team_id = data["team"].pk if data.get("team") else None

            def act(lead_id: int) -> None:
                assignments[lead_id] = services.lead_hand_off(lead_id=lead_id, user=user, team_id=team_id)

        elif data["action"] == QueueDecision.NURTURE:

            def act(lead_id: int) -> None:
                services.lead_send_to_nurture(
                    lead_id=lead_id, user=user, reason_code=data["reason"], note=data["note"],
                    nurture_until=data.get("nurture_until"),
                )  # fmt: skip

        else:

            def act(lead_id: int) -> None:
                services.lead_disqualify_from_queue(
                    lead_id=lead_id, user=user, reason_code=data["reason"], note=data["note"]
                )

        results = services.bulk_apply(lead_ids, act)
        reason_label = dict(form.fields["reason"].choices).get(data.get("reason") or "", "")
        _report(request, data["action"], results, leads, assignments, reason_label)
        return redirect(_back_url(request, data.get("next", "")))

    def _render_form(self, request: HttpRequest, form: QueueActionForm, decision: str, lead_ids: Sequence[int]):  # type: ignore[no-untyped-def]
        context = {
            "form": form,
            "decision": decision,
            "decision_label": QueueDecision(decision).label if decision in QueueDecision.values else "Act",
            "leads": selectors.queue_leads(lead_ids=lead_ids),
            "back_url": _back_url(request, form["next"].value() or ""),
        }
        return render(request, self.template_name, context)


urlpatterns = [
    path("queue/", QueueView.as_view(), name="queue"),
    path("queue/act/", QueueActionView.as_view(), name="queue_action"),
]


# --- reporting what happened ------------------------------------------------------------------

DONE = {
    QueueDecision.HAND_OFF: ("Handed off {}", "handed off"),
    QueueDecision.NURTURE: ("Sent {} back to nurture", "sent back to nurture"),
    QueueDecision.DISQUALIFY: ("Disqualified {}", "disqualified"),
}


def _report(
    request: HttpRequest,
    decision: str,
    results: list[services.BulkResult],
    leads: dict[int, Lead],
    assignments: dict[int, Any],
    reason_label: str,
) -> None:
    """One message per action: what was done (and, for a hand-off, to whom) and what could not
    be, with each failure's reason — e.g. "Handed off 3 leads; 1 could not be: Ada — …"."""

    def name(lead_id: int) -> str:
        return str(leads[lead_id]) if lead_id in leads else f"Lead #{lead_id}"

    done = [result for result in results if result.ok]
    failed = [result for result in results if not result.ok]
    template, past = DONE[QueueDecision(decision)]
    why = f" ({reason_label})" if reason_label and decision != QueueDecision.HAND_OFF else ""
    failures = "; ".join(f"{name(r.lead_id)} — {r.message.rstrip('.')}" for r in failed[:MAX_NAMES_IN_MESSAGE])
    if len(failed) > MAX_NAMES_IN_MESSAGE:
        failures += f"; and {len(failed) - MAX_NAMES_IN_MESSAGE} more"

    if len(results) == 1:
        result = results[0]
        if result.ok:
            subject = name(result.lead_id)
            if decision == QueueDecision.HAND_OFF:
                assignment = assignments[result.lead_id]
                messages.success(request, f"{template.format(subject)} to {_rep_and_team(assignment)}.")
            else:
                messages.success(request, f"{template.format(subject)}{why}.")
        else:
            messages.error(request, f"{name(result.lead_id)} could not be {past}: {result.message}")
        return

    if not done:
        messages.error(request, _sentence(f"None of the {len(results)} leads could be {past}: {failures}"))
        return
    headline = template.format(f"{len(done)} lead{'s' if len(done) != 1 else ''}") + why
    if failed:
        headline += f"; {len(failed)} could not be: {failures}"
    headline = _sentence(headline)
    details: str = ""
    if decision == QueueDecision.HAND_OFF:
        shown = done[:MAX_NAMES_IN_MESSAGE]
        details = format_html(
            '<ul class="message-list">{}{}</ul>',
            format_html_join(
                "", "<li>{} → {}</li>", ((name(r.lead_id), _rep_and_team(assignments[r.lead_id])) for r in shown)
            ),
            format_html("<li>and {} more</li>", len(done) - len(shown)) if len(done) > len(shown) else "",
        )
    level = messages.WARNING if failed else messages.SUCCESS
    messages.add_message(request, level, format_html("{}{}", headline, details))


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else f"{text}."


def _rep_and_team(assignment: Any) -> str:
    rep = assignment.rep.get_full_name() or assignment.rep.get_username()
    return f"{rep} ({assignment.team.name})" if assignment.team_id else rep


# --- helpers ----------------------------------------------------------------------------------


def _rows(leads: list[Lead], now: datetime, teams: list[Any]) -> list[QueueRow]:
    topics = selectors.lead_topics(lead_ids=[lead.pk for lead in leads])
    detail_url = url_maker("leads:detail")
    dates = DateTexts()
    routing = automation.preview_context(teams=teams) if leads else None
    rows = []
    for lead in leads:
        fit, engagement = score_breakdowns(lead)
        company, mql_at = lead.company, timezone.localtime(lead.mql_at)
        hot_at = timezone.localtime(lead.hot_signal_at) if lead.hot_signal_at else None
        wait_for = max(now - lead.mql_at, timedelta(0))
        rows.append(
            QueueRow(
                lead,
                wait_for,
                fit,
                engagement,
                topics.get(lead.pk, []),
                id=str(lead.pk),
                url=detail_url(lead.pk),
                name=str(lead),
                company=company.name if company else "",
                segment=company.segment_label if company else "",
                channel=CHANNEL_LABELS.get(lead.source_channel, lead.source_channel),
                campaign=lead.campaign.name if lead.campaign else "",
                wait_text=wait(wait_for),
                mql_iso=mql_at.isoformat(),
                mql_title=dates.format(mql_at, "DATETIME_FORMAT"),
                mql_full=dates.format(mql_at, "M j, Y H:i"),
                hot_iso=hot_at.isoformat() if hot_at else "",
                hot_title=dates.format(hot_at, "M j, H:i") if hot_at else "",
                hot_full=dates.format(hot_at, "M j, Y H:i") if hot_at else "",
                why=SafeString(
                    score_breakdown_html("Fit", fit, "No fit rules matched.")
                    + score_breakdown_html("Engagement", engagement, "No engagement counted.")
                ),
            )
        )
        _describe_route(rows[-1], automation.lead_handoff_preview(lead, routing, now=now), now, dates)
    return rows


def _describe_route(row: QueueRow, decision: automation.Decision, now: datetime, dates: DateTexts) -> None:
    """What the row says about the lead's way to sales: the rule that would take it and whether it
    waits for review, the review's due time, and anything to know before deciding."""
    lead = row.lead
    team = decision.team.name if decision.team else "no team"
    rule = decision.rule.name if decision.rule else f"No rule matches: {team}"
    mode = "hands off by itself" if decision.why else "waits for review"
    row.route = f"{rule} · {mode}"
    row.route_title = f"Routing: {rule} (team {team}); {mode}."
    if getattr(lead, "review_due_at", None) is not None:
        due = lead.review_due_at
        if due <= now:
            late = now - due
            row.review_text = f"review {wait(late)} late" if late >= timedelta(minutes=1) else "review due"
            row.review_tone = "late"
        else:
            left = due - now
            row.review_text = f"review in {wait(left)}" if left >= timedelta(minutes=1) else "review due"
            row.review_tone = "ok"
        row.review_title = f"Review due by {dates.format(timezone.localtime(due), 'M j, H:i')} under the review policy"
    if getattr(lead, "handoff_error", None):
        row.flags.append(QueueFlag("danger", "exclamation-triangle", "Automatic hand-off failed", lead.handoff_error))
    if decision.fast_track.held:
        row.flags.append(
            QueueFlag(
                "warning",
                "shield-exclamation",
                "Hot, held for review",
                f"Not fast-tracked: {decision.fast_track.hold_text}.",
            )
        )
    returns = getattr(lead, "nurture_returns", None) or 0
    if returns:
        earlier = f"; last rejected: {lead.last_rejection}" if getattr(lead, "last_rejection", None) else ""
        text = "Back from nurture" if returns == 1 else f"Back from nurture ×{returns}"
        row.flags.append(
            QueueFlag(
                "info",
                "arrow-repeat",
                text,
                f"Came back from nurture {returns} time{'s' if returns != 1 else ''}{earlier}.",
            )
        )


def _ids(values: list[str]) -> list[int]:
    ids = []
    for value in values:
        try:
            number = int(value)
        except (TypeError, ValueError):
            continue
        if number > 0:
            ids.append(number)
    return list(dict.fromkeys(ids))


def _back_url(request: HttpRequest, candidate: str) -> str:
    """Back to the queue as it was (filters, sort, page) — only ever to the queue itself."""
    queue_url = reverse("handoff:queue")
    if (
        candidate
        and url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()})
        and urlsplit(candidate).path == queue_url
        and not urlsplit(candidate).netloc
    ):
        return candidate
    return queue_url


def cool_off_summary(reasons: Sequence[Any]) -> str:
    """ "Not now / timing 90 days, No budget 180 days, …": each nurture reason's default cool-off."""
    default = lead_services.DEFAULT_NURTURE_DAYS
    return ", ".join(f"{reason.label} {reason.nurture_days or default} days" for reason in reasons)


def _modal_form(reasons: dict[str, list[Any]], decision: QueueDecision) -> QueueActionForm:
    """The reason form of a modal (templates/handoff/queue/_reason_modal.html), with the classes
    crispy-forms would give its fields."""
    form = QueueActionForm(reasons=reasons, decision=decision, auto_id=f"{decision.value}_%s")
    form.fields["reason"].widget.attrs["class"] = "select form-select"
    form.fields["note"].widget.attrs["class"] = "textarea form-control"
    form.fields["nurture_until"].widget.attrs["class"] = "dateinput form-control"
    return form


def _style_filter_form(form: Form) -> None:
    """Bootstrap classes and friendly empty choices, as on the lead list."""
    selects = {"campaign": "Any campaign", "segment": "Any segment", "waiting": "Any wait"}
    for name, form_field in form.fields.items():
        if name == "campaign":
            form_field.empty_label = selects[name]
        elif name == "segment":
            form_field.widget.choices = [("", selects[name]), *Segment.choices]
        elif name == "waiting":
            current = (form.data.get("waiting") or "").strip().lower()
            choices = [("", selects[name]), *WAIT_PRESETS]
            if current and current not in dict(WAIT_PRESETS) and not form.has_error("waiting"):
                value = form_field.to_python(current)
                choices.append((current, f"More than {wait_label(value)}"))
            form_field.widget = forms.Select(choices=choices)
        if name == "hot":
            form_field.widget.attrs["class"] = "form-check-input"
            form_field.widget.attrs["value"] = "1"
            continue
        css = "form-select form-select-sm" if name in selects else "form-control form-control-sm"
        if name in form.errors:
            css += " is-invalid"
        form_field.widget.attrs["class"] = css
        if name.endswith(("_min", "_max")):
            form_field.widget.attrs["placeholder"] = "min" if name.endswith("_min") else "max"
            form_field.widget.attrs["step"] = "1"


def _filter_chips(params: QueryDict, form: Form) -> list[FilterChip]:
    """One removable chip per applied filter value, in the order of the panel."""
    data = form.cleaned_data
    chips: list[FilterChip] = []
    if (data.get("q") or "").strip():
        chips.append(FilterChip(f"“{data['q'].strip()}”", url_without(params, "q")))
    if data.get("hot"):
        chips.append(FilterChip("Hot only", url_without(params, "hot")))
    for value in data.get("source_channel") or []:
        chips.append(FilterChip(f"Source: {Channel(value).label}", url_without(params, "source_channel", value)))
    if data.get("campaign"):
        chips.append(FilterChip(f"Campaign: {data['campaign'].name}", url_without(params, "campaign")))
    if data.get("segment"):
        chips.append(FilterChip(f"Segment: {Segment(data['segment']).label}", url_without(params, "segment")))
    for name, label in (
        ("fit_min", "Fit ≥"),
        ("fit_max", "Fit ≤"),
        ("engagement_min", "Engagement ≥"),
        ("engagement_max", "Engagement ≤"),
    ):
        if data.get(name) is not None:
            chips.append(FilterChip(f"{label} {data[name]:g}", url_without(params, name)))
    if data.get("waiting") is not None:
        chips.append(FilterChip(f"Waiting > {wait_label(data['waiting'])}", url_without(params, "waiting")))
    return chips
