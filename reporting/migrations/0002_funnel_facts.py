"""The funnel pre-aggregation (reporting.funnel_facts): its tables, and the triggers that queue a
FunnelChange for every lead whose facts a write may change, in the same transaction, whatever
code path writes:

- a stage transition inserted (PostgreSQL: once per statement, so bulk loads stay cheap);
- transitions re-pointed to another lead (merging duplicates): both leads;
- a lead's created_at, channel, source detail, campaign, owner or company changed;
- a company's size changed (the segment of its leads).

Team membership is read at query time and needs no trigger. On SQLite, a later migration that
rebuilds leads_lead, leads_stagetransition or leads_company (SQLite's way of altering a column)
drops their triggers and must recreate these (tests/reporting/test_funnel_facts.py would fail).
After migrating a database with data, build the store with `manage.py funnel_facts_rebuild`
(otherwise the first refresh — the beat task, or the first funnel page — builds it).
"""

import django.db.models.deletion
from django.db import migrations, models

LEAD_COLUMNS = ("created_at", "source_channel", "source_detail", "campaign_id", "owner_id", "company_id")

PG_FORWARD = f"""
CREATE FUNCTION reporting_funnel_transitions_inserted() RETURNS trigger AS $$
BEGIN
    INSERT INTO reporting_funnelchange (lead_id) SELECT DISTINCT lead_id FROM new_rows;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER reporting_funnel_transitions_inserted
    AFTER INSERT ON leads_stagetransition REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION reporting_funnel_transitions_inserted();

CREATE FUNCTION reporting_funnel_transitions_moved() RETURNS trigger AS $$
BEGIN
    INSERT INTO reporting_funnelchange (lead_id)
        SELECT o.lead_id FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE n.lead_id <> o.lead_id
        UNION
        SELECT n.lead_id FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE n.lead_id <> o.lead_id;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER reporting_funnel_transitions_moved
    AFTER UPDATE ON leads_stagetransition REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION reporting_funnel_transitions_moved();

CREATE FUNCTION reporting_funnel_lead_changed() RETURNS trigger AS $$
BEGIN
    INSERT INTO reporting_funnelchange (lead_id) VALUES (NEW.id);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER reporting_funnel_lead_changed
    AFTER UPDATE OF {", ".join(LEAD_COLUMNS)} ON leads_lead FOR EACH ROW
    WHEN ({" OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in LEAD_COLUMNS)})
    EXECUTE FUNCTION reporting_funnel_lead_changed();

CREATE FUNCTION reporting_funnel_company_resized() RETURNS trigger AS $$
BEGIN
    INSERT INTO reporting_funnelchange (lead_id) SELECT id FROM leads_lead WHERE company_id = NEW.id;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER reporting_funnel_company_resized
    AFTER UPDATE OF size ON leads_company FOR EACH ROW WHEN (OLD.size IS DISTINCT FROM NEW.size)
    EXECUTE FUNCTION reporting_funnel_company_resized();
"""
PG_BACKWARD = """
DROP TRIGGER IF EXISTS reporting_funnel_transitions_inserted ON leads_stagetransition;
DROP TRIGGER IF EXISTS reporting_funnel_transitions_moved ON leads_stagetransition;
DROP TRIGGER IF EXISTS reporting_funnel_lead_changed ON leads_lead;
DROP TRIGGER IF EXISTS reporting_funnel_company_resized ON leads_company;
DROP FUNCTION IF EXISTS reporting_funnel_transitions_inserted();
DROP FUNCTION IF EXISTS reporting_funnel_transitions_moved();
DROP FUNCTION IF EXISTS reporting_funnel_lead_changed();
DROP FUNCTION IF EXISTS reporting_funnel_company_resized();
"""
SQLITE_FORWARD = [
    """
    CREATE TRIGGER reporting_funnel_transition_inserted AFTER INSERT ON leads_stagetransition FOR EACH ROW
    BEGIN
        INSERT INTO reporting_funnelchange (lead_id) VALUES (NEW.lead_id);
    END;
    """,
    """
    CREATE TRIGGER reporting_funnel_transition_moved AFTER UPDATE OF lead_id ON leads_stagetransition FOR EACH ROW
    WHEN NEW.lead_id IS NOT OLD.lead_id
    BEGIN
        INSERT INTO reporting_funnelchange (lead_id) VALUES (OLD.lead_id), (NEW.lead_id);
    END;
    """,
    f"""
    CREATE TRIGGER reporting_funnel_lead_changed AFTER UPDATE OF {", ".join(LEAD_COLUMNS)} ON leads_lead FOR EACH ROW
    WHEN {" OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in LEAD_COLUMNS)}
    BEGIN
        INSERT INTO reporting_funnelchange (lead_id) VALUES (NEW.id);
    END;
    """,
    """
    CREATE TRIGGER reporting_funnel_company_resized AFTER UPDATE OF size ON leads_company FOR EACH ROW
    WHEN NEW.size IS NOT OLD.size
    BEGIN
        INSERT INTO reporting_funnelchange (lead_id) SELECT id FROM leads_lead WHERE company_id = NEW.id;
    END;
    """,
]
SQLITE_BACKWARD = [
    f"DROP TRIGGER IF EXISTS {name}"
    for name in (
        "reporting_funnel_transition_inserted",
        "reporting_funnel_transition_moved",
        "reporting_funnel_lead_changed",
        "reporting_funnel_company_resized",
    )
]


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_BACKWARD:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0011_queue_index"),
        ("reporting", "0001_report_permissions"),
    ]

    operations = [
        migrations.CreateModel(
            name="FunnelChange",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("lead_id", models.BigIntegerField()),
            ],
        ),
        migrations.CreateModel(
            name="FunnelFactsState",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("built_at", models.DateTimeField(null=True)),
            ],
        ),
        migrations.CreateModel(
            name="FunnelCount",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("mode", models.CharField(max_length=10)),
                ("breakdown", models.CharField(max_length=10)),
                ("hours", models.PositiveSmallIntegerField()),
                ("epoch_hour", models.BigIntegerField()),
                ("group_key", models.CharField(max_length=200)),
                ("members", models.BigIntegerField()),
                ("reached_lead", models.BigIntegerField()),
                ("reached_mql", models.BigIntegerField()),
                ("reached_sal", models.BigIntegerField()),
                ("reached_sql", models.BigIntegerField()),
                ("reached_opportunity", models.BigIntegerField()),
                ("reached_customer", models.BigIntegerField()),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("mode", "breakdown", "hours", "epoch_hour", "group_key"), name="funnelcount_unique"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="LeadFunnel",
            fields=[
                (
                    "lead",
                    models.OneToOneField(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="leads.lead",
                    ),
                ),
                ("created_at", models.DateTimeField()),
                ("lead_at", models.DateTimeField(null=True)),
                ("mql_at", models.DateTimeField(null=True)),
                ("sal_at", models.DateTimeField(null=True)),
                ("sql_at", models.DateTimeField(null=True)),
                ("opportunity_at", models.DateTimeField(null=True)),
                ("customer_at", models.DateTimeField(null=True)),
                ("channel", models.CharField(max_length=30)),
                ("source", models.CharField(max_length=200)),
                ("campaign_id", models.BigIntegerField(null=True)),
                ("owner_id", models.IntegerField(null=True)),
                ("segment", models.CharField(max_length=20)),
                ("entries", models.TextField()),
            ],
            options={
                "indexes": [
                    models.Index(fields=["created_at"], name="leadfunnel_created"),
                    models.Index(fields=["mql_at"], name="leadfunnel_mql"),
                ],
            },
        ),
        migrations.RunPython(forward, backward),
    ]
