"""The sweep's partial indexes hold only the clocks it still has to handle: `sla_running_due` the
running clocks not yet breached, `sla_running_warn` those neither warned nor breached (keyed on
`warn_at, due_at`, so the planner sees how few are in their warning window)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("handoff", "0005_my_leads_indexes"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="slaclock", name="sla_running_due"),
        migrations.RemoveIndex(model_name="slaclock", name="sla_running_warn"),
        migrations.AddIndex(
            model_name="slaclock",
            index=models.Index(
                condition=models.Q(
                    ("breached_at__isnull", True), ("first_touch_at__isnull", True), ("stopped_at__isnull", True)
                ),
                fields=["due_at"],
                name="sla_running_due",
            ),
        ),
        migrations.AddIndex(
            model_name="slaclock",
            index=models.Index(
                condition=models.Q(
                    ("breached_at__isnull", True),
                    ("first_touch_at__isnull", True),
                    ("stopped_at__isnull", True),
                    ("warned_at__isnull", True),
                ),
                fields=["warn_at", "due_at"],
                name="sla_running_warn",
            ),
        ),
    ]
