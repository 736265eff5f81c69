"""Django's SQLite backend, with a flush that the append-only triggers let through.

Some rows are records that no one may delete, not even with raw SQL: the stage history
(leads migration 0015). PostgreSQL refuses those DELETEs with row triggers and still flushes,
because its flush is TRUNCATE, which row triggers do not see. SQLite has no TRUNCATE: Django's
flush (`manage.py flush`, and the teardown of every transactional test) is one `DELETE FROM` per
table, which the triggers would refuse.

So a trigger that refuses DELETE on SQLite does it only `WHEN NOT EXISTS (SELECT 1 FROM
crm_flush_marker)`, and this backend's flush writes the marker's one row before its first
DELETE and removes it after its last. `execute_sql_flush` runs the list in one transaction, so
no other connection ever sees the row, and a flush that fails rolls it back with the rest.
That is SQLite's TRUNCATE: the whole-database wipe passes, a DELETE of a single record does not.
The marker table is no model, so flush never empties it; before it exists (a database not yet
migrated that far) there is no such trigger either, and the flush is Django's own.

crm/settings/base.py picks this engine for SQLite URLs. With Django's plain SQLite engine,
flushing a migrated database fails on the first stage-history row: loudly, never silently.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.management.color import Style
from django.db.backends.sqlite3 import base, operations

FLUSH_MARKER_TABLE = "crm_flush_marker"


class DatabaseOperations(operations.DatabaseOperations):
    def sql_flush(
        self, style: Style, tables: Iterable[str], *, reset_sequences: bool = False, allow_cascade: bool = False
    ) -> list[str]:
        sql = super().sql_flush(style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
        if not sql or FLUSH_MARKER_TABLE not in self.connection.introspection.table_names():
            return sql
        marker = style.SQL_TABLE(self.quote_name(FLUSH_MARKER_TABLE))
        return [
            f"{style.SQL_KEYWORD('INSERT INTO')} {marker} ({style.SQL_FIELD('id')}) {style.SQL_KEYWORD('VALUES')} (1);",
            *sql,
            f"{style.SQL_KEYWORD('DELETE FROM')} {marker};",
        ]


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
