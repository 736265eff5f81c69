"""Two batches storing the same activity at once, with real threads on PostgreSQL.

SQLite serialises writers with one database lock, so these races only exist on PostgreSQL.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.db import connection, connections, transaction
from rest_framework.test import APIClient

from leads import ingestion
from leads.lifecycle import Actor
from leads.models import Activity, ActivityType, Campaign, Company, Lead, StageTransition
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
                # Activity statistics are read once per transaction unless the snapshot is cleared.
                cursor.execute("SELECT pg_stat_clear_snapshot()")
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


# --- 50 overlapping batches through the endpoint ---------------------------------------------
#
# Each batch brings activities for the same new leads (same e-mails, at a handful of shared
# company domains and campaigns) and re-sends activities other batches send too (the same
# source system + external id), each in its own order. What the HTTP layer answers is the bar:
# nothing 500s, every item is acknowledged (created or duplicate), and the database holds each
# acknowledged activity exactly once, on the right lead.

BATCHES = 50
NEW_LEADS = 40  # at 8 company domains, 5 campaigns
SHARED_ACTIVITIES = 120  # each batch sends 30 of them
ACTIVITY_TYPES = ("page_view", "pricing_page_view", "content_download", "email_click", "webinar_attended")


def race(*actions: Callable[[], object], timeout: float = 45) -> list[object]:
    """Run the actions at the same moment, each on its own thread (and connection)."""
    barrier = threading.Barrier(len(actions))
    results: list[object] = [None] * len(actions)

    def run(index: int, action: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=timeout)
            results[index] = action()
        except Exception as exc:
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, a), daemon=True) for i, a in enumerate(actions)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(timeout=max(deadline - time.monotonic(), 0.1))
    assert not any(thread.is_alive() for thread in threads), "a batch did not finish in time"
    return results


def email_of(lead: int) -> str:
    return f"person{lead}@company{lead % 8}.example"


def shared_item(n: int) -> dict[str, Any]:
    """Shared activity n: always the same lead, type and utm, whichever batch sends it."""
    lead = n % NEW_LEADS
    return {
        "email": email_of(lead),
        "type": ACTIVITY_TYPES[n % len(ACTIVITY_TYPES)],
        "occurred_at": "2026-01-05T09:30:00Z",
        "source_system": "hubspot",
        "external_id": f"shared-{n}",
        "properties": {"url": f"/page/{n}"},
        "lead": {"first_name": f"P{lead}", "company_name": f"Company {lead % 8}"},
        "utm": {"utm_source": "linkedin", "utm_medium": "paid_social", "utm_campaign": f"abm-{lead % 5}"},
    }


def own_item(batch: int, n: int) -> dict[str, Any]:
    item = shared_item(batch + n)  # a shared lead, with an activity only this batch sends
    item["external_id"] = f"batch{batch}-{n}"
    return item


def post_all(batches: list[list[dict[str, Any]]], session: str) -> list[Any]:
    def post(body: list[dict[str, Any]]) -> Any:
        client = APIClient(raise_request_exception=False)  # a 500 is an answer, as a sender sees it
        client.cookies[settings.SESSION_COOKIE_NAME] = session
        return client.post("/api/v1/activities/", body, format="json")

    return race(*[lambda body=body: post(body) for body in batches])


def assert_every_acknowledged_activity_stored_once(batches: list[list[dict[str, Any]]], responses: list[Any]) -> None:
    errors = [r for r in responses if isinstance(r, Exception)]
    assert errors == []
    statuses = Counter(r.status_code for r in responses)
    refused = sum(len(body) for body, r in zip(batches, responses, strict=True) if r.status_code != 200)
    assert statuses == {200: len(batches)}, f"answers {dict(statuses)}; {refused} items refused"
    created: Counter[str] = Counter()
    leads_created: Counter[str] = Counter()
    answered: dict[str, int] = {}
    for body, response in zip(batches, responses, strict=True):
        results = response.json()["results"]
        assert [r["status"] for r in results if r["status"] not in ("created", "duplicate")] == []
        for sent, result in zip(body, results, strict=True):
            key = sent["external_id"]
            created[key] += result["status"] == "created"
            leads_created[sent["email"]] += result["lead_created"]
            # Every answer for one key names the one stored activity.
            assert answered.setdefault(key, result["activity_id"]) == result["activity_id"]
    sent_keys = {sent["external_id"] for body in batches for sent in body}
    assert set(created) == sent_keys
    assert [key for key, n in created.items() if n != 1] == []  # created once, duplicate elsewhere
    assert Activity.objects.count() == len(sent_keys)
    stored = {
        a.external_id: (a.pk, a.lead.email, a.type_id, a.source_system) for a in Activity.objects.select_related("lead")
    }
    expected = {sent["external_id"]: sent for body in batches for sent in body}
    for key, (pk, email, type_code, system) in stored.items():
        assert (pk, email, type_code, system) == (
            answered[key],
            expected[key]["email"],
            expected[key]["type"],
            "hubspot",
        ), key
    emails = {sent["email"] for body in batches for sent in body}
    assert sorted(Lead.objects.values_list("email", flat=True)) == sorted(emails)
    assert leads_created == dict.fromkeys(emails, 1)  # each new lead answered created exactly once
    created_history = Counter(StageTransition.objects.filter(reason="Created").values_list("lead__email", flat=True))
    assert created_history == dict.fromkeys(emails, 1)
    assert Company.objects.count() == 8
    assert Campaign.objects.count() == 5
    for lead in Lead.objects.select_related("company", "campaign"):
        n = int(lead.email.removeprefix("person").split("@")[0])
        assert (lead.company.domain, lead.campaign.slug) == (f"company{n % 8}.example", f"abm-{n % 5}")


@pytest.fixture
def session(marketer) -> str:
    """A signed-in marketer's session, which every thread's client sends."""
    client = APIClient()
    client.force_login(marketer)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def no_retries(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Retries logged by the ingestion: none, as batches take their keys in one order (the retry is
    for deadlocks with other kinds of writes; it must not be what makes these tests pass)."""
    return [r.getMessage() for r in caplog.records if r.name == "leads.ingestion"]


def test_fifty_overlapping_batches_answer_every_item_and_store_each_activity_once(session, caplog):
    rng = random.Random(14)
    batches = []
    for _ in range(BATCHES):
        body = [shared_item(n) for n in rng.sample(range(SHARED_ACTIVITIES), 30)]
        rng.shuffle(body)
        batches.append(body)

    started = time.monotonic()
    responses = post_all(batches, session)

    assert time.monotonic() - started < 45
    assert_every_acknowledged_activity_stored_once(batches, responses)
    assert no_retries(caplog) == []


def test_fifty_overlapping_batches_with_activities_of_their_own_lose_none(session, caplog):
    rng = random.Random(1014)
    batches = []
    for b in range(BATCHES):
        body = [shared_item(n) for n in rng.sample(range(SHARED_ACTIVITIES), 10)]
        body += [own_item(b, n) for n in range(20)]
        rng.shuffle(body)
        batches.append(body)

    responses = post_all(batches, session)

    assert_every_acknowledged_activity_stored_once(batches, responses)
    assert Activity.objects.filter(external_id__startswith="batch").count() == BATCHES * 20
    assert no_retries(caplog) == []


def test_a_batch_re_sent_while_the_first_attempt_runs_is_answered_duplicate(session, caplog):
    """The sender that retries: the same 50 batches again, racing the first attempts."""
    rng = random.Random(2014)
    batches = []
    for b in range(BATCHES // 2):
        body = [shared_item(n) for n in rng.sample(range(SHARED_ACTIVITIES), 10)]
        body += [own_item(b, n) for n in range(10)]
        rng.shuffle(body)
        batches += [body, list(reversed(body))]

    responses = post_all(batches, session)

    assert_every_acknowledged_activity_stored_once(batches, responses)
    assert no_retries(caplog) == []


# --- A deadlock victim is run again -----------------------------------------------------------


def wait_until_another_connection_waits_on_a_lock(cursor: Any, *, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # statistics are otherwise read once per transaction
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        if cursor.fetchone()[0]:
            return
        time.sleep(0.01)
    raise AssertionError("nobody waited on a lock")


def test_a_batch_the_database_rolls_back_as_a_deadlock_victim_is_run_again(caplog):
    """Another kind of write can still close a circle with a batch (here a request that stores an
    activity, then creates the lead the batch is creating): the batch, chosen as the victim, is
    rolled back and run again, and answers every item as if it had come second."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if not cursor.fetchone()[0]:
            pytest.skip("choosing the deadlock victim (deadlock_timeout) needs a superuser")
    known = LeadFactory(email="known@acme.io")
    ready = threading.Event()

    def other_request() -> tuple[int, int]:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL deadlock_timeout = '10s'")  # the batch's check comes first: it is the victim
            theirs = Activity.objects.create(
                lead=known, type=ActivityType.objects.get(code="page_view"), source_system="hubspot",
                external_id="evt-2",
            )  # fmt: skip
            ready.set()
            wait_until_another_connection_waits_on_a_lock(cursor)  # the batch, on evt-2
            lead = LeadFactory(email="new@newco.io")  # waits on the batch's uncommitted lead: a circle
        return theirs.pk, lead.pk

    thread, outcome = in_thread(other_request)
    assert ready.wait(timeout=20)
    batch = [
        {"email": "new@newco.io", "type": "page_view", "source_system": "hubspot", "external_id": "evt-1"},
        {"email": "known@acme.io", "type": "page_view", "source_system": "hubspot", "external_id": "evt-2"},
    ]
    with connection.cursor() as cursor:
        cursor.execute("SET deadlock_timeout = '200ms'")
    try:
        results = ingestion.activities_ingest(items=batch, actor=API)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET deadlock_timeout")
        thread.join(timeout=30)

    assert "error" not in outcome, outcome
    their_activity, their_lead = outcome["result"]
    assert [(r.status, r.lead_id, r.lead_created) for r in results] == [
        ("created", their_lead, False),
        ("duplicate", known.pk, False),
    ]
    assert results[1].activity_id == their_activity
    assert Activity.objects.get(pk=results[0].activity_id).lead_id == their_lead
    assert Activity.objects.count() == 2
    assert any("deadlock detected" in r.getMessage() for r in caplog.records if r.name == "leads.ingestion")
