"""The lead list's filters, shared by the lead list page and the `/api/v1/leads/` endpoint."""

from __future__ import annotations

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import Exists, Min, OuterRef, Q, QuerySet, Subquery
from django.db.models.expressions import RawSQL

from leads.lifecycle import FUNNEL, Stage
from leads.models import SEGMENT_SIZES, Campaign, Channel, Lead, Segment, StageTransition

FUNNEL_CHOICES = [(stage.value, stage.label) for stage in FUNNEL]


def reached_q(stage: str, prefix: str = "") -> Q:
    """Transitions that take a lead to `stage` or past it, counting skipped stages (the same
    definition as reporting.funnel.reached_condition and leads.lifecycle.passed_stages)."""
    rank = [s.value for s in FUNNEL].index(stage)
    later = [s.value for s in FUNNEL[rank:]]
    earlier = [s.value for s in FUNNEL[:rank]]
    return Q(**{f"{prefix}to_stage__in": later}) & (
        Q(**{f"{prefix}from_stage__in": earlier}) | (~Q(**{f"{prefix}from_stage__in": [s.value for s in FUNNEL]})
                                                    & Q(**{f"{prefix}to_stage": stage}))
    )  # fmt: skip


# Sort options: the key a user picks -> the keyset ordering (always ending in the id).
LEAD_SORTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "newest": ("Newest first", ("-created_at", "-id")),
    "oldest": ("Oldest first", ("created_at", "id")),
    "updated": ("Recently updated", ("-updated_at", "-id")),
    "fit": ("Highest fit score", ("-fit_score", "-id")),
    "engagement": ("Highest engagement score", ("-engagement_score", "-id")),
    "name": ("Name A–Z", ("last_name", "first_name", "id")),
}
DEFAULT_SORT = "newest"


def lead_sort_ordering(sort: str | None) -> tuple[str, ...]:
    return LEAD_SORTS.get(sort or DEFAULT_SORT, LEAD_SORTS[DEFAULT_SORT])[1]


class _OneQueryChoices(django_filters.fields.ModelChoiceIterator):
    """The options of a model select read in one plain query. Django reads them through
    `QuerySet.iterator()`, which on PostgreSQL declares a server-side cursor, fetches and closes
    it: several round trips for a few dozen campaigns or owners, on every list page."""

    def __iter__(self):  # type: ignore[no-untyped-def]
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        if self.field.null_label is not None:
            yield (self.field.null_value, self.field.null_label)
        for obj in self.queryset.all():
            yield self.choice(obj)


class _OneQueryModelChoiceField(django_filters.fields.ModelChoiceField):
    iterator = _OneQueryChoices


class ModelChoiceFilter(django_filters.ModelChoiceFilter):
    """A model select filter whose options cost one query (the list pages' campaign and owner)."""

    field_class = _OneQueryModelChoiceField


class LeadFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    stage = django_filters.MultipleChoiceFilter(choices=Stage.choices)
    source_channel = django_filters.MultipleChoiceFilter(choices=Channel.choices, label="Source")
    campaign = ModelChoiceFilter(queryset=Campaign.objects.all())
    owner = ModelChoiceFilter(
        queryset=get_user_model().objects.filter(is_active=True).order_by("first_name", "username"),
        null_label="Unassigned",
    )
    segment = django_filters.ChoiceFilter(choices=Segment.choices, method="filter_segment")
    fit_min = django_filters.NumberFilter(field_name="fit_score", lookup_expr="gte", label="Fit ≥")
    fit_max = django_filters.NumberFilter(field_name="fit_score", lookup_expr="lte", label="Fit ≤")
    engagement_min = django_filters.NumberFilter(field_name="engagement_score", lookup_expr="gte", label="Engagement ≥")
    engagement_max = django_filters.NumberFilter(field_name="engagement_score", lookup_expr="lte", label="Engagement ≤")
    # Drill-downs from the reports: cohorts, stages reached, stage entries in a period.
    source_detail = django_filters.CharFilter(field_name="source_detail", label="Source detail")
    team = django_filters.NumberFilter(method="filter_team", label="Team")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    reached = django_filters.ChoiceFilter(choices=FUNNEL_CHOICES, method="filter_reached", label="Reached stage")
    entered = django_filters.ChoiceFilter(choices=FUNNEL_CHOICES, method="filter_noop", label="Entered stage")
    entered_after = django_filters.IsoDateTimeFilter(method="filter_noop")
    entered_before = django_filters.IsoDateTimeFilter(method="filter_noop")
    mql_after = django_filters.IsoDateTimeFilter(method="filter_noop", label="First MQL on or after")
    mql_before = django_filters.IsoDateTimeFilter(method="filter_noop", label="First MQL before")

    class Meta:
        model = Lead
        fields: list[str] = []

    def search(self, queryset: QuerySet[Lead], name: str, value: str) -> QuerySet[Lead]:
        value = value.strip()
        if not value:
            return queryset
        # Emails are stored lower-case: a case-sensitive prefix match on the lowered value finds the
        # same leads and can use the email index (UPPER(email) LIKE … cannot).
        if "@" in value:
            return queryset.filter(email__startswith=value.lower())
        condition = (
            Q(email__startswith=value.lower())
            | Q(first_name__icontains=value)
            | Q(last_name__icontains=value)
            | Q(company__name__icontains=value)
        )
        parts = value.split()
        if len(parts) == 2:
            condition |= Q(first_name__iexact=parts[0], last_name__istartswith=parts[1])
        return queryset.filter(condition)

    def filter_segment(self, queryset: QuerySet[Lead], name: str, value: str) -> QuerySet[Lead]:
        return queryset.filter(company__size__in=SEGMENT_SIZES[value]) if value else queryset

    def filter_team(self, queryset: QuerySet[Lead], name: str, value: int) -> QuerySet[Lead]:
        # The team of the lead's owner (as the reports group it); handoff owns teams, so by table.
        if not value:
            return queryset
        # The owner's first team (lowest id), exactly as reporting.funnel groups by team.
        first = RawSQL(
            "SELECT rep_id FROM handoff_teammembership GROUP BY rep_id HAVING MIN(team_id) = %s", [int(value)]
        )
        return queryset.filter(owner_id__in=first)

    def filter_reached(self, queryset: QuerySet[Lead], name: str, value: str) -> QuerySet[Lead]:
        if not value:
            return queryset
        return queryset.filter(Exists(StageTransition.objects.filter(reached_q(value), lead=OuterRef("pk"))))

    def filter_noop(self, queryset: QuerySet[Lead], name: str, value: object) -> QuerySet[Lead]:
        return queryset  # applied together in filter_queryset

    def filter_queryset(self, queryset: QuerySet[Lead]) -> QuerySet[Lead]:
        queryset = super().filter_queryset(queryset)
        data = self.form.cleaned_data
        entered, after, before = data.get("entered"), data.get("entered_after"), data.get("entered_before")
        if entered:
            moves = StageTransition.objects.filter(reached_q(entered), lead=OuterRef("pk"))
            if after:
                moves = moves.filter(at__gte=after)
            if before:
                moves = moves.filter(at__lt=before)
            queryset = queryset.filter(Exists(moves))
        mql_after, mql_before = data.get("mql_after"), data.get("mql_before")
        if mql_after or mql_before:
            first_mql = (
                StageTransition.objects.filter(reached_q(Stage.MQL), lead=OuterRef("pk"))
                .values("lead")
                .annotate(first=Min("at"))
                .values("first")
            )
            queryset = queryset.annotate(first_mql=Subquery(first_mql))
            if mql_after:
                queryset = queryset.filter(first_mql__gte=mql_after)
            if mql_before:
                queryset = queryset.filter(first_mql__lt=mql_before)
        return queryset
