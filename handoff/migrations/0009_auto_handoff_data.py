"""Starting data for automatic hand-off and the marketing-side review commitment:

- cool-off days per nurture reason (timing 90 days, no budget 180, …);
- a review policy: review every MQL within 4 business hours (US business hours), else notify;
- a review clock for each MQL waiting in the queue now, from when it entered it;
- failed reassignments on breach recorded as their own kind of SLA event, and `escalated_at`
  cleared where it used to mean "reassigned" (it now means escalated to the manager).
"""

from django.db import migrations

NURTURE_DAYS = {
    "bad_timing": 90,
    "unresponsive": 60,
    "no_budget": 180,
    "no_authority": 90,
    "no_need": 180,
    "too_small": 180,
    "other": 90,
}
REVIEW_MINUTES = 240


def forward(apps, schema_editor):
    from handoff.business_time import Calendar

    RejectionReason = apps.get_model("handoff", "RejectionReason")
    BusinessCalendar = apps.get_model("handoff", "BusinessCalendar")
    ReviewPolicy = apps.get_model("handoff", "ReviewPolicy")
    ReviewClock = apps.get_model("handoff", "ReviewClock")
    Assignment = apps.get_model("handoff", "Assignment")
    SlaEvent = apps.get_model("handoff", "SlaEvent")
    SlaClock = apps.get_model("handoff", "SlaClock")
    Lead = apps.get_model("leads", "Lead")

    for code, days in NURTURE_DAYS.items():
        RejectionReason.objects.filter(code=code, nurture_days__isnull=True).update(nurture_days=days)

    SlaEvent.objects.filter(kind="reassigned", detail__startswith="Not reassigned").update(kind="not_reassigned")
    escalated = SlaEvent.objects.filter(kind="escalated").values("clock_id")
    SlaClock.objects.filter(escalated_at__isnull=False).exclude(pk__in=escalated).update(escalated_at=None)

    calendar = BusinessCalendar.objects.filter(name="US business hours").first() or BusinessCalendar.objects.first()
    if calendar is None or ReviewPolicy.objects.filter(is_active=True).exists():
        return
    policy = ReviewPolicy.objects.create(
        name="Marketing review", calendar=calendar, review_minutes=REVIEW_MINUTES, overdue_action="notify"
    )
    business = Calendar.from_model(calendar)
    held = Assignment.objects.filter(is_open=True).values("lead_id")
    waiting = Lead.objects.filter(stage="mql").exclude(pk__in=held).values_list("pk", "stage_changed_at")
    ReviewClock.objects.bulk_create(
        [
            ReviewClock(
                lead_id=pk, policy=policy, started_at=since, due_at=business.add_minutes(since, REVIEW_MINUTES)
            )
            for pk, since in waiting.iterator(chunk_size=2000)
        ],
        batch_size=2000,
    )


class Migration(migrations.Migration):
    dependencies = [("handoff", "0008_auto_handoff"), ("leads", "0016_auto_handoff")]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
