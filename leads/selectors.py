"""Reads of leads, shaped once here so pages and the API run the same, fixed number of queries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from leads.filters import LeadFilter
from leads.models import Activity, Lead, StageTransition


def lead_queryset_for(*, user: AbstractBaseUser) -> QuerySet[Lead]:
    """Every lead the user may read. All three roles read all leads; writes are checked apart."""
    if not user.has_perm("leads.view_lead"):
        return Lead.objects.none()
    return Lead.objects.all()


def lead_list(*, user: AbstractBaseUser, params: Mapping[str, Any]) -> tuple[QuerySet[Lead], LeadFilter]:
    """Filtered leads with what a list row shows joined in. Raises ValidationError on bad filters."""
    filterset = LeadFilter(data=params if params is not None else {}, queryset=lead_queryset_for(user=user))
    related = ("company", "owner", "campaign", "scoring_model")
    if params is not None and not any(name in params for name in filterset.filters):
        # Nothing to filter by (the usual first look at the list): no form to build and validate.
        return filterset.queryset.select_related(*related), filterset
    if not filterset.is_valid():
        raise ValidationError(filterset.form.errors.as_data())
    return filterset.qs.select_related(*related), filterset


# What a row of the lead list page shows (leads.views.lead_rows), and every key it can be sorted
# and paged by (leads.filters.LEAD_SORTS), read as plain values: fifty rows of four joined tables,
# where model instances cost more than the query.
LEAD_ROW_VALUES = (
    "id",
    "email",
    "first_name",
    "last_name",
    "job_title",
    "stage",
    "fit_score",
    "engagement_score",
    "score_explanation",
    "source_channel",
    "created_at",
    "updated_at",
    "company__name",
    "company__size",
    "campaign__name",
    "owner__username",
    "owner__first_name",
    "owner__last_name",
)


def lead_list_page(
    *, user: AbstractBaseUser, params: Mapping[str, Any]
) -> tuple[QuerySet[Lead], QuerySet[Lead, dict[str, Any]], LeadFilter]:
    """`lead_list` for the lead list page: the matching leads (to count: no joins but the
    filters' own, so the database can count along any small index) and the values their rows show
    (LEAD_ROW_VALUES, by name, to page through)."""
    queryset, filterset = lead_list(user=user, params=params)
    matching = queryset.select_related(None)
    return matching, matching.values(*LEAD_ROW_VALUES), filterset


def lead_get(*, user: AbstractBaseUser, lead_id: int) -> Lead:
    """One lead with its company, owner and campaign. Raises Lead.DoesNotExist if not readable."""
    return lead_queryset_for(user=user).select_related("company", "owner", "campaign", "scoring_model").get(pk=lead_id)


def lead_timeline(*, lead: Lead, limit: int = 100) -> list[Activity]:
    """The lead's most recent activities, newest first."""
    return list(lead.activities.select_related("type").order_by("-occurred_at", "-id")[:limit])


def lead_activities(*, lead: Lead) -> QuerySet[Activity]:
    return lead.activities.select_related("type").order_by("-occurred_at", "-id")


def lead_stage_history(*, lead: Lead) -> list[StageTransition]:
    """Every stage change of the lead, oldest first, with who made it."""
    return list(lead.transitions.select_related("actor_user").order_by("at", "id"))


def lead_duplicates(*, lead: Lead, limit: int = 10) -> list[Lead]:
    """Likely duplicates: the same first and last name at the same company, or the same phone."""
    condition = Q()
    if lead.company_id and lead.first_name and lead.last_name:
        condition |= Q(
            company_id=lead.company_id,
            first_name__iexact=lead.first_name,
            last_name__iexact=lead.last_name,
        )
    if lead.phone_digits:
        condition |= Q(phone_digits=lead.phone_digits)
    if not condition:
        return []
    # The matching ids first, unordered, so the database combines the company and phone indexes;
    # asked in creation order with a LIMIT it walks the creation-time index instead, through the
    # whole table when there are fewer matches than the limit (the usual case: none).
    ids = list(Lead.objects.filter(condition).exclude(pk=lead.pk).values_list("pk", flat=True)[:DUPLICATES_SCAN])
    if not ids:
        return []
    return list(Lead.objects.filter(pk__in=ids).select_related("company", "owner").order_by("created_at", "id")[:limit])


# More candidates than any page shows; a shared switchboard number can match many leads.
DUPLICATES_SCAN = 500


def lead_merges(*, lead: Lead) -> list:  # type: ignore[type-arg]
    return list(lead.merges.select_related("actor").order_by("at", "id"))
