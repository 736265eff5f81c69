"""The database's part of "BANT content that means something": a qualified discovery call's
written answers (decision maker, pain, use case) must each hold at least one visible character.

`handoff.services.bant_text` normalises an answer (invisible and control characters out,
whitespace collapsed) before the completeness rule, and the form and the API count with it. The
database cannot strip characters portably, but it can ask the same question of what is written:
would anything be left? A check constraint could ask it too — but adding one validates the
existing rows, and a qualified call is a record that cannot be changed (migration 0002), so one
made before this rule, with an answer of zero-width characters, would stop the migration. So it
is a trigger, on every insert and update, like the other rules of migration 0002: PostgreSQL
matches the column against a bracket expression of the invisible and blank characters, SQLite
against a GLOB character class of the same characters.

BLANK is frozen here (Unicode 14, as Python 3.11 has it) so the rule does not move with the
interpreter: whitespace, the zero-width joiner and non-joiner, and what `bant_text` strips
(format and control characters but the visible prepended concatenation marks, and the other
default-ignorable code points). NUL is left out: neither database stores it in text.
"""

from django.db import migrations

BLANK = (
    (0x0001, 0x0020),
    (0x007F, 0x00A0),
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x1680, 0x1680),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x2000, 0x200F),
    (0x2028, 0x202F),
    (0x205F, 0x2064),
    (0x2066, 0x206F),
    (0x3000, 0x3000),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF9, 0xFFFB),
    (0x13430, 0x13438),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
    (0xE0100, 0xE01EF),
)
FIELDS = (("decision_maker", "the decision maker"), ("need_pain", "the pain"), ("need_use_case", "the use case"))


def _pg_char(code: int) -> str:
    return f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}"


PG_VISIBLE = "[^" + "".join(_pg_char(a) if a == b else f"{_pg_char(a)}-{_pg_char(b)}" for a, b in BLANK) + "]"
SQLITE_VISIBLE = "*[^" + "".join(chr(a) if a == b else f"{chr(a)}-{chr(b)}" for a, b in BLANK) + "]*"

_PG_CHECKS = "\n".join(
    f"""        IF NEW.{field} !~ '{PG_VISIBLE}' THEN
            RAISE EXCEPTION 'Discovery call %: a qualified call needs {words} in words, not only invisible characters',
                NEW.id USING ERRCODE = 'check_violation';
        END IF;"""
    for field, words in FIELDS
)
PG_FORWARD = f"""
CREATE OR REPLACE FUNCTION handoff_check_bant_visible() RETURNS trigger AS $$
BEGIN
    IF NEW.outcome = 'qualified' THEN
{_PG_CHECKS}
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER handoff_discoverycall_bant_visible
    BEFORE INSERT OR UPDATE ON handoff_discoverycall
    FOR EACH ROW EXECUTE FUNCTION handoff_check_bant_visible();
"""
PG_BACKWARD = """
DROP TRIGGER IF EXISTS handoff_discoverycall_bant_visible ON handoff_discoverycall;
DROP FUNCTION IF EXISTS handoff_check_bant_visible();
"""
_SQLITE_CHECK = f"""
FOR EACH ROW
WHEN NEW.outcome = 'qualified' AND ({" OR ".join(f"NEW.{field} NOT GLOB '{SQLITE_VISIBLE}'" for field, _ in FIELDS)})
BEGIN
    SELECT RAISE(ABORT, 'a qualified discovery call needs BANT answers in words, not only invisible characters');
END;
"""
SQLITE_FORWARD = [
    "CREATE TRIGGER handoff_discoverycall_bant_visible_insert BEFORE INSERT ON handoff_discoverycall" + _SQLITE_CHECK,
    "CREATE TRIGGER handoff_discoverycall_bant_visible_update BEFORE UPDATE ON handoff_discoverycall" + _SQLITE_CHECK,
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS handoff_discoverycall_bant_visible_insert",
    "DROP TRIGGER IF EXISTS handoff_discoverycall_bant_visible_update",
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
    dependencies = [("handoff", "0010_opportunity_requalification")]

    operations = [migrations.RunPython(forward, backward)]
