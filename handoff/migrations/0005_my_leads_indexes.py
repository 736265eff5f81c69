"""Indexes for "My leads": a rep's open assignments and their running clocks, read from the indexes."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("handoff", "0004_rejections_mql_targets"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="assignment",
            index=models.Index(
                condition=models.Q(("is_open", True)), fields=["rep", "id"], name="assignment_open_rep_id"
            ),
        ),
        migrations.AddIndex(
            model_name="slaclock",
            index=models.Index(
                condition=models.Q(("first_touch_at__isnull", True), ("stopped_at__isnull", True)),
                fields=["due_at", "assignment", "warn_at"],
                name="sla_running_by_due",
            ),
        ),
    ]
