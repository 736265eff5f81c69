"""The database rules other apps install on shared tables survive every later migration.

SQLite alters a column by rebuilding its table, which silently drops the table's triggers; a
migration that did that to `leads_lead` would quietly switch off the qualifying-call rule.
"""

from __future__ import annotations

import pytest
from django.db import connection

EXPECTED = {
    "leads_stagetransition": {"leads_stagetransition_immutable"},
    "leads_lead": {"handoff_lead_qualifying_call"},
    "handoff_discoverycall": {"handoff_discoverycall_immutable", "handoff_discoverycall_bant_visible"},
}


def _triggers() -> dict[str, set[str]]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                           "WHERE NOT t.tgisinternal")  # fmt: skip
        else:
            cursor.execute("SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'")
        found: dict[str, set[str]] = {}
        for table, name in cursor.fetchall():
            found.setdefault(table, set()).add(name)
    return found


@pytest.mark.django_db
def test_every_rule_trigger_is_installed_after_migrating():
    found = _triggers()
    for table, expected in EXPECTED.items():
        for prefix in expected:
            # SQLite has one trigger per event where PostgreSQL has one for several (name_insert, …).
            assert any(name.startswith(prefix) for name in found.get(table, set())), (table, prefix, found)
