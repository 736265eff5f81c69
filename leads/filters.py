"""The lead list's filters, shared by the lead list page and the `/api/v1/leads/` endpoint."""

from __future__ import annotations

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from leads.lifecycle import Stage
from leads.models import SEGMENT_SIZES, Campaign, Channel, Lead, Segment

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


class LeadFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    stage = django_filters.MultipleChoiceFilter(choices=Stage.choices)
    source_channel = django_filters.MultipleChoiceFilter(choices=Channel.choices, label="Source")
    campaign = django_filters.ModelChoiceFilter(queryset=Campaign.objects.all())
    owner = django_filters.ModelChoiceFilter(
        queryset=get_user_model().objects.filter(is_active=True).order_by("first_name", "username"),
        null_label="Unassigned",
    )
    segment = django_filters.ChoiceFilter(choices=Segment.choices, method="filter_segment")
    fit_min = django_filters.NumberFilter(field_name="fit_score", lookup_expr="gte", label="Fit ≥")
    fit_max = django_filters.NumberFilter(field_name="fit_score", lookup_expr="lte", label="Fit ≤")
    engagement_min = django_filters.NumberFilter(field_name="engagement_score", lookup_expr="gte", label="Engagement ≥")
    engagement_max = django_filters.NumberFilter(field_name="engagement_score", lookup_expr="lte", label="Engagement ≤")

    class Meta:
        model = Lead
        fields: list[str] = []

    def search(self, queryset: QuerySet[Lead], name: str, value: str) -> QuerySet[Lead]:
        value = value.strip()
        if not value:
            return queryset
        if "@" in value:
            return queryset.filter(email__istartswith=value)
        condition = (
            Q(email__istartswith=value)
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
