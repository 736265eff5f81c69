"""Re-qualification: a lead may have several opportunities over time, one per qualifying pass.

`Opportunity.lead` was one-to-one, so a lead recycled after it had been qualified could never be
converted again ("already has an opportunity"). Now an opportunity has a status — open, won or
lost — and a `closed_at`; at most one is open per lead (a conditional unique constraint), and
the open one is closed when the lead leaves sales (lost) or becomes a customer (won).

Existing opportunities are closed here as the lifecycle left them: won for a customer, at its
move to customer; lost for a lead no longer at SQL or opportunity, at its first move out of the
funnel after the opportunity opened (or its latest stage change). That frees the leads recycled
after they were qualified for a new qualifying call.
"""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery
from django.db.models.functions import Coalesce

SALES_QUALIFIED = ["sql", "opportunity", "customer"]


def close_finished(apps, schema_editor):
    Opportunity = apps.get_model("handoff", "Opportunity")
    Lead = apps.get_model("leads", "Lead")
    StageTransition = apps.get_model("leads", "StageTransition")
    changed_at = Subquery(Lead.objects.filter(pk=OuterRef("lead_id")).values("stage_changed_at")[:1])
    won_at = Subquery(
        StageTransition.objects.filter(lead_id=OuterRef("lead_id"), to_stage="customer")
        .order_by("-at", "-id")
        .values("at")[:1]
    )
    Opportunity.objects.filter(lead__stage="customer").update(status="won", closed_at=Coalesce(won_at, changed_at))
    left_at = Subquery(
        StageTransition.objects.filter(
            lead_id=OuterRef("lead_id"), to_stage__in=["recycled", "disqualified"], at__gte=OuterRef("created_at")
        )
        .order_by("at", "id")
        .values("at")[:1]
    )
    Opportunity.objects.exclude(lead__stage__in=SALES_QUALIFIED).update(
        status="lost", closed_at=Coalesce(left_at, changed_at)
    )


class Migration(migrations.Migration):
    dependencies = [("handoff", "0009_auto_handoff_data")]

    operations = [
        migrations.AddField(
            model_name="opportunity",
            name="closed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="opportunity",
            name="status",
            field=models.CharField(
                choices=[("open", "Open"), ("won", "Won"), ("lost", "Lost")], default="open", max_length=4
            ),
        ),
        migrations.AlterField(
            model_name="opportunity",
            name="lead",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="opportunities", to="leads.lead"
            ),
        ),
        migrations.RunPython(close_finished, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="opportunity",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status", "open")), fields=("lead",), name="one_open_opportunity_per_lead"
            ),
        ),
        migrations.AddConstraint(
            model_name="opportunity",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("closed_at__isnull", True), ("status", "open")),
                    models.Q(models.Q(("status", "open"), _negated=True), ("closed_at__isnull", False)),
                    _connector="OR",
                ),
                name="opportunity_open_xor_closed",
            ),
        ),
    ]
