"""Starting data: the managed list of rejection reasons, a business calendar, SLA policies and
the default (BANT) qualification policy. Managers change all of it from the settings pages."""

from django.db import migrations

REASONS = [
    # code, label, use
    ("student", "Student", "disqualify"),
    ("competitor", "Competitor", "disqualify"),
    ("bad_data", "Bad or fake data", "disqualify"),
    ("duplicate", "Duplicate", "disqualify"),
    ("no_budget", "No budget", "both"),
    ("no_authority", "No authority / wrong person", "both"),
    ("no_need", "No need", "both"),
    ("bad_timing", "Not now / timing", "recycle"),
    ("unresponsive", "Unresponsive", "recycle"),
    ("too_small", "Too small / poor fit", "both"),
    ("existing_customer", "Already a customer", "disqualify"),
    ("other", "Other", "both"),
]
WEEKDAYS_9_TO_5 = {str(day): [["09:00", "17:00"]] for day in range(5)}


def create(apps, schema_editor):
    RejectionReason = apps.get_model("handoff", "RejectionReason")
    BusinessCalendar = apps.get_model("handoff", "BusinessCalendar")
    SlaPolicy = apps.get_model("handoff", "SlaPolicy")
    QualificationPolicy = apps.get_model("handoff", "QualificationPolicy")
    for position, (code, label, use) in enumerate(REASONS):
        RejectionReason.objects.get_or_create(code=code, defaults={"label": label, "use": use, "position": position})
    calendar, _ = BusinessCalendar.objects.get_or_create(
        name="US business hours",
        defaults={"time_zone": "America/New_York", "hours": WEEKDAYS_9_TO_5, "holiday_country": "US"},
    )
    SlaPolicy.objects.get_or_create(
        name="Standard",
        defaults={"calendar": calendar, "first_touch_minutes": 240, "breach_action": "notify"},
    )
    SlaPolicy.objects.get_or_create(
        name="Hot lead", defaults={"calendar": calendar, "first_touch_minutes": 30, "breach_action": "both"}
    )
    if not QualificationPolicy.objects.exists():
        QualificationPolicy.objects.create(
            name="BANT",
            accepted_budget_statuses=["approved", "planned"],
            accepted_authority_roles=["decision_maker", "budget_holder", "influencer", "champion"],
            max_timeframe_months=12,
        )


class Migration(migrations.Migration):
    dependencies = [("handoff", "0002_qualification_triggers")]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
