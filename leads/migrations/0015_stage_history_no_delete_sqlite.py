"""SQLite refuses DELETE of stage history too, as PostgreSQL has since migration 0002.

0002 left the DELETE trigger out on SQLite because Django's flush (`manage.py flush`, and the
teardown of every transactional test) empties SQLite tables with `DELETE FROM`, where PostgreSQL
uses TRUNCATE, which row triggers do not see. This trigger lets a DELETE through only while the
one-row table `crm_flush_marker` holds its row, and only the flush of Baton's SQLite backend
(`crm.db.sqlite3`, which crm/settings/base.py picks for SQLite) writes it, inside the flush's
own transaction: see that module. Every other DELETE, raw SQL included, is refused.
PostgreSQL: nothing to do.
"""

from django.db import migrations

# The name crm.db.sqlite3.base.FLUSH_MARKER_TABLE looks for; spelled out here, as a migration
# must not change when the code it once imported does.
SQLITE_FORWARD = [
    "CREATE TABLE crm_flush_marker (id integer NOT NULL PRIMARY KEY CHECK (id = 1))",
    """
    CREATE TRIGGER leads_stagetransition_immutable_delete
    BEFORE DELETE ON leads_stagetransition
    FOR EACH ROW
    WHEN NOT EXISTS (SELECT 1 FROM crm_flush_marker)
    BEGIN
        SELECT RAISE(ABORT, 'Stage history is immutable: transitions cannot be deleted');
    END;
    """,
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS leads_stagetransition_immutable_delete",
    "DROP TABLE IF EXISTS crm_flush_marker",
]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for sql in SQLITE_FORWARD:
            schema_editor.execute(sql)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for sql in SQLITE_BACKWARD:
            schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("leads", "0014_lead_fillfactor")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
