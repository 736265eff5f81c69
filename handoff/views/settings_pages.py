"""Manager pages: the handoff settings (routing rules, teams and reps, SLA policies and business
calendars with marketing's review target, the qualification policy, rejection reasons) under
/settings/, and the SLA board at /sla/.

Views parse input, check the permission, call a selector or a service and render. Settings pages
need `handoff.manage_handoff_settings`; the SLA board needs `handoff.reassign_lead`. Anonymous
people are sent to sign in; signed-in people without the permission get 403.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View

from handoff import forms_settings as forms
from handoff import services, services_settings
from handoff.models import (
    Assignment,
    BusinessCalendar,
    ClosedDay,
    RejectionReason,
    ReviewPolicy,
    RoutingRule,
    SlaPolicy,
    SlaStatus,
    Team,
    TeamMembership,
)
from handoff.selectors import settings_pages as selectors
from leads.services import DEFAULT_NURTURE_DAYS

MANAGE = "handoff.manage_handoff_settings"
SECTIONS = [
    ("routing", "Routing rules", "signpost-split", "handoff:settings_routing"),
    ("teams", "Teams and reps", "people", "handoff:settings_teams"),
    ("sla", "SLA policies and calendars", "stopwatch", "handoff:settings_sla"),
    ("qualification", "Qualification policy", "patch-check", "handoff:settings_qualification"),
    ("reasons", "Rejection reasons", "list-ul", "handoff:settings_reasons"),
]


class SettingsView(PermissionRequiredMixin, View):
    permission_required = MANAGE
    section = ""

    def page(self, request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
        sections = [
            {"key": key, "label": label, "icon": icon, "url": reverse(url), "active": key == self.section}
            for key, label, icon, url in SECTIONS
        ]
        return render(request, template, {"sections": sections, "section": self.section, **context}, status=status)


def _error_message(exc: ValidationError) -> str:
    return services._message(exc)


def _back(request: HttpRequest, default: str) -> HttpResponseRedirect:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect(default)


# --- Home --------------------------------------------------------------------------------------


class SettingsHomeView(SettingsView):
    def get(self, request: HttpRequest) -> HttpResponse:
        return self.page(request, "handoff/settings/home.html", {"overview": selectors.settings_overview()})


# --- Routing rules -----------------------------------------------------------------------------


class RoutingListView(SettingsView):
    section = "routing"

    def get(self, request: HttpRequest) -> HttpResponse:
        test_form = forms.RoutingTestForm(request.GET if "lead" in request.GET else None)
        preview = selectors.routing_preview(test_form.cleaned_data["lead"]) if test_form.is_valid() else None
        context = {
            "rows": selectors.routing_rules(),
            "fallback_team": selectors.routing_fallback_team(),
            "test_form": test_form,
            "preview": preview,
        }
        return self.page(request, "handoff/settings/routing.html", context)


class RoutingRuleFormView(SettingsView):
    section = "routing"

    def rule(self) -> RoutingRule | None:
        pk = self.kwargs.get("pk")
        return get_object_or_404(RoutingRule.objects.select_related("team"), pk=pk) if pk else None

    def render_form(self, request: HttpRequest, form: forms.RoutingRuleForm, rule: RoutingRule | None) -> HttpResponse:
        return self.page(request, "handoff/settings/rule_form.html", {"form": form, "rule": rule})

    def get(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        rule = self.rule()
        form = forms.RoutingRuleForm(initial=forms.RoutingRuleForm.initial_for(rule) if rule else None)
        return self.render_form(request, form, rule)

    def post(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        rule = self.rule()
        form = forms.RoutingRuleForm(request.POST)
        if form.is_valid():
            try:
                saved = services_settings.routing_rule_save(
                    user=request.user, rule_id=rule.pk if rule else None, **form.service_kwargs()
                )
            except ValidationError as exc:
                forms.add_service_errors(form, exc)
            else:
                messages.success(request, f"Routing rule “{saved.name}” saved.")
                return redirect("handoff:settings_routing")
        return self.render_form(request, form, rule)


class RoutingRuleMoveView(SettingsView):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        try:
            services_settings.routing_rule_move(
                user=request.user, rule_id=pk, direction=request.POST.get("direction", "")
            )
        except ValidationError as exc:
            messages.error(request, f"The order was not changed: {_error_message(exc)}")
        return redirect(f"{reverse('handoff:settings_routing')}#rule-{pk}")


class RoutingRuleDeleteView(SettingsView):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        rule = get_object_or_404(RoutingRule, pk=pk)
        try:
            services_settings.routing_rule_delete(user=request.user, rule_id=rule.pk)
        except ValidationError as exc:
            messages.error(request, _error_message(exc))
        else:
            messages.success(request, f"Routing rule “{rule.name}” deleted.")
        return redirect("handoff:settings_routing")


# --- Teams -------------------------------------------------------------------------------------


class TeamListView(SettingsView):
    section = "teams"

    def get(self, request: HttpRequest) -> HttpResponse:
        teams = selectors.teams_overview()
        return self.page(request, "handoff/settings/teams.html", {"teams": teams, "now": timezone.now()})


class TeamCreateView(SettingsView):
    section = "teams"

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.page(request, "handoff/settings/team_form.html", {"form": forms.TeamForm()})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = forms.TeamForm(request.POST)
        if form.is_valid():
            try:
                team = services_settings.team_save(user=request.user, **form.service_kwargs())
            except ValidationError as exc:
                forms.add_service_errors(form, exc)
            else:
                messages.success(request, f"Team “{team.name}” created. Now add its reps.")
                return redirect("handoff:settings_team", pk=team.pk)
        return self.page(request, "handoff/settings/team_form.html", {"form": form})


class TeamDetailView(SettingsView):
    """The team's settings and its reps, each row its own small form."""

    section = "teams"

    def team(self, pk: int) -> Team:
        return get_object_or_404(Team.objects.select_related("manager", "default_sla_policy__calendar"), pk=pk)

    def render_team(
        self, request: HttpRequest, team: Team, *, team_form: forms.TeamForm | None = None,
        add_form: forms.MembershipAddForm | None = None, bound_member: forms.MembershipForm | None = None,
    ) -> HttpResponse:  # fmt: skip
        # The reps' away times are shown (and typed) in the team's calendar time zone.
        with timezone.override(forms.team_time_zone(team)):
            return self._render_team(request, team, team_form, add_form, bound_member)

    def _render_team(
        self, request: HttpRequest, team: Team, team_form: forms.TeamForm | None,
        add_form: forms.MembershipAddForm | None, bound_member: forms.MembershipForm | None,
    ) -> HttpResponse:  # fmt: skip
        now = timezone.now()
        members = selectors.team_memberships(team)
        rows = []
        for member in members:
            form = (
                bound_member
                if bound_member is not None and bound_member.membership.pk == member.pk
                else forms.MembershipForm(membership=member)
            )
            load = min(100, 5 * round(20 * member.open_leads / member.capacity)) if member.capacity else 100
            tone = (
                "danger"
                if member.open_leads >= member.capacity
                else "warning"
                if member.open_leads >= 0.8 * member.capacity
                else "success"
            )
            rows.append({"member": member, "form": form, "away": member.is_away(now), "load": load, "tone": tone})
        context = {
            "team": team,
            "team_form": team_form or forms.TeamForm(initial=forms.TeamForm.initial_for(team)),
            "add_form": add_form or forms.MembershipAddForm(team=team),
            "rows": rows,
            "time_zone": forms.team_time_zone(team),
            "away_choices": forms.AWAY_CHOICES,
        }
        return self.page(request, "handoff/settings/team_detail.html", context)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self.render_team(request, self.team(pk))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        team = self.team(pk)
        form = forms.TeamForm(request.POST)
        if form.is_valid():
            try:
                services_settings.team_save(user=request.user, team_id=team.pk, **form.service_kwargs())
            except ValidationError as exc:
                forms.add_service_errors(form, exc)
            else:
                messages.success(request, f"Team “{form.cleaned_data['name']}” saved.")
                return redirect("handoff:settings_team", pk=team.pk)
        return self.render_team(request, team, team_form=form)


class MemberAddView(TeamDetailView):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        team = self.team(pk)
        form = forms.MembershipAddForm(request.POST, team=team)
        if form.is_valid():
            rep = form.cleaned_data["rep"]
            try:
                services_settings.team_membership_add(
                    user=request.user, team_id=team.pk, rep_id=rep.pk, capacity=form.cleaned_data["capacity"]
                )
            except ValidationError as exc:
                forms.add_service_errors(form, exc)
            else:
                messages.success(request, f"{selectors.person(rep)} joined {team.name}: next in the rotation.")
                return redirect(f"{reverse('handoff:settings_team', args=[team.pk])}#reps")
        return self.render_team(request, team, add_form=form)


class MemberUpdateView(TeamDetailView):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        member = get_object_or_404(
            TeamMembership.objects.select_related("rep", "team__default_sla_policy__calendar"), pk=pk
        )
        with timezone.override(forms.team_time_zone(member.team)):  # "away until" is typed in it
            form = forms.MembershipForm(request.POST, membership=member)
            valid = form.is_valid()
        if valid:
            try:
                services_settings.team_membership_update(
                    user=request.user, membership_id=member.pk, **form.cleaned_data
                )
            except ValidationError as exc:
                forms.add_service_errors(form, exc)
            else:
                messages.success(request, f"{selectors.person(member.rep)}'s settings saved.")
                return redirect(f"{reverse('handoff:settings_team', args=[member.team_id])}#rep-{member.pk}")
        forms.mark_invalid(form)
        messages.error(request, f"{selectors.person(member.rep)}'s settings were not saved: see the row below.")
        return self.render_team(request, self.team(member.team_id), bound_member=form)


class MemberAwayView(SettingsView):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        member = get_object_or_404(
            TeamMembership.objects.select_related("rep", "team__default_sla_policy__calendar"), pk=pk
        )
        form = forms.AwayForm(request.POST)
        url = f"{reverse('handoff:settings_team', args=[member.team_id])}#rep-{member.pk}"
        if not form.is_valid():
            messages.error(request, "Choose away today, this week, or back.")
            return redirect(url)
        choice = form.cleaned_data["away"]
        until = forms.away_until_for(choice, tz=forms.team_time_zone(member.team))
        try:
            services_settings.team_membership_set_away(user=request.user, membership_id=member.pk, until=until)
        except ValidationError as exc:
            messages.error(request, _error_message(exc))
        else:
            name = selectors.person(member.rep)
            if until is None:
                messages.success(request, f"{name} is back in the rotation.")
            else:
                local = timezone.localtime(until, forms.team_time_zone(member.team))
                messages.success(request, f"{name} is away until {local:%a %d %b %H:%M}: routing skips them.")
        return redirect(url)


class MemberRemoveView(SettingsView):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        member = get_object_or_404(TeamMembership.objects.select_related("rep", "team"), pk=pk)
        try:
            open_leads = services_settings.team_membership_remove(user=request.user, membership_id=member.pk)
        except ValidationError as exc:
            messages.error(request, _error_message(exc))
        else:
            name = selectors.person(member.rep)
            note = (
                f" Their {open_leads} open lead{'s' if open_leads != 1 else ''} stay with them: reassign "
                "from the SLA board."
                if open_leads
                else ""
            )
            messages.success(request, f"{name} left {member.team.name}.{note}")
        return redirect(f"{reverse('handoff:settings_team', args=[member.team_id])}#reps")


# --- SLA policies and calendars ----------------------------------------------------------------


class SlaSettingsView(SettingsView):
    section = "sla"

    def get(self, request: HttpRequest) -> HttpResponse:
        context = {
            "policies": selectors.sla_policies(),
            "calendars": selectors.calendars(),
            "review": selectors.review_overview(),
        }
        return self.page(request, "handoff/settings/sla.html", context)


class SlaPolicyFormView(SettingsView):
    section = "sla"

    def policy(self) -> SlaPolicy | None:
        pk = self.kwargs.get("pk")
        return get_object_or_404(SlaPolicy.objects.select_related("calendar"), pk=pk) if pk else None

    def render_form(self, request: HttpRequest, form: forms.SlaPolicyForm, policy: SlaPolicy | None) -> HttpResponse:
        previews, preview_error = ([], "")
        if policy is not None:
            previews, preview_error = selectors.due_previews(policy.calendar)
            previews = [p for p in previews if p.label == policy.name]
        context = {
            "form": form,
            "policy": policy,
            "previews": previews,
            "preview_error": preview_error,
            "special": services_settings.SPECIAL_POLICY_NAMES.get(policy.name, "") if policy else "",
        }
        return self.page(request, "handoff/settings/policy_form.html", context)

    def get(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        policy = self.policy()
        form = forms.SlaPolicyForm(initial=forms.SlaPolicyForm.initial_for(policy) if policy else None)
        return self.render_form(request, form, policy)

    def post(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        policy = self.policy()
        form = forms.SlaPolicyForm(request.POST)
        if form.is_valid():
            try:
                saved = services_settings.sla_policy_save(
                    user=request.user, policy_id=policy.pk if policy else None, **form.service_kwargs()
                )
            except ValidationError as exc:
                forms.add_service_errors(form, exc, forms.SlaPolicyForm.field_map)
            else:
                messages.success(request, f"SLA policy “{saved.name}” saved. Leads handed off from now on use it.")
                return redirect("handoff:settings_sla")
        return self.render_form(request, form, policy)


class ReviewPolicyView(SettingsView):
    """Marketing's review target: edit the active review policy, or set one again when it is off
    (the last policy is switched back on with the new values; a first one is created)."""

    section = "sla"

    def current(self) -> tuple[ReviewPolicy | None, ReviewPolicy | None]:
        """(the active policy, the policy the form edits: the active one, else the latest one)."""
        policies = ReviewPolicy.objects.select_related("calendar")
        active = policies.filter(is_active=True).first()
        return active, active or policies.order_by("-pk").first()

    def render_form(
        self, request: HttpRequest, form: forms.ReviewPolicyForm, active: ReviewPolicy | None
    ) -> HttpResponse:
        return self.page(request, "handoff/settings/review_form.html", {"form": form, "policy": active})

    def get(self, request: HttpRequest) -> HttpResponse:
        active, edited = self.current()
        if edited is not None:
            initial = forms.ReviewPolicyForm.initial_for(edited)
        else:
            calendar = BusinessCalendar.objects.filter(name="US business hours").first()
            initial = {"calendar": calendar.pk} if calendar else {}
        return self.render_form(request, forms.ReviewPolicyForm(initial=initial), active)

    def post(self, request: HttpRequest) -> HttpResponse:
        active, edited = self.current()
        form = forms.ReviewPolicyForm(request.POST)
        if form.is_valid():
            try:
                saved = services_settings.review_policy_save(
                    user=request.user, policy_id=edited.pk if edited else None,
                    name=edited.name if edited else services_settings.REVIEW_POLICY_NAME, **form.service_kwargs(),
                )  # fmt: skip
            except ValidationError as exc:
                forms.add_service_errors(form, exc, forms.ReviewPolicyForm.field_map)
            else:
                messages.success(
                    request,
                    f"Review target saved: every MQL within {selectors.format_minutes(saved.review_minutes)} of "
                    "business time. MQLs entering the queue from now are due by it.",
                )
                return redirect(f"{reverse('handoff:settings_sla')}#review")
        return self.render_form(request, form, active)


class ReviewPolicyOffView(SettingsView):
    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponse:
        if services_settings.review_policy_switch_off(user=request.user) is None:
            messages.info(request, "There was no review target to turn off.")
        else:
            messages.success(
                request,
                "Review target turned off: MQLs entering the queue from now have no due time for review. "
                "Those already waiting keep theirs.",
            )
        return redirect(f"{reverse('handoff:settings_sla')}#review")


class CalendarFormView(SettingsView):
    section = "sla"

    def calendar(self) -> BusinessCalendar | None:
        pk = self.kwargs.get("pk")
        return get_object_or_404(BusinessCalendar, pk=pk) if pk else None

    def render_form(
        self, request: HttpRequest, form: forms.CalendarForm, calendar: BusinessCalendar | None,
        closed_form: forms.ClosedDayForm | None = None,
    ) -> HttpResponse:  # fmt: skip
        forms.mark_invalid(form)
        context: dict[str, Any] = {
            "form": form,
            "calendar": calendar,
            "subdivision_map": selectors.holiday_subdivision_map(),
        }
        if calendar is not None:
            previews, preview_error = selectors.due_previews(calendar)
            context.update(
                closed_ahead=selectors.closed_days_ahead(calendar),
                custom_days=list(ClosedDay.objects.filter(calendar=calendar).order_by("date")),
                closed_form=closed_form or forms.ClosedDayForm(),
                previews=previews,
                preview_error=preview_error,
                local_now=selectors.calendar_local_now(calendar),
                today=timezone.localdate(),
            )
        return self.page(request, "handoff/settings/calendar_form.html", context)

    def get(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        calendar = self.calendar()
        return self.render_form(request, forms.CalendarForm(initial=forms.CalendarForm.initial_for(calendar)), calendar)

    def post(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        calendar = self.calendar()
        form = forms.CalendarForm(request.POST)
        if form.is_valid():
            try:
                saved = services_settings.business_calendar_save(
                    user=request.user, calendar_id=calendar.pk if calendar else None, **form.service_kwargs()
                )
            except ValidationError as exc:
                forms.add_service_errors(form, exc, {"hours": "__hours__"})
            else:
                messages.success(request, f"Calendar “{saved.name}” saved. Leads handed off from now on use it.")
                return redirect("handoff:settings_calendar_edit", pk=saved.pk)
        return self.render_form(request, form, calendar)


class ClosedDayAddView(CalendarFormView):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        calendar = get_object_or_404(BusinessCalendar, pk=pk)
        form = forms.ClosedDayForm(request.POST)
        if form.is_valid():
            try:
                day = services_settings.closed_day_add(user=request.user, calendar_id=calendar.pk, **form.cleaned_data)
            except ValidationError as exc:
                forms.add_service_errors(form, exc)
            else:
                messages.success(request, f"{day.date:%a %d %b %Y} is closed in {calendar.name}.")
                return redirect(f"{reverse('handoff:settings_calendar_edit', args=[calendar.pk])}#closed-days")
        forms.mark_invalid(form)
        hours_form = forms.CalendarForm(initial=forms.CalendarForm.initial_for(calendar))
        return self.render_form(request, hours_form, calendar, closed_form=form)


class ClosedDayRemoveView(SettingsView):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        day = get_object_or_404(ClosedDay, pk=pk)
        try:
            services_settings.closed_day_remove(user=request.user, closed_day_id=day.pk)
        except ValidationError as exc:
            messages.error(request, _error_message(exc))
        else:
            messages.success(request, f"{day.date:%a %d %b %Y} is a working day again.")
        return redirect(f"{reverse('handoff:settings_calendar_edit', args=[day.calendar_id])}#closed-days")


# --- Qualification policy ----------------------------------------------------------------------


class QualificationView(SettingsView):
    section = "qualification"

    def render_form(self, request: HttpRequest, form: forms.QualificationPolicyForm) -> HttpResponse:
        policy = services.qualification_policy()
        context = {
            "form": form,
            "policy": policy,
            "summary": selectors.qualification_summary(policy),
            "refusals": selectors.qualification_refusals(policy),
        }
        return self.page(request, "handoff/settings/qualification.html", context)

    def get(self, request: HttpRequest) -> HttpResponse:
        policy = services.qualification_policy()
        return self.render_form(
            request, forms.QualificationPolicyForm(initial=forms.QualificationPolicyForm.initial_for(policy))
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        form = forms.QualificationPolicyForm(request.POST)
        if form.is_valid():
            current = services.qualification_policy()
            try:
                services_settings.qualification_policy_save(
                    user=request.user, policy_id=current.pk, name=current.name, **form.cleaned_data
                )
            except ValidationError as exc:
                forms.add_service_errors(form, exc)
            else:
                messages.success(request, "Qualification policy saved: it applies to the next discovery call logged.")
                return redirect("handoff:settings_qualification")
        return self.render_form(request, form)


# --- Rejection reasons -------------------------------------------------------------------------


class ReasonListView(SettingsView):
    section = "reasons"

    def render_list(self, request: HttpRequest, form: forms.RejectionReasonForm) -> HttpResponse:
        context = {
            "reasons": selectors.rejection_reasons(),
            "form": form,
            "tones": selectors.REASON_USE_TONES,
            "default_nurture_days": DEFAULT_NURTURE_DAYS,
        }
        return self.page(request, "handoff/settings/reasons.html", context)

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.render_list(request, forms.RejectionReasonForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = forms.RejectionReasonForm(request.POST)
        if form.is_valid():
            try:
                reason = services_settings.rejection_reason_save(user=request.user, **form.service_kwargs())
            except ValidationError as exc:
                forms.add_service_errors(form, exc)
            else:
                messages.success(request, f"“{reason.label}” added to the list.")
                return redirect(f"{reverse('handoff:settings_reasons')}#reason-{reason.pk}")
        return self.render_list(request, form)


class ReasonEditView(SettingsView):
    section = "reasons"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        reason = get_object_or_404(RejectionReason, pk=pk)
        form = forms.RejectionReasonForm(initial=forms.RejectionReasonForm.initial_for(reason), reason=reason)
        return self.page(request, "handoff/settings/reason_form.html", {"form": form, "reason": reason})

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        reason = get_object_or_404(RejectionReason, pk=pk)
        form = forms.RejectionReasonForm(
            request.POST, initial=forms.RejectionReasonForm.initial_for(reason), reason=reason
        )
        if form.is_valid():
            kwargs = {**form.service_kwargs(), "code": reason.code}
            try:
                services_settings.rejection_reason_save(user=request.user, reason_id=reason.pk, **kwargs)
            except ValidationError as exc:
                forms.add_service_errors(form, exc)
            else:
                messages.success(request, f"“{form.cleaned_data['label']}” saved.")
                return redirect(f"{reverse('handoff:settings_reasons')}#reason-{reason.pk}")
        return self.page(request, "handoff/settings/reason_form.html", {"form": form, "reason": reason})


class ReasonMoveView(SettingsView):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        try:
            services_settings.rejection_reason_move(
                user=request.user, reason_id=pk, direction=request.POST.get("direction", "")
            )
        except ValidationError as exc:
            messages.error(request, f"The order was not changed: {_error_message(exc)}")
        return redirect(f"{reverse('handoff:settings_reasons')}#reason-{pk}")


class ReasonToggleView(SettingsView):
    """Switch a reason off (no longer offered) or back on."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        reason = get_object_or_404(RejectionReason, pk=pk)
        try:
            services_settings.rejection_reason_save(
                user=request.user, reason_id=reason.pk, label=reason.label, use=reason.use,
                is_active=not reason.is_active, code=reason.code, nurture_days=reason.nurture_days,
            )  # fmt: skip
        except ValidationError as exc:
            messages.error(request, f"“{reason.label}” was not changed: {_error_message(exc)}")
        else:
            state = "offered again" if not reason.is_active else "switched off: no longer offered"
            messages.success(request, f"“{reason.label}” {state}.")
        return redirect(f"{reverse('handoff:settings_reasons')}#reason-{reason.pk}")


# --- The SLA board -----------------------------------------------------------------------------


class CountedPaginator(Paginator):
    """A paginator told its count: the board's status counts already hold it (no second COUNT)."""

    def __init__(self, object_list: Any, per_page: int, *, count: int) -> None:
        super().__init__(object_list, per_page)
        self._known_count = count

    @property
    def count(self) -> int:  # type: ignore[override]
        return self._known_count


class SlaBoardView(PermissionRequiredMixin, View):
    """Open assignments with their SLA clock, breached first; filters in the URL; reassignment."""

    permission_required = "handoff.reassign_lead"
    per_page = 50

    def get(self, request: HttpRequest) -> HttpResponse:
        now = timezone.now()
        memberships = selectors.sla_board_memberships()
        teams = list(Team.objects.order_by("name"))
        filter_form = forms.BoardFilterForm(request.GET or None, teams=teams, memberships=memberships)
        filters = filter_form.filters()
        filters.escalated = request.GET.get("escalated") == "1"
        counts = selectors.sla_board_counts(filters, now=now)
        escalations = counts.pop("escalated")
        matching = counts[filters.status] if filters.status else sum(counts.values())
        if filters.escalated:  # the counts are by status: this filter is counted on its own
            matching = selectors.sla_board_clocks(filters, now=now).count()
        paginator = CountedPaginator(selectors.sla_board_clocks(filters, now=now), self.per_page, count=matching)
        page = paginator.get_page(request.GET.get("page"))
        rows = selectors.sla_board_rows(page.object_list, memberships, now=now)
        query = request.GET.copy()
        query.pop("page", None)
        tiles = []
        for status in selectors.BOARD_ORDER[:5]:
            params = query.copy()
            if filters.status == status:
                params.pop("status", None)
            else:
                params["status"] = status
            tiles.append(
                {
                    "status": status,
                    "label": SlaStatus(status).label,
                    "tone": selectors.STATUS_TONES[status],
                    "icon": selectors.STATUS_ICONS[status],
                    "count": counts[status],
                    "active": filters.status == status,
                    "url": f"?{params.urlencode()}",
                }
            )
        context = {
            "rows": rows,
            "page": page,
            "tiles": tiles,
            "total": sum(counts.values()),
            "filter_form": filter_form,
            "filters": filters,
            "is_filtered": bool(filters.team_id or filters.rep_id or filters.status or filters.escalated),
            "escalations": escalations,
            "escalated_url": f"?{_with_param(query, 'escalated', None if filters.escalated else '1')}",
            "query": query.urlencode(),
            "now": now,
            "here": request.get_full_path(),
        }
        return render(request, "handoff/sla/board.html", context)


def _with_param(query: Any, name: str, value: str | None) -> str:
    params = query.copy()
    params.pop(name, None)
    if value is not None:
        params[name] = value
    return params.urlencode()


class SlaReassignView(PermissionRequiredMixin, View):
    """POST only: reassign the lead of an open assignment via `handoff.services.lead_reassign`."""

    permission_required = "handoff.reassign_lead"
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        assignment = get_object_or_404(Assignment.objects.select_related("lead", "rep"), pk=pk)
        back = reverse("handoff:sla_board")
        if not assignment.is_open:
            messages.warning(
                request, f"{assignment.lead} was not reassigned: its assignment to {assignment.rep} has already ended."
            )
            return _back(request, back)
        choices = [
            (m.rep_id, selectors.person(m.rep))
            for m in TeamMembership.objects.filter(team_id=assignment.team_id, is_active=True).select_related("rep")
            if m.rep_id != assignment.rep_id
        ]
        form = forms.ReassignForm(request.POST, rep_choices=choices)
        if not form.is_valid():
            problems = " ".join(e for errors in form.errors.values() for e in errors)
            messages.error(request, f"{assignment.lead} was not reassigned. {problems}")
            return _back(request, back)
        try:
            new = services.lead_reassign(
                lead_id=assignment.lead_id, user=request.user, rep_id=form.cleaned_data["rep"],
                reason=form.cleaned_data["reason"].strip(),
            )  # fmt: skip
        except ValidationError as exc:
            messages.error(request, f"{assignment.lead} was not reassigned: {_error_message(exc)}")
        else:
            due = timezone.localtime(new.clock.due_at)
            messages.success(
                request,
                f"{assignment.lead} reassigned from {selectors.person(assignment.rep)} to {selectors.person(new.rep)}; "
                f"a new clock runs, first touch due {due:%a %d %b %H:%M}.",
            )
        return _back(request, back)


urlpatterns = [
    path("settings/", SettingsHomeView.as_view(), name="settings"),
    path("settings/routing/", RoutingListView.as_view(), name="settings_routing"),
    path("settings/routing/new/", RoutingRuleFormView.as_view(), name="settings_rule_create"),
    path("settings/routing/<int:pk>/", RoutingRuleFormView.as_view(), name="settings_rule_edit"),
    path("settings/routing/<int:pk>/move/", RoutingRuleMoveView.as_view(), name="settings_rule_move"),
    path("settings/routing/<int:pk>/delete/", RoutingRuleDeleteView.as_view(), name="settings_rule_delete"),
    path("settings/teams/", TeamListView.as_view(), name="settings_teams"),
    path("settings/teams/new/", TeamCreateView.as_view(), name="settings_team_create"),
    path("settings/teams/<int:pk>/", TeamDetailView.as_view(), name="settings_team"),
    path("settings/teams/<int:pk>/reps/", MemberAddView.as_view(), name="settings_member_add"),
    path("settings/reps/<int:pk>/", MemberUpdateView.as_view(), name="settings_member_update"),
    path("settings/reps/<int:pk>/away/", MemberAwayView.as_view(), name="settings_member_away"),
    path("settings/reps/<int:pk>/remove/", MemberRemoveView.as_view(), name="settings_member_remove"),
    path("settings/sla/", SlaSettingsView.as_view(), name="settings_sla"),
    path("settings/sla/policies/new/", SlaPolicyFormView.as_view(), name="settings_policy_create"),
    path("settings/sla/policies/<int:pk>/", SlaPolicyFormView.as_view(), name="settings_policy_edit"),
    path("settings/sla/review/", ReviewPolicyView.as_view(), name="settings_review"),
    path("settings/sla/review/off/", ReviewPolicyOffView.as_view(), name="settings_review_off"),
    path("settings/sla/calendars/new/", CalendarFormView.as_view(), name="settings_calendar_create"),
    path("settings/sla/calendars/<int:pk>/", CalendarFormView.as_view(), name="settings_calendar_edit"),
    path("settings/sla/calendars/<int:pk>/closed-days/", ClosedDayAddView.as_view(), name="settings_closed_day_add"),
    path("settings/sla/closed-days/<int:pk>/remove/", ClosedDayRemoveView.as_view(), name="settings_closed_day_remove"),
    path("settings/qualification/", QualificationView.as_view(), name="settings_qualification"),
    path("settings/reasons/", ReasonListView.as_view(), name="settings_reasons"),
    path("settings/reasons/<int:pk>/", ReasonEditView.as_view(), name="settings_reason_edit"),
    path("settings/reasons/<int:pk>/move/", ReasonMoveView.as_view(), name="settings_reason_move"),
    path("settings/reasons/<int:pk>/active/", ReasonToggleView.as_view(), name="settings_reason_toggle"),
    path("sla/", SlaBoardView.as_view(), name="sla_board"),
    path("sla/assignments/<int:pk>/reassign/", SlaReassignView.as_view(), name="sla_reassign"),
]
