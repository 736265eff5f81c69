"""Database triggers that make stage history append-only, whatever path writes to it.

PostgreSQL refuses UPDATE and DELETE of a StageTransition row, except changing only `lead_id`
(re-pointing history to the surviving lead when duplicates are merged). SQLite refuses the same
UPDATEs; deletes there are refused by the ORM and the PROTECT foreign key, because Django's test
flush on SQLite empties tables with DELETE. (PostgreSQL flushes with TRUNCATE, which row
triggers do not see.)
"""

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION leads_stagetransition_immutable() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'Stage history is immutable: transition % cannot be deleted', OLD.id;
    END IF;
    IF NEW.id IS DISTINCT FROM OLD.id
       OR NEW.from_stage IS DISTINCT FROM OLD.from_stage
       OR NEW.to_stage IS DISTINCT FROM OLD.to_stage
       OR NEW.at IS DISTINCT FROM OLD.at
       OR NEW.actor_user_id IS DISTINCT FROM OLD.actor_user_id
       OR NEW.actor_rule IS DISTINCT FROM OLD.actor_rule
       OR NEW.reason IS DISTINCT FROM OLD.reason THEN
        RAISE EXCEPTION 'Stage history is immutable: transition % cannot be edited', OLD.id;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER leads_stagetransition_immutable
    BEFORE UPDATE OR DELETE ON leads_stagetransition
    FOR EACH ROW EXECUTE FUNCTION leads_stagetransition_immutable();
"""
PG_BACKWARD = """
DROP TRIGGER IF EXISTS leads_stagetransition_immutable ON leads_stagetransition;
DROP FUNCTION IF EXISTS leads_stagetransition_immutable();
"""
SQLITE_FORWARD = """
CREATE TRIGGER leads_stagetransition_immutable
BEFORE UPDATE ON leads_stagetransition
FOR EACH ROW
WHEN NEW.id IS NOT OLD.id
  OR NEW.from_stage IS NOT OLD.from_stage
  OR NEW.to_stage IS NOT OLD.to_stage
  OR NEW."at" IS NOT OLD."at"
  OR NEW.actor_user_id IS NOT OLD.actor_user_id
  OR NEW.actor_rule IS NOT OLD.actor_rule
  OR NEW.reason IS NOT OLD.reason
BEGIN
    SELECT RAISE(ABORT, 'Stage history is immutable: transitions cannot be edited');
END;
"""
SQLITE_BACKWARD = "DROP TRIGGER IF EXISTS leads_stagetransition_immutable;"


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_FORWARD)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("leads", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
