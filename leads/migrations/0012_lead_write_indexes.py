"""Two fewer indexes on leads, which every rescore rewrites: the phone-digits index loses its
PostgreSQL LIKE twin (duplicates match phones by equality) and the scoring-model foreign key is
not indexed (nothing looks leads up by model).

Only indexes change in the database. The field changes are state-only, because SQLite would
otherwise rebuild `leads_lead`, which drops the triggers other apps put on it (handoff's
qualifying-call rule, reporting's funnel queue).
"""

import django.db.models.deletion
from django.db import migrations, models

DROP = [
    "leads_lead_phone_digits_a0676560",
    "leads_lead_phone_digits_a0676560_like",
    "leads_lead_scoring_model_id_8ede19cc",
]
RESTORE = [
    'CREATE INDEX "leads_lead_phone_digits_a0676560" ON "leads_lead" ("phone_digits")',
    'CREATE INDEX "leads_lead_scoring_model_id_8ede19cc" ON "leads_lead" ("scoring_model_id")',
]


class Migration(migrations.Migration):
    dependencies = [("leads", "0011_queue_index")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="lead",
                    name="phone_digits",
                    field=models.CharField(blank=True, db_default="", default="", max_length=40),
                ),
                migrations.AlterField(
                    model_name="lead",
                    name="scoring_model",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="leads.scoringmodel",
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
            model_name="lead",
            index=models.Index(fields=["phone_digits"], name="lead_phone_digits"),
        ),
    ]
