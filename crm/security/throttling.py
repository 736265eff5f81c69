"""Lockouts of password guessing (django-axes): per username and address, and per address alone.

Axes counts failed sign-ins per group of `AXES_LOCKOUT_PARAMETERS` but compares every group with
the one `AXES_FAILURE_LIMIT`. Baton wants two limits: a few failures for one username from one
address (someone mistyping, or guessing one account), and more from one address whatever the
usernames (one machine trying many accounts). `AxesHandler` gives each group its own limit.
"""

from __future__ import annotations

from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_failure_limit, get_lockout_parameters
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest
from rest_framework.throttling import BaseThrottle

ADDRESS = "ip_address"


def client_ip_address(request: HttpRequest) -> str | None:
    """The client's address as DRF's throttles read it: `NUM_PROXIES` deep into X-Forwarded-For.

    Behind a load balancer `REMOTE_ADDR` is the balancer's own address: counting failures by it
    would lock every user out at once. Only as many proxies as the operator declares are trusted,
    so a client cannot pick its address by sending the header itself.
    """
    return BaseThrottle().get_ident(request) or None


def _group_limit(group: str | list[str], base_limit: int) -> int:
    return settings.BATON_ADDRESS_FAILURE_LIMIT if group == ADDRESS else base_limit


class AxesHandler(AxesDatabaseHandler):
    """Axes' database handler with a limit per lockout group.

    Axes locks out when `get_failures() >= AXES_FAILURE_LIMIT`. Here each group's failures are
    scaled to that limit (`failures * base // group_limit`, which reaches `base` exactly when the
    failures reach the group's own limit), and the worst group decides. The request remembers
    which limit was reached, for the lockout page (`axes_lockout_by_address`, `axes_lockout_limit`).
    """

    def get_failures(self, request: Any, credentials: dict | None = None) -> int:
        base = get_failure_limit(request, credentials)
        groups = get_lockout_parameters(request, credentials)
        worst = 0
        for group, attempts in zip(groups, self.get_user_attempts(request, credentials), strict=True):
            failures = attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
            limit = _group_limit(group, base)
            scaled = failures * base // limit
            if scaled >= base and scaled >= worst:
                request.axes_lockout_by_address = group == ADDRESS
                request.axes_lockout_limit = limit
            worst = max(worst, scaled)
        return worst

    def reset_user_attempts(self, request: HttpRequest, credentials: dict | None = None) -> int:
        """A successful sign-in clears that username's failures from that address, not the address's
        failures for other usernames (else one good account would reset an attacker's count)."""
        groups = get_lockout_parameters(request, credentials)
        count = 0
        for group, attempts in zip(groups, self.filter_user_attempts(request, credentials), strict=True):
            if group != ADDRESS:
                count += attempts.delete()[0]
        return count
