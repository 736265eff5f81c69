"""Two fewer indexes on activities, written at every ingested activity: the lead index is covered
by (lead, occurred_at), and the type index loses its PostgreSQL LIKE twin (types match by
equality). As in 0012, only indexes change in the database (no SQLite table rebuild)."""

import django.db.models.deletion
from django.db import migrations, models

DROP = [
    "leads_activity_lead_id_9cc33a14",
    "leads_activity_type_code_a6592b53",
    "leads_activity_type_code_a6592b53_like",
]
RESTORE = [
    'CREATE INDEX "leads_activity_lead_id_9cc33a14" ON "leads_activity" ("lead_id")',
    'CREATE INDEX "leads_activity_type_code_a6592b53" ON "leads_activity" ("type_code")',
]


class Migration(migrations.Migration):
    dependencies = [("leads", "0012_lead_write_indexes")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="activity",
                    name="lead",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="activities",
                        to="leads.lead",
                    ),
                ),
                migrations.AlterField(
                    model_name="activity",
                    name="type",
                    field=models.ForeignKey(
                        db_column="type_code",
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="activities",
                        to="leads.activitytype",
                        to_field="code",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    [f'DROP INDEX IF EXISTS "{name}"' for name in DROP],
                    RESTORE,
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="activity",
            index=models.Index(fields=["type"], name="activity_type"),
        ),
    ]
