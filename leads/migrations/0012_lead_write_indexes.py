"""Two fewer indexes on leads, which every rescore rewrites: the phone-digits index loses its
PostgreSQL LIKE twin (duplicates match phones by equality) and the scoring-model foreign key is
not indexed (nothing looks leads up by model)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0011_queue_index"),
    ]

    operations = [
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
        migrations.AddIndex(
            model_name="lead",
            index=models.Index(fields=["phone_digits"], name="lead_phone_digits"),
        ),
    ]
