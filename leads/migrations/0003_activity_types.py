"""The starting managed list of activity types. Admins add and retire types later."""

from django.db import migrations

# code, name, category, hot signal, description
ACTIVITY_TYPES = [
    ("page_view", "Page view", "marketing", False, "Visited a page of the website."),
    ("pricing_page_view", "Pricing page view", "marketing", False, "Visited the pricing page."),
    ("careers_page_view", "Careers page view", "marketing", False, "Visited the careers pages."),
    (
        "content_download",
        "Content download",
        "marketing",
        False,
        "Downloaded gated content; properties.topic says what about.",
    ),
    ("webinar_registered", "Webinar registered", "marketing", False, "Registered for a webinar."),
    ("webinar_attended", "Webinar attended", "marketing", False, "Attended a webinar."),
    ("event_attended", "Event attended", "marketing", False, "Met us at an event or trade show."),
    ("email_open", "Email open", "marketing", False, "Opened a marketing email."),
    ("email_click", "Email click", "marketing", False, "Clicked a link in a marketing email."),
    ("form_submit", "Form submit", "marketing", False, "Submitted a website form."),
    ("free_trial", "Free trial started", "marketing", False, "Started a product trial."),
    ("demo_request", "Demo request", "marketing", True, "Asked for a demo."),
    ("contact_sales", "Contact sales", "marketing", True, "Asked to talk to sales."),
    ("price_quote", "Price quote request", "marketing", True, "Asked for a price quote."),
    ("unsubscribe", "Unsubscribe", "marketing", False, "Unsubscribed from marketing email."),
    ("sales_call", "Call", "sales_touch", False, "A sales rep called the lead."),
    ("sales_email", "Sales email", "sales_touch", False, "A sales rep emailed the lead."),
    ("sales_meeting", "Meeting", "sales_touch", False, "A sales rep met the lead."),
]


def create(apps, schema_editor):
    ActivityType = apps.get_model("leads", "ActivityType")
    for code, name, category, hot, description in ACTIVITY_TYPES:
        ActivityType.objects.update_or_create(
            code=code,
            defaults={"name": name, "category": category, "is_hot_signal": hot, "description": description},
        )


def remove(apps, schema_editor):
    apps.get_model("leads", "ActivityType").objects.filter(code__in=[row[0] for row in ACTIVITY_TYPES]).delete()


class Migration(migrations.Migration):
    dependencies = [("leads", "0002_stage_history_immutable")]

    operations = [migrations.RunPython(create, remove)]
