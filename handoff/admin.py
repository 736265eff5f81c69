"""The Django admin for the handoff. It obeys the same rules as the pages and the API:

- Records the services write — assignments, SLA clocks and events, queue reviews, review clocks,
  hand-off requests, discovery calls, opportunities, notifications — are read-only here,
  superusers included: no add, change or delete. The one thing the admin does to them is the
  “Reassign to next rep” action on assignments, which calls `handoff.services.lead_reassign`
  (old clock stopped, new clock started).
- Settings (teams with their reps, routing rules, SLA policies, business calendars with their
  closed days, the qualification policy, the review policy, rejection reasons) are editable by
  people who may change handoff settings. Each form validates through the `*_validate` functions
  of `handoff.services_settings` in `clean()` (calendar hours and time zone through
  `business_time.Calendar.build`), and saves and deletes through the same services the settings
  pages call.
- Foreign keys to big tables (leads) are raw-id widgets or read-only links; lists join what they
  show; a search for an email address is an exact, index-backed lookup.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Model, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django_countries import countries as all_countries

from handoff import services, services_settings
from handoff.models import (
    Assignment,
    AuthorityRole,
    BudgetStatus,
    BusinessCalendar,
    ClosedDay,
    DiscoveryCall,
    HandoffRequest,
    MqlTarget,
    Notification,
    Opportunity,
    QualificationPolicy,
    QueueReview,
    Rejection,
    RejectionReason,
    ReviewClock,
    ReviewPolicy,
    RoutingRule,
    SlaClock,
    SlaEvent,
    SlaPolicy,
    SlaStatus,
    Team,
    TeamMembership,
)
from handoff.selectors import settings_pages as selectors
from leads.models import Channel, Segment

User = get_user_model()
MANAGE = "handoff.manage_handoff_settings"
REASSIGN_ACTION_LIMIT = 200


def _link(obj: Model | None, text: str | None = None) -> str:
    if obj is None:
        return "—"
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, text or str(obj))


def _copy(saved: Model, obj: Model) -> None:
    """Make the admin's unsaved `obj` the row a service saved (inlines and the log need its pk)."""
    for field in saved._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))
    obj._state.adding, obj._state.db = False, saved._state.db


def _errors_to_form(form: forms.BaseForm, error: ValidationError) -> None:
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for name, errors in error.error_dict.items():
        messages_ = [m for e in errors for m in e.messages]
        if name in form.fields and name not in form.errors:
            form.add_error(name, messages_)
        elif name not in form.fields:
            form.add_error(None, [f"{name.replace('_', ' ').capitalize()}: {m}" for m in messages_])


def _pk(value: Any) -> int | None:
    return value.pk if value is not None else None


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


class LeadSearchMixin:
    """Search by the lead's exact email address (stored lower case under a unique index) or its
    id: index-backed lookups, never a scan of a big table for a substring."""

    lead_path = "lead"
    search_fields = ("=lead__email",)  # shows the search box; get_search_results does the work
    search_help_text = "The lead's exact email address, or its id."

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        if term.isdigit():
            return queryset.filter(**{f"{self.lead_path}_id": int(term)}), False
        if "@" in term and " " not in term:
            return queryset.filter(**{f"{self.lead_path}__email": term.lower()}), False
        self.message_user(request, "Search by the lead's exact email address or id.", messages.WARNING)  # type: ignore[attr-defined]
        return queryset.none(), False


# --- Written by services: read-only ------------------------------------------------------------


class ReadOnlyAdmin(admin.ModelAdmin):
    """Nobody, not even a superuser, adds, changes or deletes these here: services write them."""

    list_per_page = 50
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class ReadOnlyInline(admin.StackedInline):
    extra = 0
    max_num = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class SlaStatusFilter(admin.SimpleListFilter):
    """The derived clock status, as SQL (`selectors.sla_status_annotations`) so it filters the list."""

    title = "SLA status"
    parameter_name = "sla_status"
    path = ""

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(s.value, s.label) for s in selectors.BOARD_ORDER]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() not in SlaStatus.values:
            return queryset
        status = selectors.sla_status_annotations(timezone.now())["board_status"]
        if self.path:
            clocks = SlaClock.objects.annotate(board_status=status).filter(board_status=self.value())
            return queryset.filter(**{f"{self.path}__in": clocks.values("pk")})
        return queryset.annotate(board_status=status).filter(board_status=self.value())


class AssignmentSlaStatusFilter(SlaStatusFilter):
    path = "clock"


class SlaClockInline(ReadOnlyInline):
    model = SlaClock
    fields = (
        "policy", "status", "started_at", "warn_at", "due_at", "first_touch_at", "stopped_at", "warned_at",
        "breached_at", "escalated_at",
    )  # fmt: skip
    readonly_fields = fields

    @admin.display(description="Status now")
    def status(self, obj: SlaClock) -> str:
        return obj.status_label


@admin.register(Assignment)
class AssignmentAdmin(LeadSearchMixin, ReadOnlyAdmin):
    list_display = ("lead_link", "rep", "team", "assigned_at", "is_open", "sla_status", "ended_at", "end_reason")
    list_select_related = ("lead", "rep", "team", "clock")
    list_filter = ("is_open", AssignmentSlaStatusFilter, "team", "end_reason", "assigned_at")
    date_hierarchy = "assigned_at"
    ordering = ("-assigned_at", "-id")
    raw_id_fields = ("lead",)
    readonly_fields = ("lead_link", "routing_rule", "assigned_by")
    inlines = (SlaClockInline,)
    actions = ("reassign_to_next_rep",)

    @admin.display(description="Lead", ordering="lead__email")
    def lead_link(self, obj: Assignment) -> str:
        return format_html('<a href="{}">{}</a>', reverse("leads:detail", args=[obj.lead_id]), obj.lead)

    @admin.display(description="SLA")
    def sla_status(self, obj: Assignment) -> str:
        clock = getattr(obj, "clock", None)
        return clock.status_label if clock is not None else "—"

    def has_reassign_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("handoff.reassign_lead")

    @admin.action(description="Reassign to next rep (the old clock stops, a new one starts)", permissions=["reassign"])
    def reassign_to_next_rep(self, request: HttpRequest, queryset: QuerySet[Assignment]) -> None:
        chosen = list(queryset.select_related("lead").order_by("pk")[: REASSIGN_ACTION_LIMIT + 1])
        if len(chosen) > REASSIGN_ACTION_LIMIT:
            self.message_user(
                request, f"Select at most {REASSIGN_ACTION_LIMIT} assignments; nothing was reassigned.", messages.ERROR
            )
            return
        moved, refused = 0, []
        for assignment in chosen:
            if not assignment.is_open:
                refused.append(f"{assignment.lead}: this assignment has ended (only open ones are reassigned).")
                continue
            try:
                services.lead_reassign(
                    lead_id=assignment.lead_id, user=request.user, reason="Reassigned from the admin"
                )
            except (ValidationError, PermissionDenied) as exc:
                refused.append(f"{assignment.lead}: {services._message(exc)}")
            else:
                moved += 1
        if moved:
            self.message_user(
                request, f"Reassigned {moved} lead{'s' if moved != 1 else ''} to the next rep.", messages.SUCCESS
            )
        for message in refused[:10]:
            self.message_user(request, message, messages.ERROR)
        if len(refused) > 10:
            self.message_user(request, f"…and {len(refused) - 10} more were not reassigned.", messages.ERROR)


class SlaEventInline(admin.TabularInline):
    model = SlaEvent
    extra = 0
    max_num = 0
    can_delete = False
    fields = ("kind", "at", "detail")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(SlaClock)
class SlaClockAdmin(LeadSearchMixin, ReadOnlyAdmin):
    lead_path = "assignment__lead"
    list_display = ("lead", "rep", "policy", "status_now", "started_at", "due_at", "first_touch_at", "breached_at")
    list_select_related = ("assignment__lead", "assignment__rep", "policy")
    list_filter = (SlaStatusFilter, "policy", "due_at")
    ordering = ("-started_at", "-id")
    readonly_fields = ("assignment_link", "status_now")
    exclude = ("assignment",)
    inlines = (SlaEventInline,)

    @admin.display(description="Lead")
    def lead(self, obj: SlaClock) -> str:
        return str(obj.assignment.lead)

    @admin.display(description="Rep")
    def rep(self, obj: SlaClock) -> str:
        return selectors.person(obj.assignment.rep)

    @admin.display(description="Status now")
    def status_now(self, obj: SlaClock) -> str:
        return obj.status_label

    @admin.display(description="Assignment")
    def assignment_link(self, obj: SlaClock) -> str:
        return _link(obj.assignment)


@admin.register(SlaEvent)
class SlaEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "kind", "clock_link", "detail")
    list_select_related = ("clock__assignment__lead",)
    list_filter = ("kind", "at")
    ordering = ("-at", "-id")
    readonly_fields = ("clock_link",)
    exclude = ("clock",)

    @admin.display(description="Clock")
    def clock_link(self, obj: SlaEvent) -> str:
        return _link(obj.clock, f"SLA for {obj.clock.assignment.lead}")


@admin.register(QueueReview)
class QueueReviewAdmin(LeadSearchMixin, ReadOnlyAdmin):
    list_display = ("reviewed_at", "action", "lead", "reviewer", "waited", "reason")
    list_select_related = ("lead", "reviewer", "reason")
    list_filter = ("action", "reason", "reviewed_at")
    ordering = ("-reviewed_at", "-id")
    raw_id_fields = ("lead",)

    @admin.display(description="Waited in the queue")
    def waited(self, obj: QueueReview) -> str:
        return selectors.duration_words(obj.wait)


class ReviewStateFilter(admin.SimpleListFilter):
    """Where a stay in the queue is now, from its timestamps (as the queue derives it)."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("waiting", "Waiting, in time"), ("overdue", "Waiting, overdue"), ("ended", "Ended")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        now = timezone.now()
        if self.value() == "waiting":
            return queryset.filter(ended_at__isnull=True).filter(Q(due_at__isnull=True) | Q(due_at__gte=now))
        if self.value() == "overdue":
            return queryset.filter(ended_at__isnull=True, due_at__lt=now)
        if self.value() == "ended":
            return queryset.filter(ended_at__isnull=False)
        return queryset


@admin.register(ReviewClock)
class ReviewClockAdmin(LeadSearchMixin, ReadOnlyAdmin):
    list_display = ("lead", "policy", "started_at", "due_at", "overdue_now", "overdue_at", "ended_at", "end")
    list_select_related = ("lead", "policy")
    list_filter = (ReviewStateFilter, "end", ("overdue_at", admin.EmptyFieldListFilter), "policy", "started_at")
    ordering = ("-started_at", "-id")
    raw_id_fields = ("lead",)

    @admin.display(description="Overdue now", boolean=True)
    def overdue_now(self, obj: ReviewClock) -> bool:
        return obj.is_overdue()


@admin.register(HandoffRequest)
class HandoffRequestAdmin(LeadSearchMixin, ReadOnlyAdmin):
    list_display = ("lead", "cause", "force", "requested_at", "next_attempt_at", "attempts", "last_error")
    list_select_related = ("lead",)
    list_filter = ("cause", "force", ("last_error", admin.EmptyFieldListFilter), "requested_at")
    ordering = ("next_attempt_at", "id")
    raw_id_fields = ("lead",)


@admin.register(Rejection)
class RejectionAdmin(LeadSearchMixin, ReadOnlyAdmin):
    list_display = ("at", "lead", "side", "reason", "from_stage", "to_stage", "actor", "fit_score", "engagement_score")
    list_select_related = ("lead", "reason", "actor")
    list_filter = ("side", "reason", "to_stage", "at")
    ordering = ("-at", "-id")
    raw_id_fields = ("lead",)


@admin.register(DiscoveryCall)
class DiscoveryCallAdmin(LeadSearchMixin, ReadOnlyAdmin):
    list_display = ("held_at", "lead", "sdr", "outcome", "budget_status", "authority_role", "timeframe")
    list_select_related = ("lead", "sdr")
    list_filter = ("outcome", "budget_status", "authority_role", "timeframe", "held_at")
    ordering = ("-held_at", "-id")
    raw_id_fields = ("lead",)


@admin.register(Opportunity)
class OpportunityAdmin(LeadSearchMixin, ReadOnlyAdmin):
    list_display = ("name", "lead", "owner", "amount", "currency", "expected_close", "created_at")
    list_select_related = ("lead", "owner")
    list_filter = ("expected_close", "created_at")
    ordering = ("-created_at", "-id")
    raw_id_fields = ("lead", "discovery_call")


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "recipient", "kind", "title", "read_at", "emailed_at")
    list_select_related = ("recipient",)
    list_filter = ("kind", ("read_at", admin.EmptyFieldListFilter), "created_at")
    search_fields = ("title", "recipient__username", "recipient__email")
    ordering = ("-created_at", "-id")
    raw_id_fields = ("lead",)


# --- Settings: editable through the services ---------------------------------------------------


class ServiceModelForm(forms.ModelForm):
    """A ModelForm whose rules are the services' `*_validate`, uniqueness and constraints included.

    The model's own unique and constraint checks are skipped here (the database still enforces
    them): the services check the same things with messages that name the field, case-insensitively,
    and keep "one active policy" by switching the old one off — which the model's check of the
    conditional unique constraint would refuse before the service ran.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        full_clean = self.instance.full_clean

        def without_constraints(*args: Any, **kwargs: Any) -> None:
            full_clean(*args, **{**kwargs, "validate_constraints": False})

        self.instance.full_clean = without_constraints

    def validate_unique(self) -> None:
        return

    def validate(self, **kwargs: Any) -> None:
        try:
            self.validator(**kwargs)  # type: ignore[attr-defined]
        except ValidationError as exc:
            _errors_to_form(self, exc)


class SettingsAdmin(admin.ModelAdmin):
    """Editable by people who may change handoff settings (and the model permission)."""

    def _may(self, request: HttpRequest) -> bool:
        return request.user.has_perm(MANAGE)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and self._may(request)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_change_permission(request, obj) and self._may(request)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_delete_permission(request, obj) and self._may(request)

    # The service that deletes a row (keyword `delete_key` = its pk), refusing when history needs it.
    delete_service: Any = None
    delete_key = ""

    def _delete(self, request: HttpRequest, obj: Model) -> None:
        self.delete_service(user=request.user, **{self.delete_key: obj.pk})

    def delete_refusal(self, request: HttpRequest, obj: Model) -> str:
        """Why the service would refuse to delete `obj` ("" if it would not): a dry run, rolled back."""
        try:
            with transaction.atomic():
                self._delete(request, obj)
                raise _DryRunError
        except _DryRunError:
            return ""
        except ValidationError as exc:
            return f"{obj}: {services._message(exc)}"

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        # Django lists "protected" objects and refuses to confirm; the service's refusals join them.
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        if self.delete_service is not None:
            protected = [*protected, *filter(None, (self.delete_refusal(request, obj) for obj in objs))]
        return deleted, model_count, perms_needed, protected

    def delete_model(self, request: HttpRequest, obj: Model) -> None:
        if self.delete_service is None:
            raise PermissionDenied
        self._delete(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for obj in queryset:
            self.delete_model(request, obj)


class _DryRunError(Exception):
    pass


class SettingsInlineMixin:
    """Inline permissions follow the settings permission, like their parent's."""

    def _may(self, request: HttpRequest) -> bool:
        return request.user.has_perm(MANAGE)

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_add_permission(request, obj) and self._may(request)  # type: ignore[misc]

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_change_permission(request, obj) and self._may(request)  # type: ignore[misc]

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_delete_permission(request, obj) and self._may(request)  # type: ignore[misc]


def _set_formset_log(formset: Any, new: list, changed: list, deleted: list) -> None:
    """What `formset.save()` would record, for the admin's change message."""
    formset.new_objects, formset.changed_objects, formset.deleted_objects = new, changed, deleted


# Rejection reasons ------------------------------------------------------------------------------


class RejectionReasonForm(ServiceModelForm):
    validator = staticmethod(services_settings.rejection_reason_validate)

    class Meta:
        model = RejectionReason
        fields = ("code", "label", "use", "nurture_days", "is_active")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "code" in self.fields:
            self.fields["code"].required = False
            self.fields["code"].help_text = "Empty: made from the label. Fixed once created."

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if {"label", "use"} <= set(data):
            self.validate(
                reason_id=self.instance.pk,
                code="" if self.instance.pk else data.get("code") or "",
                label=data["label"],
                use=data["use"],
                is_active=data.get("is_active", True),
                nurture_days=data.get("nurture_days"),
            )
        return data


@admin.register(RejectionReason)
class RejectionReasonAdmin(SettingsAdmin):
    form = RejectionReasonForm
    list_display = ("label", "code", "use", "nurture_days", "is_active", "position")
    list_filter = ("use", "is_active")
    search_fields = ("label", "code")
    ordering = ("position", "label")

    def get_readonly_fields(self, request: HttpRequest, obj: RejectionReason | None = None) -> tuple[str, ...]:
        return ("code", "position") if obj is not None else ("position",)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False  # switched off, never deleted: past decisions and reports point at them

    def save_model(self, request: HttpRequest, obj: RejectionReason, form: forms.ModelForm, change: bool) -> None:
        data = form.cleaned_data
        saved = services_settings.rejection_reason_save(
            user=request.user, reason_id=obj.pk if change else None, label=data["label"], use=data["use"],
            is_active=data["is_active"], code=obj.code if change else data.get("code") or "",
            nurture_days=data.get("nurture_days"),
        )  # fmt: skip
        _copy(saved, obj)


# Business calendars and closed days -----------------------------------------------------------


class BusinessCalendarForm(ServiceModelForm):
    validator = staticmethod(services_settings.business_calendar_validate)

    class Meta:
        model = BusinessCalendar
        fields = ("name", "time_zone", "hours", "holiday_country", "holiday_subdivision")
        help_texts = {
            "hours": 'Weekday ("0" = Monday … "6" = Sunday) to windows, e.g. {"0": [["09:00", "17:00"]]}. '
            "A missing weekday is closed.",
            "time_zone": "An IANA time zone, e.g. America/New_York.",
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if {"name", "time_zone", "hours"} <= set(data):
            # Calendar.build checks the hours and time zone; errors land on the field it names.
            self.validate(
                calendar_id=self.instance.pk,
                name=data["name"],
                time_zone=data["time_zone"],
                hours=data["hours"],
                holiday_country=str(data.get("holiday_country") or ""),
                holiday_subdivision=data.get("holiday_subdivision") or "",
            )
        return data


class ClosedDayForm(ServiceModelForm):
    class Meta:
        model = ClosedDay
        fields = ("calendar", "date", "label")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        calendar = data.get("calendar") or getattr(self.instance, "calendar", None)
        if data.get("date") is None:
            return data
        try:
            if calendar is None or calendar.pk is None:
                # A closed day on a calendar being created: only the date can be checked yet.
                if data["date"] < timezone.localdate():
                    raise ValidationError({"date": "That day has passed: closing it changes nothing."})
            else:
                services_settings.closed_day_validate(
                    closed_day_id=self.instance.pk, calendar_id=calendar.pk, date=data["date"],
                    label=data.get("label", ""), date_changed=data["date"] != self.initial.get("date"),
                )  # fmt: skip
        except ValidationError as exc:
            _errors_to_form(self, exc)
        return data


class ClosedDayInline(SettingsInlineMixin, admin.TabularInline):
    model = ClosedDay
    form = ClosedDayForm
    fields = ("date", "label")
    extra = 1
    ordering = ("date",)


def _save_closed_days(request: HttpRequest, calendar: BusinessCalendar, formset: Any) -> None:
    new, changed, deleted = [], [], []
    for form in formset.deleted_forms:
        if form.instance.pk:
            services_settings.closed_day_remove(user=request.user, closed_day_id=form.instance.pk)
            deleted.append(form.instance)
    for form in formset.forms:
        if form in formset.deleted_forms or not form.has_changed() or not form.cleaned_data:
            continue
        data = form.cleaned_data
        if form.instance.pk:
            saved = services_settings.closed_day_save(
                user=request.user, closed_day_id=form.instance.pk, date=data["date"], label=data.get("label", "")
            )
            changed.append((saved, form.changed_data))
        else:
            saved = services_settings.closed_day_add(
                user=request.user, calendar_id=calendar.pk, date=data["date"], label=data.get("label", "")
            )
            new.append(saved)
    _set_formset_log(formset, new, changed, deleted)


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(SettingsAdmin):
    form = BusinessCalendarForm
    list_display = ("name", "time_zone", "hours_summary", "holiday_country", "holiday_subdivision")
    search_fields = ("name",)
    inlines = (ClosedDayInline,)
    delete_service = staticmethod(services_settings.business_calendar_delete)
    delete_key = "calendar_id"

    @admin.display(description="Working hours")
    def hours_summary(self, obj: BusinessCalendar) -> str:
        return selectors.hours_summary(obj.hours)

    def save_model(self, request: HttpRequest, obj: BusinessCalendar, form: forms.ModelForm, change: bool) -> None:
        data = form.cleaned_data
        saved = services_settings.business_calendar_save(
            user=request.user, calendar_id=obj.pk if change else None, name=data["name"],
            time_zone=data["time_zone"], hours=data["hours"], holiday_country=str(data.get("holiday_country") or ""),
            holiday_subdivision=data.get("holiday_subdivision") or "",
        )  # fmt: skip
        _copy(saved, obj)

    def save_formset(self, request: HttpRequest, form: forms.ModelForm, formset: Any, change: bool) -> None:
        _save_closed_days(request, form.instance, formset)


@admin.register(ClosedDay)
class ClosedDayAdmin(SettingsAdmin):
    form = ClosedDayForm
    list_display = ("date", "label", "calendar")
    list_select_related = ("calendar",)
    list_filter = ("calendar", "date")
    ordering = ("-date",)
    delete_service = staticmethod(services_settings.closed_day_remove)
    delete_key = "closed_day_id"

    def get_readonly_fields(self, request: HttpRequest, obj: ClosedDay | None = None) -> tuple[str, ...]:
        return ("calendar",) if obj is not None else ()

    def save_model(self, request: HttpRequest, obj: ClosedDay, form: forms.ModelForm, change: bool) -> None:
        data = form.cleaned_data
        if change:
            saved = services_settings.closed_day_save(
                user=request.user, closed_day_id=obj.pk, date=data["date"], label=data.get("label", "")
            )
        else:
            saved = services_settings.closed_day_add(
                user=request.user, calendar_id=data["calendar"].pk, date=data["date"], label=data.get("label", "")
            )
        _copy(saved, obj)


# SLA policies ---------------------------------------------------------------------------------


class SlaPolicyForm(ServiceModelForm):
    validator = staticmethod(services_settings.sla_policy_validate)

    class Meta:
        model = SlaPolicy
        fields = (
            "name", "calendar", "first_touch_minutes", "warn_at_percent", "breach_action", "max_reassignments",
            "is_active",
        )  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "max_reassignments" in self.fields:  # not sent: the policy keeps its bound
            self.fields["max_reassignments"].required = False

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if {"name", "calendar", "first_touch_minutes", "warn_at_percent", "breach_action"} <= set(data):
            self.validate(
                policy_id=self.instance.pk, name=data["name"], calendar_id=_pk(data["calendar"]),
                first_touch_minutes=data["first_touch_minutes"], warn_at_percent=data["warn_at_percent"],
                breach_action=data["breach_action"], is_active=data.get("is_active", True),
                max_reassignments=_or(data.get("max_reassignments"), self.instance.max_reassignments),
            )  # fmt: skip
        return data


@admin.register(SlaPolicy)
class SlaPolicyAdmin(SettingsAdmin):
    form = SlaPolicyForm
    list_display = ("name", "target", "warn_at_percent", "breach_action", "max_reassignments", "calendar", "is_active")
    list_select_related = ("calendar",)
    list_filter = ("is_active", "breach_action", "calendar")
    search_fields = ("name",)
    delete_service = staticmethod(services_settings.sla_policy_delete)
    delete_key = "policy_id"

    @admin.display(description="First touch within", ordering="first_touch_minutes")
    def target(self, obj: SlaPolicy) -> str:
        return f"{selectors.format_minutes(obj.first_touch_minutes)} (business)"

    def save_model(self, request: HttpRequest, obj: SlaPolicy, form: forms.ModelForm, change: bool) -> None:
        data = form.cleaned_data
        saved = services_settings.sla_policy_save(
            user=request.user, policy_id=obj.pk if change else None, name=data["name"],
            calendar_id=data["calendar"].pk, first_touch_minutes=data["first_touch_minutes"],
            warn_at_percent=data["warn_at_percent"], breach_action=data["breach_action"], is_active=data["is_active"],
            max_reassignments=data.get("max_reassignments"),
        )  # fmt: skip
        _copy(saved, obj)


# Teams and memberships ------------------------------------------------------------------------


def _work_leads_users() -> QuerySet:
    permission = Permission.objects.filter(content_type__app_label="handoff", codename="work_leads")
    return (
        User.objects.filter(
            Q(groups__permissions__in=permission) | Q(user_permissions__in=permission) | Q(is_superuser=True),
            is_active=True,
        )
        .distinct()
        .order_by("first_name", "last_name", "username")
    )


class TeamForm(ServiceModelForm):
    validator = staticmethod(services_settings.team_validate)

    class Meta:
        model = Team
        fields = ("name", "manager", "default_sla_policy")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if "name" in data:
            self.validate(
                team_id=self.instance.pk, name=data["name"], manager_id=_pk(data.get("manager")),
                default_sla_policy_id=_pk(data.get("default_sla_policy")),
            )  # fmt: skip
        return data


class TeamMembershipForm(ServiceModelForm):
    class Meta:
        model = TeamMembership
        fields = ("team", "rep", "capacity", "away_until", "is_active")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:  # a membership is one rep in one team: remove it and add another instead
            for name in ("team", "rep"):
                if name in self.fields:
                    self.fields[name].disabled = True

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        team = data.get("team") or (self.instance.team if self.instance.team_id else None)
        if data.get("rep") is None or data.get("capacity") is None:
            return data
        try:
            services_settings.team_membership_validate(
                membership_id=self.instance.pk, team_id=_pk(team), rep_id=data["rep"].pk,
                capacity=data["capacity"], away_until=data.get("away_until"),
                away_changed=data.get("away_until") != self.instance.away_until,
            )  # fmt: skip
        except ValidationError as exc:
            _errors_to_form(self, exc)
        return data


class TeamMembershipInline(SettingsInlineMixin, admin.TabularInline):
    model = TeamMembership
    form = TeamMembershipForm
    fields = ("rep", "capacity", "away_until", "is_active", "last_assigned_at")
    readonly_fields = ("last_assigned_at",)
    extra = 1

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("rep")

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "rep":
            kwargs["queryset"] = _work_leads_users()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


def _save_memberships(request: HttpRequest, team: Team, formset: Any) -> None:
    new, changed, deleted = [], [], []
    for form in formset.deleted_forms:
        if form.instance.pk:
            services_settings.team_membership_remove(user=request.user, membership_id=form.instance.pk)
            deleted.append(form.instance)
    for form in formset.forms:
        if form in formset.deleted_forms or not form.has_changed() or not form.cleaned_data:
            continue
        data = form.cleaned_data
        if form.instance.pk:
            saved = services_settings.team_membership_update(
                user=request.user, membership_id=form.instance.pk, capacity=data["capacity"],
                away_until=data.get("away_until"), is_active=data.get("is_active", False),
            )  # fmt: skip
            changed.append((saved, form.changed_data))
        else:
            saved = services_settings.team_membership_add(
                user=request.user, team_id=team.pk, rep_id=data["rep"].pk, capacity=data["capacity"],
                away_until=data.get("away_until"), is_active=data.get("is_active", False),
            )  # fmt: skip
            new.append(saved)
    _set_formset_log(formset, new, changed, deleted)


@admin.register(Team)
class TeamAdmin(SettingsAdmin):
    form = TeamForm
    list_display = ("name", "manager", "default_sla_policy", "member_count")
    list_select_related = ("manager", "default_sla_policy")
    search_fields = ("name",)
    inlines = (TeamMembershipInline,)
    delete_service = staticmethod(services_settings.team_delete)
    delete_key = "team_id"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(members=Count("memberships"))

    @admin.display(description="Reps", ordering="members")
    def member_count(self, obj: Team) -> int:
        return obj.members  # type: ignore[attr-defined]

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "manager":
            kwargs["queryset"] = User.objects.filter(is_active=True).order_by("first_name", "username")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Team, form: forms.ModelForm, change: bool) -> None:
        data = form.cleaned_data
        saved = services_settings.team_save(
            user=request.user, team_id=obj.pk if change else None, name=data["name"],
            manager_id=_pk(data.get("manager")), default_sla_policy_id=_pk(data.get("default_sla_policy")),
        )  # fmt: skip
        _copy(saved, obj)

    def save_formset(self, request: HttpRequest, form: forms.ModelForm, formset: Any, change: bool) -> None:
        _save_memberships(request, form.instance, formset)


@admin.register(TeamMembership)
class TeamMembershipAdmin(SettingsAdmin):
    form = TeamMembershipForm
    list_display = ("rep", "team", "capacity", "away_until", "is_active", "last_assigned_at")
    list_select_related = ("rep", "team")
    list_filter = ("team", "is_active")
    search_fields = ("rep__username", "rep__first_name", "rep__last_name", "rep__email")
    readonly_fields = ("last_assigned_at",)
    delete_service = staticmethod(services_settings.team_membership_remove)
    delete_key = "membership_id"

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "rep":
            kwargs["queryset"] = _work_leads_users()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: TeamMembership, form: forms.ModelForm, change: bool) -> None:
        data = form.cleaned_data
        if change:
            saved = services_settings.team_membership_update(
                user=request.user, membership_id=obj.pk, capacity=data["capacity"],
                away_until=data.get("away_until"), is_active=data.get("is_active", False),
            )  # fmt: skip
        else:
            saved = services_settings.team_membership_add(
                user=request.user, team_id=data["team"].pk, rep_id=data["rep"].pk, capacity=data["capacity"],
                away_until=data.get("away_until"), is_active=data.get("is_active", False),
            )  # fmt: skip
        _copy(saved, obj)


# Routing rules --------------------------------------------------------------------------------


class RoutingRuleForm(ServiceModelForm):
    validator = staticmethod(services_settings.routing_rule_validate)
    segments = forms.MultipleChoiceField(
        choices=Segment.choices, required=False, widget=forms.CheckboxSelectMultiple, help_text="None: any segment."
    )
    channels = forms.MultipleChoiceField(
        choices=Channel.choices, required=False, widget=forms.CheckboxSelectMultiple, help_text="None: any channel."
    )
    countries = forms.MultipleChoiceField(
        choices=[], required=False, widget=forms.SelectMultiple(attrs={"size": 10}), help_text="None: any country."
    )

    class Meta:
        model = RoutingRule
        fields = (
            "name", "team", "sla_policy", "segments", "countries", "channels", "hot_only", "handoff_mode", "is_active"
        )  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["countries"].choices = list(all_countries)
        if "handoff_mode" in self.fields:  # not sent: the rule keeps its mode
            self.fields["handoff_mode"].required = False

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if "name" in data:
            self.validate(
                name=data["name"], team_id=_pk(data.get("team")), segments=data.get("segments", []),
                countries=data.get("countries", []), channels=data.get("channels", []),
                sla_policy_id=_pk(data.get("sla_policy")),
                handoff_mode=data.get("handoff_mode") or self.instance.handoff_mode,
            )  # fmt: skip
        return data


@admin.register(RoutingRule)
class RoutingRuleAdmin(SettingsAdmin):
    form = RoutingRuleForm
    list_display = ("position", "name", "conditions", "team", "sla_policy", "handoff_mode", "is_active")
    list_display_links = ("name",)
    list_select_related = ("team", "sla_policy")
    list_filter = ("is_active", "handoff_mode", "hot_only", "team")
    search_fields = ("name",)
    ordering = ("position", "id")
    readonly_fields = ("position",)
    delete_service = staticmethod(services_settings.routing_rule_delete)
    delete_key = "rule_id"

    @admin.display(description="Conditions")
    def conditions(self, obj: RoutingRule) -> str:
        return "; ".join(selectors.rule_conditions(obj)) or "Every lead"

    def save_model(self, request: HttpRequest, obj: RoutingRule, form: forms.ModelForm, change: bool) -> None:
        data = form.cleaned_data
        saved = services_settings.routing_rule_save(
            user=request.user, rule_id=obj.pk if change else None, name=data["name"], team_id=data["team"].pk,
            segments=data["segments"], countries=data["countries"], channels=data["channels"],
            hot_only=data["hot_only"], sla_policy_id=_pk(data.get("sla_policy")), is_active=data["is_active"],
            handoff_mode=data.get("handoff_mode") or None,
        )  # fmt: skip
        _copy(saved, obj)


# The qualification policy ---------------------------------------------------------------------


class QualificationPolicyForm(ServiceModelForm):
    validator = staticmethod(services_settings.qualification_policy_validate)
    accepted_budget_statuses = forms.MultipleChoiceField(
        choices=BudgetStatus.choices, widget=forms.CheckboxSelectMultiple
    )
    accepted_authority_roles = forms.MultipleChoiceField(
        choices=AuthorityRole.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = QualificationPolicy
        fields = (
            "name", "is_active", "accepted_budget_statuses", "min_budget_amount", "accepted_authority_roles",
            "max_timeframe_months",
        )  # fmt: skip
        help_texts = {"is_active": "One policy is active; activating this one switches the other off."}

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if {"name", "accepted_budget_statuses", "accepted_authority_roles"} <= set(data):
            self.validate(
                policy_id=self.instance.pk, name=data["name"],
                accepted_budget_statuses=data["accepted_budget_statuses"],
                min_budget_amount=data.get("min_budget_amount"),
                accepted_authority_roles=data["accepted_authority_roles"],
                max_timeframe_months=data.get("max_timeframe_months"),
            )  # fmt: skip
        return data


@admin.register(QualificationPolicy)
class QualificationPolicyAdmin(SettingsAdmin):
    form = QualificationPolicyForm
    list_display = ("name", "is_active", "summary", "updated_by", "updated_at")
    list_select_related = ("updated_by",)
    readonly_fields = ("summary", "updated_by", "updated_at")

    @admin.display(description="What counts as qualified")
    def summary(self, obj: QualificationPolicy) -> str:
        return " ".join(selectors.qualification_summary(obj))

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False  # switch a policy off by activating another

    def save_model(self, request: HttpRequest, obj: QualificationPolicy, form: forms.ModelForm, change: bool) -> None:
        data = form.cleaned_data
        saved = services_settings.qualification_policy_save(
            user=request.user, policy_id=obj.pk if change else None, name=data["name"],
            accepted_budget_statuses=data["accepted_budget_statuses"], min_budget_amount=data.get("min_budget_amount"),
            accepted_authority_roles=data["accepted_authority_roles"],
            max_timeframe_months=data.get("max_timeframe_months"), is_active=data["is_active"],
        )  # fmt: skip
        _copy(saved, obj)


# The review policy (marketing's review target) -----------------------------------------------


class ReviewPolicyForm(ServiceModelForm):
    validator = staticmethod(services_settings.review_policy_validate)

    class Meta:
        model = ReviewPolicy
        fields = ("name", "calendar", "review_minutes", "overdue_action", "is_active")
        help_texts = {"is_active": "One policy is active (or none: no review target); activating this one "
                                   "switches the other off."}  # fmt: skip

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if {"name", "calendar", "review_minutes", "overdue_action"} <= set(data):
            self.validate(
                policy_id=self.instance.pk, name=data["name"], calendar_id=_pk(data["calendar"]),
                review_minutes=data["review_minutes"], overdue_action=data["overdue_action"],
            )  # fmt: skip
        return data


@admin.register(ReviewPolicy)
class ReviewPolicyAdmin(SettingsAdmin):
    form = ReviewPolicyForm
    list_display = ("name", "target", "overdue_action", "calendar", "is_active")
    list_select_related = ("calendar",)
    list_filter = ("is_active", "overdue_action")
    delete_service = staticmethod(services_settings.review_policy_delete)
    delete_key = "policy_id"

    @admin.display(description="Review within", ordering="review_minutes")
    def target(self, obj: ReviewPolicy) -> str:
        return f"{selectors.format_minutes(obj.review_minutes)} (business)"

    def save_model(self, request: HttpRequest, obj: ReviewPolicy, form: forms.ModelForm, change: bool) -> None:
        data = form.cleaned_data
        saved = services_settings.review_policy_save(
            user=request.user, policy_id=obj.pk if change else None, name=data["name"],
            calendar_id=data["calendar"].pk, review_minutes=data["review_minutes"],
            overdue_action=data["overdue_action"], is_active=data["is_active"],
        )  # fmt: skip
        _copy(saved, obj)


# Monthly MQL targets --------------------------------------------------------------------------


class MqlTargetForm(ServiceModelForm):
    class Meta:
        model = MqlTarget
        fields = ("month", "target")
        help_texts = {"month": "Any day of the month: it is stored as the first."}

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if "month" in data and "target" in data:
            try:
                data["month"] = services_settings.mql_target_validate(
                    target_id=self.instance.pk, month=data["month"], target=data["target"]
                )
                self.instance.month = data["month"]
            except ValidationError as exc:
                _errors_to_form(self, exc)
        return data


@admin.register(MqlTarget)
class MqlTargetAdmin(SettingsAdmin):
    form = MqlTargetForm
    list_display = ("month", "target")
    date_hierarchy = "month"
    delete_service = staticmethod(services_settings.mql_target_delete)
    delete_key = "target_id"

    def save_model(self, request: HttpRequest, obj: MqlTarget, form: forms.ModelForm, change: bool) -> None:
        data = form.cleaned_data
        saved = services_settings.mql_target_save(
            user=request.user, target_id=obj.pk if change else None, month=data["month"], target=data["target"]
        )
        _copy(saved, obj)
