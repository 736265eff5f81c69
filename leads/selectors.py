"""Reads of leads, shaped once here so pages and the API run the same, fixed number of queries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from leads.filters import LeadFilter
from leads.models import Activity, Lead, StageTransition


def lead_queryset_for(*, user: AbstractBaseUser) -> QuerySet[Lead]:
    """Every lead the user may read. All three roles read all leads; writes are checked apart."""
    if not user.has_perm("leads.view_lead"):
        return Lead.objects.none()
    return Lead.objects.all()


def lead_list(*, user: AbstractBaseUser, params: Mapping[str, Any]) -> tuple[QuerySet[Lead], LeadFilter]:
    """Filtered leads with what a list row shows joined in. Raises ValidationError on bad filters."""
    filterset = LeadFilter(data=params or None, queryset=lead_queryset_for(user=user))
    if not filterset.is_valid():
        raise ValidationError(filterset.errors.get_json_data())
    queryset = filterset.qs.select_related("company", "owner", "campaign")
    return queryset, filterset


def lead_get(*, user: AbstractBaseUser, lead_id: int) -> Lead:
    """One lead with its company, owner and campaign. Raises Lead.DoesNotExist if not readable."""
    return lead_queryset_for(user=user).select_related("company", "owner", "campaign").get(pk=lead_id)


def lead_timeline(*, lead: Lead, limit: int = 100) -> list[Activity]:
    """The lead's most recent activities, newest first."""
    return list(lead.activities.select_related("type").order_by("-occurred_at", "-id")[:limit])


def lead_activities(*, lead: Lead) -> QuerySet[Activity]:
    return lead.activities.select_related("type").order_by("-occurred_at", "-id")


def lead_stage_history(*, lead: Lead) -> list[StageTransition]:
    """Every stage change of the lead, oldest first, with who made it."""
    return list(lead.transitions.select_related("actor_user").order_by("at", "id"))
