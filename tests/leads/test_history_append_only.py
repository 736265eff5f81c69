"""Stage history is append-only in the database itself, on SQLite as on PostgreSQL.

The ORM refuses edits and deletes (tests/leads/test_services.py); these tests go around it with
raw SQL, so the triggers of migrations 0002 and 0015 must refuse on whichever database the suite
runs. Only re-pointing history to another lead (merging duplicates) and the whole-database wipe
(flush: TRUNCATE on PostgreSQL, crm.db.sqlite3's marked DELETEs on SQLite) get through.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import IntegrityError, ProgrammingError, connection, transaction

from leads.lifecycle import Stage
from leads.models import Lead, StageTransition
from tests.factories import LeadFactory, lead_at_stage

# SQLite's RAISE(ABORT) is a constraint error; PL/pgSQL's RAISE EXCEPTION (SQLSTATE P0001) is a
# ProgrammingError to psycopg. Both are DatabaseErrors; the tests expect the one their database raises.
REFUSED = IntegrityError if connection.vendor == "sqlite" else ProgrammingError
EDIT_REFUSED = r"Stage history is immutable: transitions? .*cannot be edited"
DELETE_REFUSED = r"Stage history is immutable: transitions? .*cannot be deleted"


def _execute(sql: str, params: list[object]) -> int:
    """Run one raw statement in its own savepoint (a refusal leaves the test's transaction usable)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _row(transition: StageTransition) -> tuple[object, ...]:
    transition.refresh_from_db()
    return (transition.lead_id, transition.from_stage, transition.to_stage, transition.at, transition.reason)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("column", "new_value"),
    [
        ("from_stage", lambda _: Stage.RECYCLED.value),
        ("to_stage", lambda _: Stage.CUSTOMER.value),
        ("at", lambda t: connection.ops.adapt_datetimefield_value(t.at - timedelta(days=3))),
        ("reason", lambda _: "rewritten after the fact"),
    ],
    ids=["from_stage", "to_stage", "at", "reason"],
)
def test_raw_update_of_a_transition_is_refused(column, new_value):
    transition = lead_at_stage(Stage.MQL).transitions.latest()
    before = _row(transition)

    with pytest.raises(REFUSED, match=EDIT_REFUSED):
        _execute(
            f"UPDATE leads_stagetransition SET {column} = %s WHERE id = %s",  # noqa: S608 (column from the list above)
            [new_value(transition), transition.pk],
        )

    assert _row(transition) == before


@pytest.mark.django_db
def test_raw_delete_of_a_transition_is_refused():
    """Before migration 0015, SQLite let this through: its trigger refused only UPDATE."""
    lead = lead_at_stage(Stage.MQL)
    transition = lead.transitions.latest()

    with pytest.raises(REFUSED, match=DELETE_REFUSED):
        _execute("DELETE FROM leads_stagetransition WHERE id = %s", [transition.pk])

    assert StageTransition.objects.filter(pk=transition.pk).exists()


@pytest.mark.django_db
def test_raw_delete_of_the_whole_history_is_refused_outside_a_flush():
    leads = [LeadFactory(), lead_at_stage(Stage.MQL)]
    count = StageTransition.objects.count()

    with pytest.raises(REFUSED, match=DELETE_REFUSED):
        _execute("DELETE FROM leads_stagetransition", [])

    assert StageTransition.objects.count() == count
    assert StageTransition.objects.filter(lead__in=leads).count() == 3


@pytest.mark.django_db
def test_re_pointing_history_to_another_lead_is_allowed_as_merging_duplicates_needs():
    survivor, duplicate = LeadFactory(), lead_at_stage(Stage.MQL)
    moved = list(duplicate.transitions.values_list("pk", flat=True))

    assert _execute(
        "UPDATE leads_stagetransition SET lead_id = %s WHERE lead_id = %s", [survivor.pk, duplicate.pk]
    ) == len(moved)

    assert set(survivor.transitions.values_list("pk", flat=True)) >= set(moved)
    assert not duplicate.transitions.exists()


@pytest.mark.django_db
def test_re_pointing_cannot_smuggle_in_an_edit():
    survivor, duplicate = LeadFactory(), LeadFactory()
    transition = duplicate.transitions.get()
    before = _row(transition)

    with pytest.raises(REFUSED, match=EDIT_REFUSED):
        _execute(
            "UPDATE leads_stagetransition SET lead_id = %s, reason = %s WHERE id = %s",
            [survivor.pk, "moved and rewritten", transition.pk],
        )

    assert _row(transition) == before


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_flush_still_empties_the_history_and_leaves_the_delete_trigger_armed():
    """Flush is the one whole-database wipe: TRUNCATE on PostgreSQL, marked DELETEs on SQLite.

    Serialized rollback puts back the rows migrations create (activity types, the default
    scoring model, roles) for the transactional tests that follow.
    """
    lead_at_stage(Stage.MQL)
    assert StageTransition.objects.exists()

    # As the test framework flushes: keeping the sequences where they are, so the rows serialized
    # rollback restores (with their ids) never meet a reused id in the tests that follow.
    call_command("flush", interactive=False, verbosity=0, reset_sequences=False)

    assert not StageTransition.objects.exists()
    assert not Lead.objects.exists()
    transition = LeadFactory().transitions.get()
    with pytest.raises(REFUSED, match=DELETE_REFUSED):
        _execute("DELETE FROM leads_stagetransition WHERE id = %s", [transition.pk])
    assert StageTransition.objects.filter(pk=transition.pk).exists()
