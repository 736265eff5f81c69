"""The Django admin for leads, built to stay fast on a million leads and ten million activities.

The admin obeys the same rules as every other entry point:

- A lead is created through `leads.services.lead_create` (normalised email, company found from the
  domain, creation recorded in the stage history) and edited through `leads.services.lead_update`.
- `Lead.stage`, `stage_changed_at` and the scores are read-only. The stage moves only through
  `leads.services.lead_transition`: the "Move selected leads to stage" action on the lead list and
  the "Move to stage" page linked from a lead both call `leads.services.lead_move`, which makes
  the move through the handoff service that owns it (rejection, the queue, advance) with its
  permissions, as the pages and the API do, and report refusals as messages.
- Stage history is append-only: nobody, not even a superuser, may add, change or delete a
  `StageTransition` here. A lead shows its latest transitions and activities inline (capped), with
  links to the full, filtered lists.

Big tables: every list joins what it shows (`list_select_related`), foreign keys use autocomplete or
raw-id widgets instead of a <select> of every row, list filters never run DISTINCT over a big table,
sortable columns are indexed ones, and the unfiltered row count on PostgreSQL comes from the
planner's estimate instead of a COUNT(*) that scans the table (`EstimatedCountPaginator`).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Model, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template import engines
from django.urls import path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from leads import ingestion, lifecycle, services
from leads.domains import normalise_domain
from leads.lifecycle import Actor, Stage
from leads.models import (
    Activity,
    ActivityType,
    Campaign,
    Company,
    CsvImport,
    EngagementRule,
    FitRule,
    FormSource,
    Job,
    Lead,
    LeadMerge,
    RescoreRequest,
    ScoringModel,
    ScoringRun,
    StageTransition,
)

User = get_user_model()

# How many leads one "move to stage" action may touch: each is its own locked transaction.
MOVE_ACTION_LIMIT = 500
# Rows shown inline on a lead's page; the rest are one click away in the filtered list.
INLINE_ACTIVITIES = 10
INLINE_TRANSITIONS = 50


class EstimatedCountPaginator(Paginator):
    """Use PostgreSQL's row estimate for an unfiltered list of a big table.

    COUNT(*) over ten million activities scans the table on every page view. When the list is not
    filtered and the planner's statistics say the table is big, its estimate is close enough for
    "page N of M". Filtered lists, small tables and SQLite get an exact count.
    """

    estimate_above = 100_000

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if isinstance(queryset, QuerySet) and not queryset.query.where:
            connection = connections[queryset.db]
            if connection.vendor == "postgresql":
                # One query either way: the exact count runs only when the estimate is small.
                table = connection.ops.quote_name(queryset.model._meta.db_table)
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT CASE WHEN c.reltuples > %s THEN c.reltuples::bigint "  # noqa: S608
                        f"ELSE (SELECT COUNT(*) FROM {table}) END "
                        "FROM pg_class c WHERE c.oid = %s::regclass",
                        [self.estimate_above, queryset.model._meta.db_table],
                    )
                    return int(cursor.fetchone()[0])
        return super().count


class BigTableAdmin(admin.ModelAdmin):
    """Defaults for lists that may hold millions of rows."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False  # no second COUNT(*) of the whole table
    list_per_page = 50


def _link(url: str, text: str) -> str:
    return format_html('<a href="{}">{}</a>', url, text)


def _changelist_url(model: type[Model], **params: Any) -> str:
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    return f"{url}?{urlencode(params)}" if params else url


def _change_url(obj: Model) -> str:
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])


def _email_search(queryset: QuerySet, term: str, path: str = "") -> QuerySet | None:
    """An exact, index-backed lookup when the search term is an email address."""
    term = term.strip().lower()
    if "@" not in term or " " in term:
        return None
    leads = Lead.objects.filter(email=term)  # stored lower case, under a unique index
    if not path:
        return queryset.filter(pk__in=leads.values("pk"))
    return queryset.filter(**{f"{path}__in": leads.values("pk")})


# --- Activity types, campaigns, companies -----------------------------------------------------


@admin.register(ActivityType)
class ActivityTypeAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "category", "is_hot_signal", "is_active")
    list_filter = ("category", "is_hot_signal", "is_active")
    search_fields = ("code", "name")
    ordering = ("category", "name")

    def get_readonly_fields(self, request: HttpRequest, obj: ActivityType | None = None) -> tuple[str, ...]:
        # The code is what systems send and what activities point at: fixed once created.
        return ("code",) if obj is not None else ()

    def has_delete_permission(self, request: HttpRequest, obj: ActivityType | None = None) -> bool:
        # A type in use is retired (is_active = False), not deleted; the check is one indexed EXISTS.
        if obj is not None and obj.activities.exists():
            return False
        return super().has_delete_permission(request, obj)


class ProtectedByLeadsMixin:
    """Companies and campaigns with leads cannot be deleted (PROTECT); don't offer it.

    Django's delete confirmation would otherwise collect every protected lead to list them, which
    on a big company means loading thousands of rows to say "no".
    """

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        if obj is not None and obj.leads.exists():  # type: ignore[attr-defined]
            return False
        return super().has_delete_permission(request, obj)  # type: ignore[misc]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)  # type: ignore[misc]
        actions.pop("delete_selected", None)
        return actions


@admin.register(Campaign)
class CampaignAdmin(ProtectedByLeadsMixin, admin.ModelAdmin):
    list_display = ("name", "slug", "channel", "starts_on", "ends_on", "leads_link")
    list_filter = ("channel", "starts_on")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}

    @admin.display(description="Leads")
    def leads_link(self, obj: Campaign) -> str:
        return _link(_changelist_url(Lead, campaign__id__exact=obj.pk), "Leads →")


class CompanyForm(forms.ModelForm):
    class Meta:
        model = Company
        fields = ("name", "domain", "industry", "size", "country")

    def clean_domain(self) -> str:
        domain = normalise_domain(self.cleaned_data["domain"])
        if not domain or "." not in domain:
            raise ValidationError("Enter a domain such as acme.com.")
        return domain


@admin.register(Company)
class CompanyAdmin(ProtectedByLeadsMixin, BigTableAdmin):
    form = CompanyForm
    list_display = ("name", "domain", "industry", "size", "country", "created_at", "leads_link")
    list_filter = ("industry", "size", "country")
    search_fields = ("name", "^domain")
    search_help_text = "Company name, or the start of its domain."
    sortable_by = ("name", "created_at")
    readonly_fields = ("segment_label", "created_at", "leads_link")

    @admin.display(description="Segment")
    def segment_label(self, obj: Company) -> str:
        return obj.segment_label

    @admin.display(description="Leads")
    def leads_link(self, obj: Company) -> str:
        if obj.pk is None:
            return "-"
        return _link(_changelist_url(Lead, company__id__exact=obj.pk), "Leads →")


# --- Leads --------------------------------------------------------------------------------------


class LimitedInlineFormSet(BaseInlineFormSet):
    """An inline that shows only the first `limit` rows of its (ordered) queryset."""

    limit = 10

    def get_queryset(self) -> QuerySet:
        if not hasattr(self, "_queryset"):
            self._queryset = super().get_queryset()[: self.limit]
        return self._queryset


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class StageTransitionInline(ReadOnlyInline):
    model = StageTransition
    formset = type("TransitionFormSet", (LimitedInlineFormSet,), {"limit": INLINE_TRANSITIONS})
    fields = ("at", "from_stage", "to_stage", "actor", "reason")
    readonly_fields = fields
    verbose_name_plural = f"Stage history (newest first, latest {INLINE_TRANSITIONS})"
    show_change_link = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[StageTransition]:
        return super().get_queryset(request).select_related("actor_user").order_by("-at", "-id")

    @admin.display(description="By")
    def actor(self, obj: StageTransition) -> str:
        return obj.actor_label


class ActivityInline(ReadOnlyInline):
    model = Activity
    formset = type("ActivityFormSet", (LimitedInlineFormSet,), {"limit": INLINE_ACTIVITIES})
    fields = ("occurred_at", "type", "properties", "source_system")
    readonly_fields = fields
    verbose_name_plural = f"Latest {INLINE_ACTIVITIES} activities (see “All activities” above for the rest)"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Activity]:
        return super().get_queryset(request).select_related("type").order_by("-occurred_at", "-id")


class LeadAddForm(forms.ModelForm):
    """The admin's add form. Validates shape; `lead_create` does the creating."""

    class Meta:
        model = Lead
        fields = ("email", *services.LEAD_EDITABLE_FIELDS)
        help_texts = {
            "company": "Leave empty to find or create the company from the email's domain "
            "(free-mail addresses get none).",
        }

    def clean_email(self) -> str:
        try:
            email = services.normalise_email(self.cleaned_data.get("email", ""))
        except ValidationError as error:
            raise ValidationError(error.message_dict["email"]) from error
        if Lead.objects.filter(email=email).exists():
            raise ValidationError(f"A lead with the email {email} already exists.")
        return email


class LeadChangeForm(forms.ModelForm):
    class Meta:
        model = Lead
        fields = services.LEAD_EDITABLE_FIELDS


class MoveToStageActionForm(ActionForm):
    """The action bar of the lead list, with the target stage and reason next to the action."""

    to_stage = forms.ChoiceField(label="Stage:", required=False, choices=[("", "---------"), *Stage.choices])
    reason = forms.CharField(label="Reason:", required=False, max_length=500)


class MoveToStageForm(forms.Form):
    to_stage = forms.ChoiceField(label="Move to")
    reason = forms.CharField(
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Required to recycle or disqualify a lead, and when a person makes it an MQL.",
    )

    def __init__(self, *args: Any, lead: Lead, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Funnel order first, then the side stages: the order the Stage choices are declared in.
        targets = sorted(lifecycle.allowed_targets(lead.stage), key=list(Stage).index)
        self.fields["to_stage"].choices = [(stage.value, stage.label) for stage in targets]


MOVE_STAGE_TEMPLATE = engines["django"].from_string(
    """{% extends "admin/base_site.html" %}
{% block breadcrumbs %}<div class="breadcrumbs">
<a href="{% url 'admin:index' %}">Home</a> › <a href="{{ list_url }}">Leads</a> ›
<a href="{{ change_url }}">{{ lead }}</a> › Move to stage</div>{% endblock %}
{% block content %}<div id="content-main">
<p>{{ lead }} is at <strong>{{ lead.get_stage_display }}</strong>
since {{ lead.stage_changed_at|date:"DATETIME_FORMAT" }}.</p>
{% if form.fields.to_stage.choices %}
<form method="post">{% csrf_token %}
{{ form.non_field_errors }}
<fieldset class="module aligned">{% for field in form %}<div class="form-row">
{{ field.errors }}{{ field.label_tag }} {{ field }}
{% if field.help_text %}<div class="help">{{ field.help_text }}</div>{% endif %}</div>{% endfor %}
</fieldset>
<div class="submit-row"><input type="submit" class="default" value="Move"></div>
</form>
{% else %}<p>A lead at {{ lead.get_stage_display }} cannot move to any other stage.</p>{% endif %}
</div>{% endblock %}"""
)


class HotSignalFilter(admin.SimpleListFilter):
    title = "hot signal"
    parameter_name = "hot"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", "Hot (recent demo request, contact sales…)"), ("no", "Not hot")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in ("yes", "no"):
            return queryset.filter(hot_signal_at__isnull=self.value() == "no")
        return queryset


@admin.register(Lead)
class LeadAdmin(BigTableAdmin):
    list_display = (
        "email",
        "full_name",
        "company",
        "job_title",
        "stage",
        "fit_score",
        "engagement_score",
        "hot",
        "source_channel",
        "campaign",
        "owner",
        "created_at",
    )
    list_display_links = ("email", "full_name")
    list_select_related = ("company", "campaign", "owner")
    list_filter = (
        "stage",
        HotSignalFilter,
        "source_channel",
        ("campaign", admin.RelatedFieldListFilter),
        ("owner", admin.RelatedFieldListFilter),
        "company__industry",
        "company__size",
        "created_at",
    )
    # Only columns with an index (together with the id) sort: the rest would sort a million rows.
    sortable_by = ("full_name", "fit_score", "engagement_score", "created_at")
    search_fields = ("email", "first_name", "last_name")
    search_help_text = "An exact email address (fast), or part of an email or name."
    autocomplete_fields = ("company", "campaign", "owner")
    inlines = (StageTransitionInline, ActivityInline)
    actions = ("move_to_stage",)
    action_form = MoveToStageActionForm
    readonly_fields = (
        "email",
        "stage_with_actions",
        "stage_changed_at",
        "hot_signal_at",
        "fit_score",
        "engagement_score",
        "explanation",
        "scoring_model",
        "scored_at",
        "created_at",
        "updated_at",
        "activities_link",
    )
    fieldsets = (
        ("Person", {"fields": ("email", "first_name", "last_name", "job_title", "phone")}),
        ("Company and source", {"fields": ("company", "source_channel", "source_detail", "campaign")}),
        (
            "Lifecycle",
            {
                "fields": ("stage_with_actions", "stage_changed_at", "owner", "hot_signal_at"),
                "description": "The stage moves only through the lifecycle service, which records every change.",
            },
        ),
        (
            "Scores",
            {
                "fields": ("fit_score", "engagement_score", "explanation", "scoring_model", "scored_at"),
                "description": "Computed by scoring, never typed in.",
            },
        ),
        ("Record", {"fields": ("created_at", "updated_at", "activities_link")}),
    )
    add_fieldsets = (
        ("Person", {"fields": ("email", "first_name", "last_name", "job_title", "phone")}),
        ("Company and source", {"fields": ("company", "source_channel", "source_detail", "campaign")}),
        ("Owner", {"fields": ("owner",)}),
    )

    # -- list ---------------------------------------------------------------------------------

    @admin.display(description="Hot", boolean=True)
    def hot(self, obj: Lead) -> bool:
        return obj.hot_signal_at is not None

    @admin.display(description="Name", ordering="last_name")
    def full_name(self, obj: Lead) -> str:
        return obj.full_name

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        exact = _email_search(queryset, search_term)
        if exact is not None:
            return exact, False
        return super().get_search_results(request, queryset, search_term)

    def has_delete_permission(self, request: HttpRequest, obj: Lead | None = None) -> bool:
        # A lead's stage history is immutable and protects it: leads are never deleted (duplicates
        # are merged, junk is disqualified).
        return False

    # -- forms ----------------------------------------------------------------------------------

    def get_fieldsets(self, request: HttpRequest, obj: Lead | None = None) -> Any:
        return self.add_fieldsets if obj is None else super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Lead | None = None) -> Any:
        return () if obj is None else self.readonly_fields

    def get_inlines(self, request: HttpRequest, obj: Lead | None) -> Any:
        return () if obj is None else self.inlines

    def get_form(self, request: HttpRequest, obj: Lead | None = None, change: bool = False, **kwargs: Any) -> Any:
        kwargs["form"] = LeadAddForm if obj is None else LeadChangeForm
        return super().get_form(request, obj, change=change, **kwargs)

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        """A save the services refuse (who may own the lead, or change its owner) is undone — the
        admin's transaction rolls back — and said, instead of a server error."""
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as refused:
            self.message_user(request, " ".join(refused.messages), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request: HttpRequest, obj: Lead, form: forms.ModelForm, change: bool) -> None:
        actor = Actor(user=request.user)
        if not change:
            fields = {name: form.cleaned_data[name] for name in services.LEAD_EDITABLE_FIELDS}
            saved = services.lead_create(email=form.cleaned_data["email"], actor=actor, **fields)
        else:
            changed = {
                name: form.cleaned_data[name] for name in form.changed_data if name in services.LEAD_EDITABLE_FIELDS
            }
            if not changed:
                return
            saved = services.lead_update(lead_id=obj.pk, actor=actor, **changed)
        # The admin goes on with `obj` (messages, the log entry, the redirect): make it the saved lead.
        for field in Lead._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))
        obj._state.adding, obj._state.db = False, saved._state.db

    # -- read-only displays ---------------------------------------------------------------------

    @admin.display(description="Stage")
    def stage_with_actions(self, obj: Lead) -> str:
        url = reverse("admin:leads_lead_move_stage", args=[obj.pk])
        if not lifecycle.allowed_targets(obj.stage):
            return obj.get_stage_display()
        return format_html('{} &nbsp; <a class="button" href="{}">Move to stage…</a>', obj.get_stage_display(), url)

    @admin.display(description="Explanation")
    def explanation(self, obj: Lead) -> str:
        parts = obj.score_explanation or []
        if not parts:
            return "—"
        return format_html_join(
            "\n",
            "<div>{} {}: {:+d}</div>",
            ((part.get("kind", ""), part.get("label", ""), int(part.get("points", 0))) for part in parts),
        )

    @admin.display(description="Activities")
    def activities_link(self, obj: Lead) -> str:
        return _link(_changelist_url(Activity, lead__id__exact=obj.pk), "All activities of this lead →")

    # -- moving the stage -------------------------------------------------------------------------

    @admin.action(description="Move selected leads to stage (give the stage and a reason)", permissions=["change"])
    def move_to_stage(self, request: HttpRequest, queryset: QuerySet[Lead]) -> None:
        form = MoveToStageActionForm(request.POST)
        form.is_valid()  # every extra field is optional: the action explains what is missing
        to_stage = form.cleaned_data.get("to_stage", "")
        reason = form.cleaned_data.get("reason", "")
        if not to_stage:
            self.message_user(request, "Choose the stage to move the selected leads to.", messages.ERROR)
            return
        leads = list(
            queryset.select_related(None)
            .order_by("pk")
            .only("pk", "email", "first_name", "last_name")[: MOVE_ACTION_LIMIT + 1]
        )
        if len(leads) > MOVE_ACTION_LIMIT:
            self.message_user(
                request,
                f"Select at most {MOVE_ACTION_LIMIT} leads at a time; nothing was moved.",
                messages.ERROR,
            )
            return
        moved, refused = self._move(request, leads, to_stage, reason)
        label = Stage(to_stage).label
        if moved:
            self.message_user(request, f"Moved {moved} lead{'s' if moved != 1 else ''} to {label}.", messages.SUCCESS)
        for lead, message in refused[:10]:
            label = f"{lead.full_name} <{lead.email}>" if lead.full_name else lead.email
            self.message_user(request, f"{label}: {message}", messages.ERROR)
        if len(refused) > 10:
            self.message_user(request, f"…and {len(refused) - 10} more leads were not moved.", messages.ERROR)

    def _move(
        self, request: HttpRequest, leads: list[Lead], to_stage: str, reason: str
    ) -> tuple[int, list[tuple[Lead, str]]]:
        actor = Actor(user=request.user)
        moved, refused = 0, []
        for lead in leads:  # each in its own transaction, through the same services as the pages
            try:
                services.lead_move(lead_id=lead.pk, to=to_stage, actor=actor, reason=reason)
            except services.MOVE_REFUSALS as exc:
                refused.append((lead, services.move_refusal(exc).message))
            else:
                moved += 1
        return moved, refused

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<path:object_id>/move-stage/",
                self.admin_site.admin_view(self.move_stage_view),
                name="leads_lead_move_stage",
            ),
            *super().get_urls(),
        ]

    def move_stage_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        lead = get_object_or_404(Lead, pk=object_id)
        if not self.has_change_permission(request, lead):
            raise PermissionDenied
        form = MoveToStageForm(request.POST or None, lead=lead)
        if request.method == "POST" and form.is_valid():
            try:
                services.lead_move(
                    lead_id=lead.pk,
                    to=form.cleaned_data["to_stage"],
                    actor=Actor(user=request.user),
                    reason=form.cleaned_data["reason"],
                )
            except services.MOVE_REFUSALS as exc:
                refusal = services.move_refusal(exc)
                form.add_error(refusal.field if refusal.field in form.fields else None, refusal.message)
                self.message_user(request, refusal.message, messages.ERROR)
            else:
                lead.refresh_from_db()
                self.message_user(request, f"{lead} moved to {lead.get_stage_display()}.", messages.SUCCESS)
                return HttpResponseRedirect(_change_url(lead))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Move {lead} to another stage",
            "lead": lead,
            "form": form,
            "opts": self.opts,
            "list_url": _changelist_url(Lead),
            "change_url": _change_url(lead),
        }
        return HttpResponse(MOVE_STAGE_TEMPLATE.render(context, request))


# --- Activities and stage history ---------------------------------------------------------------


class ActivityAddForm(forms.ModelForm):
    """Shape checks for one activity; `leads.ingestion.activities_ingest` records it."""

    class Meta:
        model = Activity
        fields = ("lead", "type", "occurred_at", "properties", "source_system", "external_id")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["type"].queryset = ActivityType.objects.filter(is_active=True)
        self.fields["source_system"].initial = "admin"
        self.fields["properties"].required = False

    def clean_occurred_at(self) -> Any:
        try:
            return ingestion.parse_timestamp(self.cleaned_data["occurred_at"])
        except ValidationError as error:
            raise ValidationError(error.message_dict["occurred_at"]) from error

    def clean_properties(self) -> Any:
        properties = self.cleaned_data.get("properties") or {}
        if not isinstance(properties, dict):
            raise ValidationError('Give a JSON object, e.g. {"topic": "lead scoring"}.')
        return properties


@admin.register(Activity)
class ActivityAdmin(BigTableAdmin):
    """Activities are events: recorded once, through ingestion (which also asks for a rescore)."""

    list_display = ("occurred_at", "type", "lead_link", "source_system", "properties")
    list_select_related = ("lead", "type")
    list_filter = ("type__category", "type", "occurred_at")
    raw_id_fields = ("lead",)
    sortable_by = ()
    search_fields = ("=external_id",)
    search_help_text = "The lead's exact email address, or an activity's external id."

    def get_form(self, request: HttpRequest, obj: Activity | None = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ActivityAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def has_change_permission(self, request: HttpRequest, obj: Activity | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Activity | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Activity, form: forms.ModelForm, change: bool) -> None:
        data = form.cleaned_data
        (result,) = ingestion.activities_ingest(
            items=[
                {
                    "email": data["lead"].email,
                    "type": data["type"].code,
                    "occurred_at": data["occurred_at"],
                    "properties": data["properties"],
                    "source_system": data["source_system"],
                    "external_id": data["external_id"],
                }
            ],
            actor=Actor(user=request.user),
            default_source_system="admin",
        )
        if result.status == "error":  # the form checked the same things; only a race gets here
            raise ValidationError(result.errors)
        saved = Activity.objects.get(pk=result.activity_id)
        for model_field in Activity._meta.concrete_fields:
            setattr(obj, model_field.attname, getattr(saved, model_field.attname))
        obj._state.adding, obj._state.db = False, saved._state.db

    def get_ordering(self, request: HttpRequest) -> list[str]:
        # One lead's activities: the (lead, occurred_at) index. Everything: newest recorded first,
        # by primary key, because sorting ten million rows by occurred_at has no index to use.
        if "lead__id__exact" in request.GET:
            return ["-occurred_at", "-id"]
        return ["-id"]

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        exact = _email_search(queryset, search_term, path="lead")
        if exact is not None:
            return exact, False
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description="Lead")
    def lead_link(self, obj: Activity) -> str:
        return _link(_change_url(obj.lead), str(obj.lead))


@admin.register(StageTransition)
class StageTransitionAdmin(BigTableAdmin):
    """Stage history, to read. It is written only by the lifecycle service and never edited."""

    list_display = ("at", "lead_link", "from_stage", "to_stage", "actor", "reason")
    list_select_related = ("lead", "actor_user")
    list_filter = ("to_stage", "from_stage", "at")
    ordering = ("-at", "-id")
    sortable_by = ()
    search_fields = ()
    search_help_text = "The lead's exact email address."

    def get_search_fields(self, request: HttpRequest) -> tuple[str, ...]:
        return ("lead__email",)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        if not search_term.strip():
            return queryset, False
        exact = _email_search(queryset, search_term, path="lead")
        if exact is None:
            self.message_user(request, "Search stage history by the lead's exact email address.", messages.WARNING)
            return queryset.none(), False
        return exact, False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: StageTransition | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: StageTransition | None = None) -> bool:
        return False

    @admin.display(description="By")
    def actor(self, obj: StageTransition) -> str:
        return obj.actor_label

    @admin.display(description="Lead")
    def lead_link(self, obj: StageTransition) -> str:
        return _link(_change_url(obj.lead), str(obj.lead))


# --- Scoring, jobs and ingestion records: to read ----------------------------------------------
# These change only through their services (the scoring page publishes models, jobs run in
# Celery, imports and merges record themselves), so the admin shows them without edit buttons.


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class FitRuleInline(ReadOnlyInline):
    model = FitRule
    fields = ("position", "label", "attribute", "operator", "values", "points")
    readonly_fields = fields
    show_change_link = False


class EngagementRuleInline(ReadOnlyInline):
    model = EngagementRule
    fields = ("activity_type", "label", "points", "max_points", "decays")
    readonly_fields = fields
    show_change_link = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[EngagementRule]:
        return super().get_queryset(request).select_related("activity_type")


@admin.register(ScoringModel)
class ScoringModelAdmin(ReadOnlyAdmin):
    list_display = (
        "version",
        "name",
        "status",
        "mql_fit_threshold",
        "mql_engagement_threshold",
        "published_at",
    )
    list_filter = ("status",)
    inlines = (FitRuleInline, EngagementRuleInline)


@admin.register(ScoringRun)
class ScoringRunAdmin(ReadOnlyAdmin):
    list_display = ("started_at", "kind", "scoring_model", "lead_count", "promoted_count", "duration_ms")
    list_select_related = ("scoring_model",)
    list_filter = ("kind",)


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "status", "done", "total", "created_by", "created_at", "finished_at")
    list_select_related = ("created_by",)
    list_filter = ("kind", "status")


@admin.register(RescoreRequest)
class RescoreRequestAdmin(ReadOnlyAdmin):
    list_display = ("lead", "requested_at")
    list_select_related = ("lead",)
    ordering = ("requested_at",)


@admin.register(FormSource)
class FormSourceAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "key_prefix",
        "is_active",
        "default_channel",
        "campaign",
        "activity_type",
        "last_used_at",
    )
    list_select_related = ("campaign", "activity_type")
    exclude = ("key_hash",)  # only a hash, but there is no reason to show it


@admin.register(LeadMerge)
class LeadMergeAdmin(ReadOnlyAdmin, BigTableAdmin):
    list_display = ("at", "merged_email", "survivor", "activities_moved", "transitions_moved", "actor")
    list_select_related = ("survivor", "actor")
    search_fields = ("=merged_email",)


@admin.register(CsvImport)
class CsvImportAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "original_name", "kind", "row_count", "job", "created_by")
    list_select_related = ("job", "created_by")
    list_filter = ("kind",)


# --- Users: show their roles --------------------------------------------------------------------


admin.site.unregister(User)


@admin.register(User)
class BatonUserAdmin(UserAdmin):
    list_display = (
        "username",
        "email",
        "first_name",
        "last_name",
        "roles",
        "is_staff",
        "is_active",
        "last_login",
    )
    list_filter = ("groups", "is_staff", "is_superuser", "is_active")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description="Roles")
    def roles(self, obj: Any) -> str:
        return ", ".join(sorted(group.name for group in obj.groups.all())) or "—"
