"""Leads are written half full on PostgreSQL (fillfactor 50), so rescoring rewrites them in place.

Publishing a scoring model rewrites every scored lead: the explanation names the new version's
rules, and the lead names the version. When its scores stay the same, none of the lead's indexed
columns change, and PostgreSQL can write the new row version on the same page without touching
any of the table's indexes (a heap-only, "HOT", update) — if the page has room for it. A scored
lead is about 1 kB, mostly its explanation, so a page rewritten in one go needs as much room again
as its rows take. Measured at 1M leads on 2 cores: publishing an unchanged copy of the model
took 170 s with a new entry in each of the 15 indexes for every lead, 40-50 s in place.

The cost is space: the table takes about twice its rows' size — which it does anyway once a full
rewrite has left a dead copy of every row behind for vacuum. Existing pages stay as they are
until their rows are next rewritten (a rescore that changes them); new pages are filled to half.
SQLite has no such setting: nothing to do there.
"""

from django.db import migrations

FILLFACTOR = 50


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE leads_lead SET (fillfactor = {FILLFACTOR})")


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE leads_lead RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("leads", "0013_activity_write_indexes")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
