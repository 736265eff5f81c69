"""Baton's three roles, as Django groups with permissions, and helpers to ask about them.

The permission table below is the source of truth: `sync_roles()` (run after every migrate)
makes the groups match it exactly. Views and API views check permissions, never group names,
so a user can hold several roles and an admin can grant a single permission.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, Group, Permission


class Role(StrEnum):
    MARKETER = "Marketer"
    SDR = "SDR"
    MANAGER = "Manager"


_READ_LEADS = [
    "leads.view_lead",
    "leads.view_company",
    "leads.view_campaign",
    "leads.view_activity",
    "leads.view_activitytype",
    "leads.view_stagetransition",
]
_EDIT_LEADS = [
    "leads.add_lead",
    "leads.change_lead",
    "leads.add_company",
    "leads.change_company",
    "leads.add_campaign",
    "leads.change_campaign",
    "leads.add_activity",
]

_READ_HANDOFF = [
    "handoff.view_assignment",
    "handoff.view_slaclock",
    "handoff.view_discoverycall",
    "handoff.view_opportunity",
    "handoff.view_rejectionreason",
    "handoff.view_queuereview",
    "handoff.view_team",
    "handoff.view_slapolicy",
    "handoff.view_routingrule",
    "handoff.view_businesscalendar",
    "handoff.view_qualificationpolicy",
    "handoff.view_rejection",
]
_MANAGE_HANDOFF = [
    f"handoff.{action}_{model}"
    for model in (
        "team", "teammembership", "routingrule", "slapolicy", "businesscalendar", "closedday",
        "qualificationpolicy", "rejectionreason", "mqltarget",
    )
    for action in ("add", "change", "delete", "view")
]  # fmt: skip
_SCORING = [
    "leads.view_scoringmodel",
    "leads.change_scoringmodel",
    "leads.view_csvimport",
    "leads.add_csvimport",
    "leads.view_formsource",
    "leads.add_formsource",
    "leads.change_formsource",
]

ROLE_PERMISSIONS: dict[Role, list[str]] = {
    # Marketers own the top of the funnel: leads, scoring, imports, and the MQL queue.
    Role.MARKETER: [
        *_READ_LEADS,
        *_EDIT_LEADS,
        *_SCORING,
        *_READ_HANDOFF,
        "handoff.review_mql_queue",
        "reporting.view_reports",
    ],
    # SDRs read every lead and work the ones assigned to them; they do not edit marketing data.
    Role.SDR: [*_READ_LEADS, "leads.add_activity", *_READ_HANDOFF, "handoff.work_leads", "handoff.add_discoverycall"],
    # Managers see and may do everything, and own routing, SLAs and the qualification policy.
    Role.MANAGER: [
        *_READ_LEADS,
        *_EDIT_LEADS,
        *_SCORING,
        "leads.change_activitytype",
        "leads.add_activitytype",
        *_READ_HANDOFF,
        *_MANAGE_HANDOFF,
        "handoff.review_mql_queue",
        "handoff.work_leads",
        "handoff.add_discoverycall",
        "handoff.act_on_any_lead",
        "handoff.reassign_lead",
        "handoff.manage_handoff_settings",
        "reporting.view_reports",
        "reporting.view_team_reports",
        "crm.view_system_status",
    ],
}


def sync_roles() -> None:
    """Create the role groups and give each exactly the permissions in ROLE_PERMISSIONS."""
    for role, names in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role.value)
        permissions = []
        for name in names:
            app_label, codename = name.split(".")
            permissions.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        group.permissions.set(permissions)


def sync_roles_after_migrate(**kwargs: Any) -> None:
    # Permissions are created by another post_migrate handler; run only when all exist.
    wanted = {tuple(name.split(".")) for names in ROLE_PERMISSIONS.values() for name in names}
    existing = set(
        Permission.objects.filter(codename__in=[c for _, c in wanted]).values_list(
            "content_type__app_label", "codename"
        )
    )
    if wanted <= existing:
        sync_roles()


def user_roles(user: AbstractBaseUser) -> list[Role]:
    if not user.is_authenticated:
        return []
    names = {group.name for group in user.groups.all()}
    return [role for role in Role if role.value in names]


def user_has_role(user: AbstractBaseUser, role: Role) -> bool:
    return role in user_roles(user)
