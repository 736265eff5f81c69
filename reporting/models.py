"""Reporting's permissions, and the funnel's pre-aggregation (derived data, rebuilt at will).

The funnel pre-aggregation (see `reporting.funnel_facts`) keeps, for every lead with stage
history, one `LeadFunnel` row, and, per hour, mode and breakdown group, one `FunnelCount` row
summing those leads' contributions. Database triggers (migration 0002) queue a `FunnelChange`
for every lead whose facts a write may have changed; `reporting.services.funnel_facts_refresh`
applies the queue. Nothing else writes these tables.
"""

from django.db import models

from leads.models import Lead


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


class LeadFunnel(models.Model):
    """One lead's funnel facts: when it first reached each funnel stage (as
    `reporting.funnel.reached_condition` defines reaching), its creation time and breakdown
    values copied from the lead, and its stage entries (for flow counts).

    The lead link has no database constraint: the row is derived data, refreshed from the queue
    when its lead changes, merges away or goes (a refresh racing a merge never fails on it)."""

    lead = models.OneToOneField(
        Lead, primary_key=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    created_at = models.DateTimeField()
    lead_at = models.DateTimeField(null=True)
    mql_at = models.DateTimeField(null=True)
    sal_at = models.DateTimeField(null=True)
    sql_at = models.DateTimeField(null=True)
    opportunity_at = models.DateTimeField(null=True)
    customer_at = models.DateTimeField(null=True)
    channel = models.CharField(max_length=30)
    source = models.CharField(max_length=200)
    campaign_id = models.BigIntegerField(null=True)
    owner_id = models.IntegerField(null=True)
    segment = models.CharField(max_length=20)
    # Each stage change of the lead as "<epoch hour>:<bit mask of the funnel stages it reached>",
    # space-separated: what the lead adds to the flow counts, kept so a refresh can take it back out.
    entries = models.TextField()

    class Meta:
        indexes = [
            models.Index(fields=["created_at"], name="leadfunnel_created"),
            models.Index(fields=["mql_at"], name="leadfunnel_mql"),
        ]

    def __str__(self) -> str:
        return f"Funnel facts of lead {self.lead_id}"


class FunnelCount(models.Model):
    """The contributions of the leads in one breakdown group, in one funnel mode, in one UTC hour
    (`hours` 1) or day (`hours` 24, starting at midnight UTC): how many leads (cohort modes) or
    stage changes (flow) and how many of them reached each stage. `breakdown` is a funnel
    breakdown ("" for the total; team is read from rep)."""

    mode = models.CharField(max_length=10)
    breakdown = models.CharField(max_length=10)
    hours = models.PositiveSmallIntegerField()
    epoch_hour = models.BigIntegerField()  # the start, in whole hours since 1970-01-01 00:00 UTC
    group_key = models.CharField(max_length=200)
    members = models.BigIntegerField()
    reached_lead = models.BigIntegerField()
    reached_mql = models.BigIntegerField()
    reached_sal = models.BigIntegerField()
    reached_sql = models.BigIntegerField()
    reached_opportunity = models.BigIntegerField()
    reached_customer = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["mode", "breakdown", "hours", "epoch_hour", "group_key"], name="funnelcount_unique"
            )
        ]

    def __str__(self) -> str:
        where = f"{self.hours} h from hour {self.epoch_hour}"
        return f"{self.mode} {self.breakdown or 'total'} {self.group_key!r}, {where}: {self.members}"


class FunnelChange(models.Model):
    """A lead whose funnel facts may be out of date (queued by the triggers of migration 0002 in
    the transaction that changed it). The same lead may be queued many times."""

    id = models.BigAutoField(primary_key=True)
    lead_id = models.BigIntegerField()

    def __str__(self) -> str:
        return f"Funnel change of lead {self.lead_id}"


class FunnelFactsState(models.Model):
    """The single row (pk 1) refreshes lock, so they apply the queue one at a time. No row, or
    no `built_at`, means the store was never built: the next refresh builds it whole."""

    built_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"Funnel facts built at {self.built_at}"
