"""Version 1 of the scoring model, active from the start, so leads are scored out of the box.

Marketers tune it from the scoring page: they edit a draft copy and publish it.
"""

from django.db import migrations

FIT_RULES = [
    # label, attribute, operator, values, points
    ("C-level or VP", "seniority", "in", ["c_level", "vp"], 25),
    ("Director", "seniority", "in", ["director"], 18),
    ("Manager", "seniority", "in", ["manager"], 10),
    ("Student or intern", "seniority", "in", ["student"], -30),
    ("Target industry", "industry", "in", ["software", "financial_services", "healthcare", "telecom"], 10),
    ("Mid-market or enterprise", "company_size", "in", ["201-1000", "1001-5000", "5000+"], 15),
    ("Growing company (51–200)", "company_size", "in", ["51-200"], 8),
    ("Core territory", "country", "in", ["US", "CA", "GB", "IE", "DE", "FR", "NL", "SE", "DK", "AU"], 5),
    ("Free-mail address", "free_mail", "is_true", [], -15),
    ("Academic address", "email_domain", "ends_with_any", [".edu", ".ac.uk", ".edu.au", ".ac.jp"], -25),
    ("Competitor", "email_domain", "in", ["relaycrm.com", "funnelforce.io", "leadlytics.com"], -60),
]
ENGAGEMENT_RULES = [
    # activity type, points, cap, decays
    ("page_view", 1, 15, True),
    ("pricing_page_view", 8, 24, True),
    ("content_download", 8, 32, True),
    ("webinar_registered", 5, 10, True),
    ("webinar_attended", 12, 24, True),
    ("event_attended", 10, 20, True),
    ("email_open", 1, 5, True),
    ("email_click", 3, 15, True),
    ("form_submit", 5, 15, True),
    ("free_trial", 25, 25, True),
    ("demo_request", 40, 40, True),
    ("contact_sales", 40, 40, True),
    ("price_quote", 30, 30, True),
    ("careers_page_view", -5, 15, True),
    ("unsubscribe", -25, 25, False),
]


def create(apps, schema_editor):
    ScoringModel = apps.get_model("leads", "ScoringModel")
    ActivityType = apps.get_model("leads", "ActivityType")
    if ScoringModel.objects.exists():
        return
    model = ScoringModel.objects.create(
        version=1,
        name="Baseline B2B model",
        status="active",
        mql_fit_threshold=30,
        mql_engagement_threshold=40,
        decay_half_life_days=30,
        hot_signal_window_days=14,
        notes="Seniority, firmographics and hand-raisers; engagement halves every 30 days.",
    )
    model.hot_signal_types.set(ActivityType.objects.filter(is_hot_signal=True))
    for position, (label, attribute, operator, values, points) in enumerate(FIT_RULES, start=1):
        model.fit_rules.create(
            label=label,
            attribute=attribute,
            operator=operator,
            values=values,
            points=points,
            position=position,
        )
    for code, points, cap, decays in ENGAGEMENT_RULES:
        model.engagement_rules.create(activity_type_id=code, points=points, max_points=cap, decays=decays)


def remove(apps, schema_editor):
    apps.get_model("leads", "ScoringModel").objects.filter(version=1).delete()


class Migration(migrations.Migration):
    dependencies = [("leads", "0004_scoring")]

    operations = [migrations.RunPython(create, remove)]
