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

Concurrent batches never deadlock here because every writer takes its unique keys in one order:
the rows with an external id are inserted sorted by (source_system, external_id), so two batches
sharing keys wait for each other in the same order instead of each holding what the other needs.
`insert_skipping_conflicts` is the same idea for ORM rows (leads by email): `INSERT … ON CONFLICT
DO NOTHING RETURNING`, which tells the rows this statement wrote from those a concurrent request
wrote first.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from operator import attrgetter
from typing import Any, NamedTuple

from django.db import connection, models
from django.db.models.constants import OnConflict


class ActivityRow(NamedTuple):
    lead_id: int
    type_code: str
    occurred_at: datetime
    properties_json: str  # the properties already encoded as JSON text
    source_system: str
    external_id: str


_KEY = attrgetter("source_system", "external_id")


# Rows are inserted in the order given (ORDER BY the position in the JSON array): `activities_insert`
# puts the rows with an external id first, in key order, then the others in input order, so the ids
# given to rows without an external id rise in input order.
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

    Returns (id, source_system, external_id) of each row written, in no particular order; the ids
    of the rows without an external id rise in their input order. The rows must not repeat a
    non-empty (source_system, external_id) pair among themselves.
    """
    if not rows:
        return []
    # The lock order (see the module docstring); sorted() is stable, so the rest keep input order.
    rows = sorted((row for row in rows if row.external_id), key=_KEY) + [row for row in rows if not row.external_id]
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


def insert_skipping_conflicts(objs: Sequence[models.Model], *, returning: Sequence[str]) -> list[tuple[Any, ...]]:
    """`INSERT … ON CONFLICT DO NOTHING RETURNING <returning>` of these new model instances.

    Returns the `returning` fields of the rows this statement wrote, skipping (and not failing
    on) those that would break a unique constraint, such as a lead whose email a concurrent
    request stored first. Pass the objects sorted by their unique key: that is the lock order.

    `bulk_create(ignore_conflicts=True)` builds the same statement but returns nothing, and
    without knowing which rows were ours the creation history cannot be written; so this calls
    the queryset's `_insert`, the step `bulk_create` itself ends in, with the defaults and
    batching it prepares (SQLite takes at most 999 parameters a statement). On SQLite the
    statement reads `INSERT OR IGNORE`, which skips rows breaking any constraint, not only
    unique ones: callers treat a row missing from both the answer and a re-read as not stored.
    """
    if not objs:
        return []
    model = type(objs[0])
    queryset = model._base_manager.all()
    opts = model._meta
    objs = list(objs)
    queryset._prepare_for_bulk_create(objs)
    fields = [f for f in opts.concrete_fields if not f.generated and not isinstance(f, models.AutoField)]
    returning_fields = [opts.get_field(name) for name in returning]
    size = max(connection.ops.bulk_batch_size(fields, objs), 1)
    written: list[tuple[Any, ...]] = []
    for start in range(0, len(objs), size):
        rows = queryset._insert(
            objs[start : start + size], fields=fields, returning_fields=returning_fields, on_conflict=OnConflict.IGNORE
        )
        # A single skipped row comes back as None (one row is fetched with fetchone()).
        written.extend(tuple(row) for row in rows if row is not None)
    return written
