"""Reporting stores nothing; this unmanaged model only carries the reports' permissions."""

from django.db import models


class ReportAccess(models.Model):
    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_reports", "Can view funnel, velocity, marketing and feedback reports"),
            ("view_team_reports", "Can view SLA reports and the rep leaderboard"),
        ]

    def __str__(self) -> str:
        return "Report access"
