"""`SlaClock.touch_recorded_at`: when Baton learned of the first touch, as distinct from
`first_touch_at` (when the touch happened, which a rep may back-date). A clock is met only if the
touch was recorded by its due time. Clocks touched before this field existed are backfilled with
their touch time, which is what the old rule judged them by."""

from django.db import migrations, models


def backfill_touch_recorded(apps, schema_editor):
    SlaClock = apps.get_model("handoff", "SlaClock")
    SlaClock.objects.filter(first_touch_at__isnull=False, touch_recorded_at__isnull=True).update(
        touch_recorded_at=models.F("first_touch_at")
    )


class Migration(migrations.Migration):
    dependencies = [
        ("handoff", "0006_sla_sweep_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="slaclock",
            name="touch_recorded_at",
            field=models.DateTimeField(
                blank=True, null=True, help_text="When the first touch was logged (it may be back-dated)."
            ),
        ),
        migrations.RunPython(backfill_touch_recorded, migrations.RunPython.noop, elidable=True),
    ]
