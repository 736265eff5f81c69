"""The one statement that stores a batch of ingested activities.

`activities_insert` writes every row in a single INSERT that skips the rows whose
(source_system, external_id) is already stored — `ON CONFLICT DO NOTHING` on the partial unique
constraint — and returns the ids of the rows it did write. That makes idempotence one round trip
and race-free: a concurrent request storing the same pair first makes ours skip the row (it is a
duplicate) instead of failing the whole batch with an IntegrityError.

The ORM cannot say that: `bulk_create(ignore_conflicts=True)` returns no ids. So this is SQL, of
fixed text: the rows travel as one JSON parameter which the database unpacks
(`jsonb_array_elements` on PostgreSQL, `json_each` on SQLite), never as text spliced into the
statement. One parameter also spares building 1,000 model instances and per-field adapters.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from django.db import connection


class ActivityRow(NamedTuple):
    lead_id: int
    type_code: str
    occurred_at: datetime
    properties_json: str  # the properties already encoded as JSON text
    source_system: str
    external_id: str


# Rows are inserted in input order (ORDER BY the position in the JSON array), so the ids given to
# rows without an external id rise in that order.
_POSTGRESQL = """
INSERT INTO leads_activity (lead_id, type_code, occurred_at, properties, source_system, external_id, created_at)
SELECT (r.item ->> 0)::bigint, r.item ->> 1, (r.item ->> 2)::timestamptz, (r.item ->> 3)::jsonb, r.item ->> 4,
       r.item ->> 5, %s
FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS r(item, n)
ORDER BY r.n
ON CONFLICT DO NOTHING
RETURNING id, source_system, external_id
"""

# `WHERE true` keeps SQLite from reading ON CONFLICT as a join constraint (see its upsert docs).
_SQLITE = """
INSERT INTO leads_activity (lead_id, type_code, occurred_at, properties, source_system, external_id, created_at)
SELECT json_extract(r.value, '$[0]'), json_extract(r.value, '$[1]'), json_extract(r.value, '$[2]'),
       json_extract(r.value, '$[3]'), json_extract(r.value, '$[4]'), json_extract(r.value, '$[5]'), %s
FROM json_each(%s) AS r
WHERE true
ORDER BY r.key
ON CONFLICT DO NOTHING
RETURNING id, source_system, external_id
"""


def activities_insert(rows: Sequence[ActivityRow], *, created_at: datetime) -> list[tuple[int, str, str]]:
    """Insert these activities in one statement, skipping the already stored (source, external id) pairs.

    Returns (id, source_system, external_id) of each row written, in no particular order. The
    rows must not repeat a non-empty (source_system, external_id) pair among themselves.
    """
    if not rows:
        return []
    ops = connection.ops
    # Timestamps travel as text: ISO 8601 with the offset for PostgreSQL to parse; for SQLite,
    # which stores text, exactly the text the ORM stores (UTC), so comparisons and sorting agree.
    if connection.vendor == "postgresql":
        sql, as_text = _POSTGRESQL, datetime.isoformat
    elif connection.vendor == "sqlite":
        sql, as_text = _SQLITE, ops.adapt_datetimefield_value
    else:  # pragma: no cover - Baton runs on PostgreSQL and SQLite
        raise NotImplementedError(f"activities_insert has no SQL for {connection.vendor}")
    payload = json.dumps(
        [
            (row.lead_id, row.type_code, as_text(row.occurred_at), row.properties_json, row.source_system,
             row.external_id)
            for row in rows
        ]
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(sql, [ops.adapt_datetimefield_value(created_at), payload])
        return [(int(pk), system, external_id) for pk, system, external_id in cursor.fetchall()]
