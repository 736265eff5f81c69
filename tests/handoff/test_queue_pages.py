"""The MQL queue as a marketer uses it: who may see it, what a row shows, filters and sorts in
the URL, keyset pages, the header, and single and bulk actions with their messages."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from handoff import services
from handoff.forms_queue import QueueFilter
from handoff.models import Assignment, QueueAction, QueueReview, RejectionReason, Team, TeamMembership
from handoff.selectors import queue as selectors
from handoff.views.queue import QueueView
from leads import scoring
from leads import services as lead_services
from leads.lifecycle import Actor, Stage
from leads.models import Activity, ActivityType, Channel, CompanySize, Lead, ScoringModel, StageTransition
from tests.factories import ActivityFactory, CampaignFactory, CompanyFactory, LeadFactory, lead_at_stage

pytestmark = pytest.mark.django_db

QUEUE_URL = "/queue/"
ACTION_URL = "/queue/act/"
RULE = Actor.rule_named("test walk")


def queued(hours_ago: float = 1, **kwargs) -> Lead:  # type: ignore[no-untyped-def]
    """A lead that became an MQL `hours_ago` hours ago (through the lifecycle service)."""
    lead = LeadFactory(**kwargs)
    return lead_services.lead_transition(
        lead_id=lead.pk, to=Stage.MQL, actor=RULE, at=timezone.now() - timedelta(hours=hours_ago)
    )


def listed(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [row.lead.email for row in response.context["rows"]]


def messages_of(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [unescape(re.sub(r"<[^>]+>", " ", str(message))) for message in get_messages(response.wsgi_request)]


def text_of(response) -> str:  # type: ignore[no-untyped-def]
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


# --- access -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "url"), [("get", QUEUE_URL), ("get", ACTION_URL), ("post", ACTION_URL)])
def test_anonymous_visitors_are_sent_to_sign_in(client, method, url):
    lead = queued()
    response = getattr(client, method)(url, {"action": "hand_off", "lead": lead.pk})
    assert response.status_code == 302
    assert response["Location"].startswith(f"{reverse('login')}?next=")
    assert not Assignment.objects.exists()


@pytest.mark.parametrize("who", ["sdr", "no_role_user"])
def test_sdrs_and_people_without_a_role_are_refused(client, request, who):
    lead = queued()
    client.force_login(request.getfixturevalue(who))

    assert client.get(QUEUE_URL).status_code == 403
    assert client.get(ACTION_URL, {"action": "nurture", "lead": lead.pk}).status_code == 403
    refused = client.post(ACTION_URL, {"action": "disqualify", "lead": lead.pk, "reason": "student"})
    assert refused.status_code == 403
    assert Lead.objects.get(pk=lead.pk).stage == Stage.MQL


@pytest.mark.parametrize("who", ["marketer", "manager"])
def test_marketers_and_managers_review_the_queue(client, request, who):
    lead = queued(first_name="Ada", last_name="Lovelace")
    client.force_login(request.getfixturevalue(who))

    response = client.get(reverse("handoff:queue"))

    assert response.status_code == 200
    assert listed(response) == [lead.email]
    text = text_of(response)
    assert "MQL queue" in text
    assert "Ada Lovelace" in text
    assert "data-queue-bulkbar" in response.content.decode()


def test_the_page_has_no_inline_scripts(client, marketer):
    queued()
    client.force_login(marketer)
    html = client.get(QUEUE_URL).content.decode()
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag
    assert "/static/js/queue.js" in html
    assert " onclick=" not in html
    assert " style=" not in html


# --- what is listed, and what a row shows ------------------------------------------------------


def test_only_mqls_nobody_holds_yet_are_listed(client, marketer, team):
    waiting = queued()
    handed_off = queued()
    services.lead_hand_off(lead_id=handed_off.pk, user=marketer)
    LeadFactory()  # still a lead
    lead_at_stage(Stage.SAL)
    lead_at_stage(Stage.RECYCLED)
    client.force_login(marketer)

    assert listed(client.get(QUEUE_URL)) == [waiting.email]


def test_a_lead_rejected_by_sales_and_requalified_is_back_in_the_queue(client, marketer, reps):
    lead = queued(hours_ago=30)
    services.lead_hand_off(lead_id=lead.pk, user=marketer)
    rep = Assignment.objects.get(lead=lead).rep
    services.lead_reject(lead_id=lead.pk, user=rep, to=Stage.RECYCLED, reason_code="bad_timing")
    lead_services.lead_transition(lead_id=lead.pk, to=Stage.MQL, actor=RULE, at=timezone.now() - timedelta(hours=2))
    client.force_login(marketer)

    response = client.get(QUEUE_URL)

    assert listed(response) == [lead.email]
    # The wait counts from the latest move into the queue, not the first.
    assert timedelta(hours=2) <= response.context["rows"][0].wait < timedelta(hours=2, minutes=5)


def test_a_row_shows_person_company_role_scores_source_campaign_topics_and_wait(client, marketer):
    company = CompanyFactory(name="Analytical Engines", size=CompanySize.S_5000_PLUS)
    campaign = CampaignFactory(name="Q3 Pipeline Webinar")
    lead = queued(
        hours_ago=50,
        first_name="Ada",
        last_name="Lovelace",
        email="ada@analytical.example",
        job_title="VP Engineering",
        company=company,
        source_channel=Channel.WEBINAR,
        campaign=campaign,
    )
    Lead.objects.filter(pk=lead.pk).update(fit_score=42, engagement_score=17, hot_signal_at=timezone.now())
    download = ActivityType.objects.get(code="content_download")
    for topic in ("lead routing", "lead routing", "sla design", "pricing"):
        ActivityFactory(lead=lead, type=download, properties={"topic": topic})
    ActivityFactory(lead=lead)  # no topic
    client.force_login(marketer)

    response = client.get(QUEUE_URL)

    text = text_of(response)
    for expected in (
        "Ada Lovelace",
        "ada@analytical.example",
        "Analytical Engines",
        "Enterprise",
        "VP Engineering",
        "42",
        "17",
        "Webinar",
        "Q3 Pipeline Webinar",
        "Hot",
        "2d 2h",
    ):
        assert expected in text, expected
    row = response.context["rows"][0]
    assert row.topics == ["lead routing", "pricing", "sla design"]  # most frequent first
    assert "lead routing · pricing · sla design" in text
    assert row.wait_tone == "warn"


def test_the_explanation_lists_each_contribution_and_adds_up_to_the_scores(client, marketer):
    lead = queued()
    explanation = [
        {"kind": "fit", "rule": 1, "label": "Title is VP or above", "points": 25},
        {"kind": "fit", "rule": 2, "label": "Free-mail address", "points": -10},
        {"kind": "engagement", "rule": 3, "label": "Demo request", "points": 30},
        {"kind": "engagement", "rule": 4, "label": "Pricing page view", "points": 8},
    ]
    Lead.objects.filter(pk=lead.pk).update(fit_score=15, engagement_score=38, score_explanation=explanation)
    client.force_login(marketer)

    response = client.get(QUEUE_URL)

    row = response.context["rows"][0]
    assert [(p.label, p.points) for p in row.fit.parts] == [("Title is VP or above", 25), ("Free-mail address", -10)]
    assert row.fit.total == 15
    assert row.fit.adds_up
    assert row.engagement.total == 38
    assert row.engagement.adds_up
    text = text_of(response)
    assert "Title is VP or above +25" in text
    assert "Free-mail address −10" in text
    assert "Demo request +30" in text
    assert "Fit score · 15" in text
    assert "Engagement score · 38" in text
    assert f'id="why-{lead.pk}"' in response.content.decode()
    assert "does not add up" not in text


def test_a_breakdown_that_does_not_add_up_says_so(client, marketer):
    lead = queued()
    Lead.objects.filter(pk=lead.pk).update(
        fit_score=50, score_explanation=[{"kind": "fit", "rule": 1, "label": "Old rule", "points": 20}]
    )
    client.force_login(marketer)
    assert "The recorded breakdown does not add up to 50" in text_of(client.get(QUEUE_URL))


def test_real_scoring_explanations_add_up_on_the_queue(client, marketer):
    lead = queued(job_title="Chief Revenue Officer")
    for code in ("demo_request", "pricing_page_view", "webinar_attended"):
        ActivityFactory(lead=lead, type=ActivityType.objects.get(code=code), properties={})
    model = ScoringModel.objects.get(status="active")
    scoring.rescore(scoring.ScoringSpec.load(model), scoring.LeadSet.of([lead.pk]), as_of=timezone.now())
    client.force_login(marketer)

    row = client.get(QUEUE_URL).context["rows"][0]

    assert row.fit.parts or row.engagement.parts
    assert row.fit.adds_up
    assert row.engagement.adds_up
    assert row.engagement.score > 0


# --- filters ----------------------------------------------------------------------------------


def test_channel_filter_takes_several_channels(client, marketer):
    webinar = queued(source_channel=Channel.WEBINAR)
    event = queued(source_channel=Channel.EVENT)
    queued(source_channel=Channel.PAID_SEARCH)
    client.force_login(marketer)

    response = client.get(QUEUE_URL, {"source_channel": ["webinar", "event"]})

    assert sorted(listed(response)) == sorted([webinar.email, event.email])
    assert "Source: Webinar" in text_of(response)
    assert "Source: Events" in text_of(response)


def test_campaign_segment_and_score_range_filters(client, marketer):
    campaign = CampaignFactory()
    small = CompanyFactory(size=CompanySize.S_1_10)
    big = CompanyFactory(size=CompanySize.S_5000_PLUS)
    in_campaign = queued(campaign=campaign, company=small, fit_score=10, engagement_score=80)
    enterprise = queued(company=big, fit_score=70, engagement_score=20)
    middle = queued(fit_score=40, engagement_score=50)
    client.force_login(marketer)

    assert listed(client.get(QUEUE_URL, {"campaign": campaign.pk})) == [in_campaign.email]
    assert listed(client.get(QUEUE_URL, {"segment": "enterprise"})) == [enterprise.email]
    assert listed(client.get(QUEUE_URL, {"segment": "smb"})) == [in_campaign.email]
    assert listed(client.get(QUEUE_URL, {"fit_min": 30, "fit_max": 60})) == [middle.email]
    assert listed(client.get(QUEUE_URL, {"engagement_min": 45})) == [in_campaign.email, middle.email]
    assert listed(client.get(QUEUE_URL, {"engagement_max": 45})) == [enterprise.email]
    text = text_of(client.get(QUEUE_URL, {"fit_min": 30, "segment": "enterprise"}))
    assert "Fit ≥ 30" in text
    assert "Segment: Enterprise" in text


def test_age_filter_keeps_leads_waiting_longer_than_the_given_time(client, marketer):
    fresh = queued(hours_ago=0.5)
    day_old = queued(hours_ago=26)
    week_old = queued(hours_ago=24 * 8)
    client.force_login(marketer)

    assert listed(client.get(QUEUE_URL, {"waiting": "4h"})) == [week_old.email, day_old.email]
    assert listed(client.get(QUEUE_URL, {"waiting": "7d"})) == [week_old.email]
    response = client.get(QUEUE_URL, {"waiting": "2d"})
    assert listed(response) == [week_old.email]
    assert "Waiting > 2 days" in text_of(response)
    assert fresh.email not in listed(client.get(QUEUE_URL, {"waiting": "1h"}))


def test_hot_only(client, marketer):
    hot = queued()
    queued()
    Lead.objects.filter(pk=hot.pk).update(hot_signal_at=timezone.now())
    client.force_login(marketer)

    response = client.get(QUEUE_URL, {"hot": "1"})

    assert listed(response) == [hot.email]
    assert "Hot only" in text_of(response)
    assert 'id="f-hot" autocomplete="off" data-autosubmit checked' in response.content.decode()


def test_search_finds_by_name_email_or_company(client, marketer):
    ada = queued(first_name="Ada", last_name="Lovelace", company=CompanyFactory(name="Analytical Engines"))
    queued(first_name="Grace", last_name="Hopper")
    client.force_login(marketer)
    assert listed(client.get(QUEUE_URL, {"q": "Lovelace"})) == [ada.email]
    assert listed(client.get(QUEUE_URL, {"q": "analytical"})) == [ada.email]


def test_a_bad_filter_value_is_shown_next_to_its_filter(client, marketer):
    queued()
    client.force_login(marketer)

    response = client.get(QUEUE_URL, {"waiting": "soon", "fit_min": "lots"})

    assert response.status_code == 200
    text = text_of(response)
    assert "Enter a wait such as 4h (hours) or 2d (days)." in text
    assert "Minimum: Enter a number." in text
    assert "Fix the highlighted fields" in text
    assert response.context["page"] is None


def test_no_match_offers_to_clear_the_filters(client, marketer):
    queued(fit_score=10)
    client.force_login(marketer)
    assert "No MQLs match these filters" in text_of(client.get(QUEUE_URL, {"fit_min": 90}))


def test_an_empty_queue_says_so(client, marketer):
    client.force_login(marketer)
    text = text_of(client.get(QUEUE_URL))
    assert "The queue is empty" in text


# --- sorts and pages --------------------------------------------------------------------------


def test_oldest_in_queue_first_by_default_and_the_other_sorts(client, marketer):
    old = queued(hours_ago=30, fit_score=10, engagement_score=90)
    new = queued(hours_ago=1, fit_score=50, engagement_score=10)
    mid = queued(hours_ago=5, fit_score=90, engagement_score=40)
    client.force_login(marketer)

    assert listed(client.get(QUEUE_URL)) == [old.email, mid.email, new.email]
    assert listed(client.get(QUEUE_URL, {"sort": "newest"})) == [new.email, mid.email, old.email]
    assert listed(client.get(QUEUE_URL, {"sort": "fit"})) == [mid.email, new.email, old.email]
    assert listed(client.get(QUEUE_URL, {"sort": "engagement"})) == [old.email, mid.email, new.email]
    assert listed(client.get(QUEUE_URL, {"sort": "bogus"})) == [old.email, mid.email, new.email]


@pytest.mark.parametrize("sort", ["oldest", "newest", "fit"])
def test_next_and_previous_pages_keep_sort_and_filters(client, marketer, monkeypatch, sort):
    monkeypatch.setattr(QueueView, "per_page", 2)
    leads = [queued(hours_ago=hours, fit_score=10 * hours) for hours in (1, 2, 3, 4, 5)]
    queued(hours_ago=6, fit_score=1)  # filtered out by fit_min
    orderings = {
        "oldest": sorted(leads, key=lambda lead: -lead.fit_score),  # older = higher fit here
        "newest": sorted(leads, key=lambda lead: lead.fit_score),
        "fit": sorted(leads, key=lambda lead: -lead.fit_score),
    }
    expected = [lead.email for lead in orderings[sort]]
    for lead in leads:
        lead.refresh_from_db()
    client.force_login(marketer)

    first = client.get(QUEUE_URL, {"sort": sort, "fit_min": 5})
    assert listed(first) == expected[:2]
    assert "Showing 1–2 of 5 leads" in text_of(first)
    html = first.content.decode()
    next_link = unescape(re.search(r'rel="next" href="([^"]+)"', html).group(1))
    assert f"sort={sort}" in next_link
    assert "fit_min=5" in next_link

    second = client.get(QUEUE_URL + next_link)
    assert listed(second) == expected[2:4]
    assert "Showing 3–4 of 5 leads" in text_of(second)
    third_link = unescape(re.search(r'rel="next" href="([^"]+)"', second.content.decode()).group(1))
    third = client.get(QUEUE_URL + third_link)
    assert listed(third) == expected[4:]
    previous_link = unescape(re.search(r'rel="prev" href="([^"]+)"', third.content.decode()).group(1))
    assert listed(client.get(QUEUE_URL + previous_link)) == expected[2:4]


def test_a_bad_cursor_says_so(client, marketer):
    queued()
    client.force_login(marketer)
    response = client.get(QUEUE_URL, {"cursor": "nonsense"})
    assert "The page cursor is invalid or out of date" in text_of(response)


def _fill_queue(count: int) -> None:
    campaign = CampaignFactory()
    download = ActivityType.objects.get(code="content_download")
    for index in range(count):
        lead = queued(hours_ago=index + 1, campaign=campaign)
        ActivityFactory(lead=lead, type=download, properties={"topic": f"topic {index % 3}"})


@pytest.mark.parametrize("count", [3, 20])
def test_the_queue_runs_a_fixed_number_of_queries(client, marketer, count, django_assert_num_queries):
    _fill_queue(count)
    Team.objects.create(name="Inbound")
    QueueReview.objects.create(
        lead=LeadFactory(), action=QueueAction.NURTURE, reviewer=marketer, mql_at=timezone.now() - timedelta(hours=2)
    )
    client.force_login(marketer)

    # user, permissions, roles for the menu, unread notifications; header: waiting
    # count with the oldest wait, the overdue reviews, review count + the middle review; page
    # rows (with their review due times, failed hand-offs and nurture returns), their topics, the
    # routing rules that would take them; teams, reasons, campaign choices for the filter form.
    with django_assert_num_queries(14):
        response = client.get(QUEUE_URL)
    assert len(listed(response)) == count


@pytest.mark.parametrize("count", [3, 20])
def test_a_filtered_queue_adds_only_its_own_count_and_lookups(client, marketer, count, django_assert_num_queries):
    _fill_queue(count)
    campaign = Lead.objects.first().campaign
    client.force_login(marketer)

    with django_assert_num_queries(15):  # + the filtered count, + validating the campaign id
        response = client.get(QUEUE_URL, {"campaign": campaign.pk, "sort": "fit", "source_channel": "organic_search"})
    assert len(listed(response)) == count


# --- the header: waiting, oldest wait, marketing review time ------------------------------------


def test_the_header_shows_waiting_oldest_and_review_time(client, marketer, team):
    queued(hours_ago=3)
    queued(hours_ago=50)
    for hours in (1, 3, 8):  # waits of the decisions: median 3 hours
        services.lead_hand_off(lead_id=queued(hours_ago=hours).pk, user=marketer)
    client.force_login(marketer)

    response = client.get(QUEUE_URL)

    summary = response.context["summary"]
    assert summary.waiting == 2
    assert summary.review_time.reviews == 3
    assert timedelta(hours=3) <= summary.review_time.median < timedelta(hours=3, minutes=5)
    stats = squash(text_of(response).split("Search by")[0])
    assert "Waiting 2 leads in the queue" in stats
    assert "Oldest wait 2d 2h" in stats
    assert "Review time 3h" in stats
    assert "median wait over 3 decisions, last 7 days" in stats


def test_past_the_cap_the_queue_says_how_many_at_least_and_still_finds_the_oldest(client, marketer, monkeypatch):
    monkeypatch.setattr(selectors, "QUEUE_COUNT_CAP", 2)
    oldest = queued(hours_ago=30)
    for hours in (1, 2):
        queued(hours_ago=hours)
    client.force_login(marketer)

    stats = squash(text_of(response := client.get(QUEUE_URL)).split("Search by")[0])
    assert "Waiting 2+ leads in the queue" in stats
    assert "Oldest wait 1d 6h" in stats
    assert listed(response)[0] == oldest.email
    assert "of 2+ leads" in squash(text_of(client.get(QUEUE_URL, {"fit_min": "0"})))  # filtered: the same cap


def test_review_time_is_the_median_of_the_last_seven_days(marketer):
    now = timezone.now()
    lead = LeadFactory()

    def review(wait_hours: float, days_ago: float) -> None:
        reviewed = now - timedelta(days=days_ago)
        QueueReview.objects.create(
            lead=lead, action=QueueAction.HANDED_OFF, reviewer=marketer,
            mql_at=reviewed - timedelta(hours=wait_hours), reviewed_at=reviewed,
        )  # fmt: skip

    assert selectors.queue_review_time(now=now).median is None
    review(1, 1)
    review(4, 2)
    review(100, 9)  # too old to count
    assert selectors.queue_review_time(now=now).median == timedelta(hours=2, minutes=30)  # even: the mean of 1h and 4h
    review(2, 3)
    result = selectors.queue_review_time(now=now)
    assert (result.median, result.reviews) == (timedelta(hours=2), 3)


def test_a_busy_week_reuses_its_review_time_until_a_new_decision_or_minute(marketer, django_assert_num_queries):
    now = timezone.now()
    lead = LeadFactory()
    many = selectors.REVIEW_TIME_CACHE_FROM + 1  # odd: the median is the middle wait

    def reviews(*waits_in_minutes: int) -> None:
        reviewed = now - timedelta(hours=1)
        QueueReview.objects.bulk_create(
            QueueReview(
                lead=lead,
                action=QueueAction.NURTURE,
                reviewer=marketer,
                mql_at=reviewed - timedelta(minutes=wait),
                reviewed_at=reviewed,
            )
            for wait in waits_in_minutes
        )

    reviews(*range(many))  # waits of 0 to 1,000 minutes
    assert selectors.queue_review_time(now=now).median == timedelta(minutes=many // 2)
    with django_assert_num_queries(1):  # the count; the median is remembered for it
        assert selectors.queue_review_time(now=now).median == timedelta(minutes=many // 2)

    reviews(5_000, 5_000)  # two long waits move the middle up one
    result = selectors.queue_review_time(now=now)
    assert (result.median, result.reviews) == (timedelta(minutes=many // 2 + 1), many + 2)
    later = selectors.queue_review_time(now=now + timedelta(minutes=1))  # a new minute computes afresh
    assert (later.median, later.reviews) == (timedelta(minutes=many // 2 + 1), many + 2)


def test_the_header_of_an_empty_queue(client, marketer):
    client.force_login(marketer)
    stats = squash(text_of(client.get(QUEUE_URL)).split("Search by")[0])
    assert "Waiting 0 leads" in stats
    assert "nobody is waiting" in stats
    assert "no decisions in the last 7 days" in stats


# --- hand off ---------------------------------------------------------------------------------


def test_handing_off_one_lead_assigns_a_rep_and_says_who(client, marketer, team, reps):
    lead = queued(first_name="Ada", last_name="Lovelace")
    other = queued()
    client.force_login(marketer)
    next_url = f"{QUEUE_URL}?sort=fit&fit_min=0"

    response = client.post(ACTION_URL, {"action": "hand_off", "lead": lead.pk, "next": next_url})

    assert response.status_code == 302
    assert response["Location"] == next_url
    assignment = Assignment.objects.get(lead=lead, is_open=True)
    assert assignment.rep in reps
    assert assignment.team == team
    rep_name = assignment.rep.get_full_name()
    assert messages_of(response) == [f"Handed off Ada Lovelace to {rep_name} (Inbound)."]
    assert QueueReview.objects.get(lead=lead).action == QueueAction.HANDED_OFF
    assert listed(client.get(next_url)) == [other.email]


def test_a_team_can_be_chosen_instead_of_routing(client, marketer, team, policy):
    outbound = Team.objects.create(name="Outbound", default_sla_policy=policy)
    TeamMembership.objects.create(team=outbound, rep=team.memberships.first().rep)
    lead = queued()
    client.force_login(marketer)

    client.post(ACTION_URL, {"action": "hand_off", "lead": lead.pk, "team": outbound.pk})

    assert Assignment.objects.get(lead=lead).team == outbound


def test_bulk_hand_off_reports_each_rep_and_the_leads_that_could_not_go(client, marketer, team, reps):
    leads = [queued(first_name=name, last_name="Queue") for name in ("Ann", "Bea", "Cid")]
    taken = queued(first_name="Dee", last_name="Taken")
    services.lead_hand_off(lead_id=taken.pk, user=marketer)
    client.force_login(marketer)

    response = client.post(
        ACTION_URL,
        {"action": "hand_off", "lead": [lead.pk for lead in leads] + [taken.pk], "next": f"{QUEUE_URL}?hot=1"},
    )

    assert response["Location"] == f"{QUEUE_URL}?hot=1"
    assert Assignment.objects.filter(lead__in=leads, is_open=True).count() == 3
    [message] = messages_of(response)
    assert squash(message).startswith(
        "Handed off 3 leads; 1 could not be: Dee Taken — This lead is already handed off."
    )
    for lead in leads:
        rep = Assignment.objects.get(lead=lead, is_open=True).rep
        assert f"{lead} → {rep.get_full_name()} (Inbound)" in message
    # Round robin spread them over the three reps (the fourth went first).
    assert len({Assignment.objects.get(lead=lead).rep_id for lead in leads}) == 3


def test_bulk_hand_off_when_nobody_can_take_a_lead(client, marketer, team):
    team.memberships.update(capacity=0)
    leads = [queued(first_name=name, last_name="Stuck") for name in ("Eve", "Fay")]
    client.force_login(marketer)

    response = client.post(ACTION_URL, {"action": "hand_off", "lead": [lead.pk for lead in leads]})

    [message] = messages_of(response)
    assert message.startswith("None of the 2 leads could be handed off: Eve Stuck — Nobody in Inbound can take")
    assert not Assignment.objects.exists()
    assert sorted(listed(client.get(QUEUE_URL))) == sorted(lead.email for lead in leads)


def test_a_single_hand_off_that_fails_says_why(client, marketer, team):
    team.memberships.update(is_active=False)
    lead = queued(first_name="Gus", last_name="Alone")
    client.force_login(marketer)

    response = client.post(ACTION_URL, {"action": "hand_off", "lead": lead.pk})

    assert messages_of(response) == [
        "Gus Alone could not be handed off: Nobody in Inbound can take a lead now: every rep is away or at capacity."
    ]


# --- back to nurture, disqualify ---------------------------------------------------------------


def test_sending_back_to_nurture_needs_a_reason_and_changes_nothing_without_one(client, marketer):
    lead = queued()
    before = StageTransition.objects.count()
    client.force_login(marketer)

    response = client.post(
        ACTION_URL, {"action": "nurture", "lead": lead.pk, "reason": "", "note": "keep me", "next": QUEUE_URL}
    )

    assert response.status_code == 200
    text = text_of(response)
    assert "Reason" in text
    assert "Choose why the lead goes back to nurture." in text
    assert "keep me" in response.content.decode()  # what was typed is kept
    assert Lead.objects.get(pk=lead.pk).stage == Stage.MQL
    assert StageTransition.objects.count() == before
    assert not QueueReview.objects.exists()


def test_disqualifying_with_a_reason_meant_for_nurture_names_the_field(client, marketer):
    lead = queued()
    client.force_login(marketer)

    response = client.post(ACTION_URL, {"action": "disqualify", "lead": lead.pk, "reason": "bad_timing"})

    assert response.status_code == 200
    assert "“Not now / timing” is not a reason to disqualify a lead." in text_of(response)
    assert Lead.objects.get(pk=lead.pk).stage == Stage.MQL


def test_sending_back_to_nurture_records_the_transition_with_the_reason(client, marketer):
    lead = queued(first_name="Hal", last_name="Later")
    client.force_login(marketer)

    response = client.post(
        ACTION_URL,
        {"action": "nurture", "lead": lead.pk, "reason": "bad_timing", "note": "Budget cycle in Q1", "next": QUEUE_URL},
    )

    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.stage == Stage.RECYCLED
    transition = lead.transitions.latest()
    assert (transition.to_stage, transition.actor_user, transition.reason) == (
        Stage.RECYCLED,
        marketer,
        "Not now / timing: Budget cycle in Q1"
        f" (nurture until {timezone.localtime(lead.nurture_until):%d %b %Y})",
    )
    review = QueueReview.objects.get(lead=lead)
    assert (review.action, review.reason.code) == (QueueAction.NURTURE, "bad_timing")
    assert messages_of(response) == ["Sent Hal Later back to nurture (Not now / timing)."]
    assert listed(client.get(QUEUE_URL)) == []


def test_bulk_disqualify_records_each_and_reports_the_ones_that_moved_on(client, marketer, manager):
    leads = [queued(first_name=name, last_name="Junk") for name in ("Ida", "Jon")]
    moved = queued(first_name="Kim", last_name="Gone")
    services.lead_send_to_nurture(lead_id=moved.pk, user=manager, reason_code="no_need")
    client.force_login(marketer)

    response = client.post(
        ACTION_URL, {"action": "disqualify", "lead": [*(lead.pk for lead in leads), moved.pk], "reason": "student"}
    )

    for lead in leads:
        lead.refresh_from_db()
        assert lead.stage == Stage.DISQUALIFIED
        assert lead.transitions.latest().reason == "Student"
    [message] = messages_of(response)
    assert message == (
        "Disqualified 2 leads (Student); 1 could not be: Kim Gone — Only MQLs are in the queue; "
        "this lead is at Recycled."
    )


def test_a_retired_reason_is_refused(client, marketer):
    RejectionReason.objects.filter(code="student").update(is_active=False)
    lead = queued()
    client.force_login(marketer)
    response = client.post(ACTION_URL, {"action": "disqualify", "lead": lead.pk, "reason": "student"})
    assert response.status_code == 200
    assert "Select a valid choice" in text_of(response)
    assert Lead.objects.get(pk=lead.pk).stage == Stage.MQL


def test_the_reason_dialogs_offer_only_the_reasons_for_their_use(client, marketer):
    queued()
    client.force_login(marketer)
    html = client.get(QUEUE_URL).content.decode()
    nurture = html[html.index('id="queue-nurture-modal"') : html.index('id="queue-disqualify-modal"')]
    disqualify = html[html.index('id="queue-disqualify-modal"') :]
    assert 'value="bad_timing"' in nurture
    assert 'value="student"' not in nurture
    assert 'value="student"' in disqualify
    assert 'value="bad_timing"' not in disqualify
    assert 'value="no_budget"' in nurture
    assert 'value="no_budget"' in disqualify


def test_without_javascript_a_row_action_opens_its_own_page(client, marketer):
    lead = queued(first_name="Lia", last_name="Nojs")
    client.force_login(marketer)

    page = client.get(ACTION_URL, {"action": "disqualify", "lead": lead.pk, "next": f"{QUEUE_URL}?sort=fit"})

    assert page.status_code == 200
    text = text_of(page)
    assert "Disqualify" in text
    assert "Lia Nojs" in text
    html = page.content.decode()
    assert 'value="student"' in html
    assert 'value="bad_timing"' not in html
    assert 'href="/queue/?sort=fit"' in html  # cancel goes back to the same view


def test_without_javascript_the_bulk_bar_asks_for_the_reason_first(client, marketer):
    leads = [queued(), queued()]
    client.force_login(marketer)

    page = client.post(ACTION_URL, {"action": "nurture", "lead": [lead.pk for lead in leads]})

    assert page.status_code == 200
    assert "2 leads from the MQL queue" in text_of(page)
    assert "Choose why" not in text_of(page)  # asked, not scolded
    assert all(Lead.objects.get(pk=lead.pk).stage == Stage.MQL for lead in leads)


def test_acting_on_nothing_says_so(client, marketer):
    client.force_login(marketer)
    response = client.post(ACTION_URL, {"action": "hand_off", "next": f"{QUEUE_URL}?sort=fit"})
    assert response["Location"] == f"{QUEUE_URL}?sort=fit"
    assert messages_of(response) == ["Nothing was changed: Select at least one lead."]


@pytest.mark.parametrize(
    "next_url", ["https://evil.example/queue/", "//evil.example/queue/", "/leads/", "javascript:x"]
)
def test_actions_only_ever_return_to_the_queue(client, marketer, team, next_url):
    lead = queued()
    client.force_login(marketer)
    response = client.post(ACTION_URL, {"action": "hand_off", "lead": lead.pk, "next": next_url})
    assert response["Location"] == QUEUE_URL


def test_an_unknown_lead_is_reported_not_fatal(client, marketer, team):
    lead = queued(first_name="Mo", last_name="Real")
    client.force_login(marketer)
    response = client.post(ACTION_URL, {"action": "hand_off", "lead": [lead.pk, 999_999]})
    assert squash(messages_of(response)[0]).startswith(
        "Handed off 1 lead; 1 could not be: Lead #999999 — This lead no longer exists."
    )


def test_the_queue_filter_set_matches_the_lead_list_names():
    assert {"source_channel", "campaign", "segment", "fit_min", "fit_max", "engagement_min", "engagement_max"} <= set(
        QueueFilter.base_filters
    )


def test_activity_topics_are_fetched_for_the_whole_page_at_once(django_assert_num_queries):
    leads = [queued() for _ in range(3)]
    webinar = ActivityType.objects.get(code="webinar_attended")
    Activity.objects.bulk_create(
        [Activity(lead=lead, type=webinar, properties={"topic": "pipeline"}) for lead in leads]
    )
    with django_assert_num_queries(1):
        topics = selectors.lead_topics(lead_ids=[lead.pk for lead in leads])
    assert topics == {lead.pk: ["pipeline"] for lead in leads}
