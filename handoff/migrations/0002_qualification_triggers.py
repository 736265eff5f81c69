"""Database triggers behind the BANT rule.

With the check constraint on leads_lead (a lead at SQL or later must name a qualifying call),
these make the named call real: it must be a `qualified` call of the same lead (and a qualified
call has complete BANT, by its own check constraint). A qualified call cannot be edited or
deleted afterwards, so the lead's qualification cannot be undone behind its back.
"""

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION handoff_check_qualifying_call() RETURNS trigger AS $$
BEGIN
    IF NEW.qualifying_call_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM handoff_discoverycall c
        WHERE c.id = NEW.qualifying_call_id AND c.lead_id = NEW.id AND c.outcome = 'qualified'
    ) THEN
        RAISE EXCEPTION 'Lead %: qualifying call % is not a qualified discovery call of this lead',
            NEW.id, NEW.qualifying_call_id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER handoff_lead_qualifying_call
    BEFORE INSERT OR UPDATE OF qualifying_call_id, stage ON leads_lead
    FOR EACH ROW EXECUTE FUNCTION handoff_check_qualifying_call();

CREATE OR REPLACE FUNCTION handoff_qualified_call_immutable() RETURNS trigger AS $$
BEGIN
    IF OLD.outcome = 'qualified' THEN
        RAISE EXCEPTION 'Discovery call %: a qualified call is a record and cannot be changed or deleted',
            OLD.id USING ERRCODE = 'check_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER handoff_discoverycall_immutable
    BEFORE UPDATE OR DELETE ON handoff_discoverycall
    FOR EACH ROW EXECUTE FUNCTION handoff_qualified_call_immutable();
"""
PG_BACKWARD = """
DROP TRIGGER IF EXISTS handoff_lead_qualifying_call ON leads_lead;
DROP FUNCTION IF EXISTS handoff_check_qualifying_call();
DROP TRIGGER IF EXISTS handoff_discoverycall_immutable ON handoff_discoverycall;
DROP FUNCTION IF EXISTS handoff_qualified_call_immutable();
"""
_SQLITE_LEAD_CHECK = """
FOR EACH ROW
WHEN NEW.qualifying_call_id IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM handoff_discoverycall c
    WHERE c.id = NEW.qualifying_call_id AND c.lead_id = NEW.id AND c.outcome = 'qualified'
)
BEGIN
    SELECT RAISE(ABORT, 'qualifying call is not a qualified discovery call of this lead');
END;
"""
SQLITE_FORWARD = [
    "CREATE TRIGGER handoff_lead_qualifying_call_insert BEFORE INSERT ON leads_lead" + _SQLITE_LEAD_CHECK,
    "CREATE TRIGGER handoff_lead_qualifying_call_update BEFORE UPDATE OF qualifying_call_id, stage ON leads_lead"
    + _SQLITE_LEAD_CHECK,
    """CREATE TRIGGER handoff_discoverycall_immutable_update BEFORE UPDATE ON handoff_discoverycall
    FOR EACH ROW WHEN OLD.outcome = 'qualified'
    BEGIN SELECT RAISE(ABORT, 'a qualified discovery call cannot be changed'); END;""",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS handoff_lead_qualifying_call_insert",
    "DROP TRIGGER IF EXISTS handoff_lead_qualifying_call_update",
    "DROP TRIGGER IF EXISTS handoff_discoverycall_immutable_update",
]


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement, params=None)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_BACKWARD:
            schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("handoff", "0001_initial"), ("leads", "0009_qualifying_call")]

    operations = [migrations.RunPython(forward, backward)]
