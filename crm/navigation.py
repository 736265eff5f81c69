"""The role-aware navigation: each entry shows only to users holding its permission."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from django.contrib.auth.models import AbstractBaseUser
from django.urls import get_script_prefix, reverse


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    permission: str
    icon: str  # a Bootstrap Icons name

    @property
    def url(self) -> str:
        return _reversed(self.url_name, get_script_prefix())


@lru_cache(maxsize=64)
def _reversed(url_name: str, script_prefix: str) -> str:
    """The navigation's URLs take no arguments: each is reversed once (per script prefix), not on
    every page for every entry."""
    return reverse(url_name)


# In the order they appear. Later work (MQL queue, My leads, reports) adds its entries here.
NAV_ITEMS: list[NavItem] = [
    NavItem("MQL queue", "handoff:queue", "handoff.review_mql_queue", "inbox"),
    NavItem("My leads", "handoff:my_leads", "handoff.work_leads", "person-workspace"),
    NavItem("Leads", "leads:list", "leads.view_lead", "people"),
    NavItem("Reports", "reporting:funnel", "reporting.view_reports", "bar-chart-line"),
    NavItem("Scoring", "leads:scoring", "leads.change_scoringmodel", "sliders"),
    NavItem("Imports", "leads:imports", "leads.add_csvimport", "upload"),
    NavItem("SLA board", "handoff:sla_board", "handoff.reassign_lead", "speedometer2"),
    NavItem("Settings", "handoff:settings", "handoff.manage_handoff_settings", "gear"),
]


def nav_items_for(user: AbstractBaseUser) -> list[NavItem]:
    if not user.is_authenticated:
        return []
    return [item for item in NAV_ITEMS if user.has_perm(item.permission)]


# Where each role starts its day: managers on the funnel, marketers on the queue, SDRs on My leads.
LANDING_PAGES: list[tuple[str, str]] = [
    ("reporting.view_team_reports", "reporting:funnel"),
    ("handoff.review_mql_queue", "handoff:queue"),
    ("handoff.work_leads", "handoff:my_leads"),
]


def landing_url_for(user: AbstractBaseUser) -> str:
    """The page the user works from; the lead list when no role gives them one."""
    for permission, url_name in LANDING_PAGES:
        if user.has_perm(permission):
            return reverse(url_name)
    return reverse("leads:list")
