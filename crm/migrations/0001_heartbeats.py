from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies: list = []

    operations = [
        migrations.CreateModel(
            name="Heartbeat",
            fields=[
                ("name", models.CharField(max_length=200, primary_key=True, serialize=False)),
                ("kind", models.CharField(choices=[("worker", "Celery worker"), ("beat", "Celery beat")], max_length=10)),
                ("at", models.DateTimeField()),
                ("pid", models.PositiveIntegerField(default=0)),
            ],
            options={
                "ordering": ["kind", "name"],
                "permissions": [("view_system_status", "Can see the status of the database, Redis, workers and beat")],
            },
        ),
    ]
