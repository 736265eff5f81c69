"""Two batches storing the same activity at once, with real threads on PostgreSQL.

SQLite serialises writers with one database lock, so these races only exist on PostgreSQL.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest
from django.db import connection, transaction

from leads import ingestion
from leads.lifecycle import Actor
from leads.models import Activity, ActivityType
from tests.factories import LeadFactory
from tests.threads import in_thread

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]
API = Actor.rule_named("API: test")


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("write races need PostgreSQL (run with DATABASE_URL=postgres://...)")


def item(n: int) -> dict[str, Any]:
    return {"email": "ada@analytical.io", "type": "page_view", "source_system": "hubspot", "external_id": f"evt-{n}"}


def test_a_batch_storing_an_activity_another_request_is_storing_answers_duplicate():
    lead = LeadFactory(email="ada@analytical.io")
    with transaction.atomic():  # the other request, not yet committed
        theirs = Activity.objects.create(
            lead=lead, type=ActivityType.objects.get(code="page_view"), source_system="hubspot", external_id="evt-1"
        )
        thread, outcome = in_thread(lambda: ingestion.activities_ingest(items=[item(1), item(2)], actor=API))
        deadline = time.monotonic() + 30
        with connection.cursor() as cursor:  # wait until our batch waits on their row
            while thread.is_alive() and time.monotonic() < deadline:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                )
                if cursor.fetchone()[0]:
                    break
                time.sleep(0.05)
    thread.join(timeout=30)

    assert "error" not in outcome, outcome
    first, second = outcome["result"]
    assert (first.status, first.activity_id) == ("duplicate", theirs.pk)
    assert second.status == "created"
    assert Activity.objects.count() == 2


def test_the_same_batch_sent_twice_at_once_is_stored_once():
    LeadFactory(email="ada@analytical.io")
    batch = [item(n) for n in range(300)]
    barrier = threading.Barrier(2)

    def send() -> list[ingestion.ItemResult]:
        barrier.wait()
        return ingestion.activities_ingest(items=batch, actor=API)

    runs = [in_thread(send) for _ in range(2)]
    for thread, _ in runs:
        thread.join(timeout=60)

    assert [outcome.get("error") for _, outcome in runs] == [None, None]
    answers = [outcome["result"] for _, outcome in runs]
    assert Counter(r.status for results in answers for r in results) == {"created": 300, "duplicate": 300}
    assert [r.activity_id for r in answers[0]] == [r.activity_id for r in answers[1]]
    assert Activity.objects.count() == 300
