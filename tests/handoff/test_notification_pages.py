"""In-app notifications: the bell's unread count, the list, opening one, marking all read —
each person only ever sees and touches their own."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from handoff import services
from handoff.context_processors import notifications as notifications_context
from handoff.models import Notification, NotificationKind
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

LIST_URL = "/notifications/"


def notify(user, title: str, *, minutes_ago: int = 0, lead=None, kind=NotificationKind.ASSIGNED):  # type: ignore[no-untyped-def]
    notification = services.notify(recipient=user, kind=kind, title=title, body=f"About {title}", lead=lead)
    if minutes_ago:
        Notification.objects.filter(pk=notification.pk).update(
            created_at=timezone.now() - timedelta(minutes=minutes_ago)
        )
    return notification


def titles(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [n.title for n in response.context["notifications"]]


def text_of(response) -> str:  # type: ignore[no-untyped-def]
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def unread_badge(response) -> str | None:  # type: ignore[no-untyped-def]
    match = re.search(r'data-testid="unread-count"[^>]*>([^<]+)<', response.content.decode())
    return match.group(1).strip() if match else None


@pytest.mark.parametrize(
    ("method", "url"),
    [("get", LIST_URL), ("post", "/notifications/read-all/"), ("post", "/notifications/1/open/")],
)
def test_anonymous_visitors_are_sent_to_sign_in(client, method, url):
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response["Location"].startswith(f"{reverse('login')}?next=")


def test_the_list_shows_only_my_notifications_newest_first_unread_highlighted(client, sdr, manager):
    notify(sdr, "Oldest", minutes_ago=90)
    read = notify(sdr, "Middle", minutes_ago=30)
    notify(sdr, "Newest", minutes_ago=5)
    notify(manager, "Someone else's")
    services.notifications_mark_read(user=sdr, ids=[read.pk])
    client.force_login(sdr)

    response = client.get(reverse("handoff:notifications"))

    assert response.status_code == 200
    assert titles(response) == ["Newest", "Middle", "Oldest"]
    html = response.content.decode()
    assert html.count("notification-item is-unread") == 2
    text = text_of(response)
    assert "Unread: Newest" in text
    assert "Unread: Middle" not in text
    assert "Someone else's" not in text


def test_unread_only(client, sdr):
    notify(sdr, "Seen")
    notify(sdr, "Not seen")
    services.notifications_mark_read(user=sdr, ids=[Notification.objects.get(title="Seen").pk])
    client.force_login(sdr)
    assert titles(client.get(LIST_URL, {"show": "unread"})) == ["Not seen"]


def test_mark_all_read_marks_only_mine(client, sdr, manager):
    notify(sdr, "One")
    notify(sdr, "Two")
    theirs = notify(manager, "Theirs")
    client.force_login(sdr)

    response = client.post(reverse("handoff:notifications_read_all"))

    assert response.status_code == 302
    assert response["Location"] == LIST_URL
    assert not Notification.objects.filter(recipient=sdr, read_at__isnull=True).exists()
    theirs.refresh_from_db()
    assert theirs.read_at is None
    page = client.get(response["Location"])
    assert "Marked 2 notifications as read." in text_of(page)
    assert unread_badge(page) is None


def test_opening_one_marks_it_read_and_goes_to_its_lead(client, sdr):
    lead = LeadFactory()
    opened = notify(sdr, "New lead", lead=lead)
    other = notify(sdr, "Another")
    client.force_login(sdr)

    response = client.post(reverse("handoff:notification_open", args=[opened.pk]))

    assert response.status_code == 302
    assert response["Location"] == lead.get_absolute_url()
    opened.refresh_from_db()
    other.refresh_from_db()
    assert opened.read_at is not None
    assert other.read_at is None


def test_opening_one_without_a_lead_goes_back_to_the_list(client, sdr):
    notification = notify(sdr, "General")
    client.force_login(sdr)
    response = client.post(reverse("handoff:notification_open", args=[notification.pk]))
    assert response["Location"] == LIST_URL


def test_someone_elses_notification_is_not_found(client, sdr, manager):
    theirs = notify(manager, "Theirs", lead=LeadFactory())
    client.force_login(sdr)

    response = client.post(reverse("handoff:notification_open", args=[theirs.pk]))

    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_opening_is_post_only(client, sdr):
    notification = notify(sdr, "Mine")
    client.force_login(sdr)
    assert client.get(reverse("handoff:notification_open", args=[notification.pk])).status_code == 405
    assert client.get(reverse("handoff:notifications_read_all")).status_code == 405


def test_the_bell_shows_my_unread_count_on_every_page(client, sdr, manager):
    for index in range(3):
        notify(sdr, f"N{index}")
    notify(manager, "Not mine")
    services.notifications_mark_read(user=sdr, ids=[Notification.objects.get(title="N0").pk])
    client.force_login(sdr)

    for url in (LIST_URL, reverse("leads:list")):
        response = client.get(url)
        assert unread_badge(response) == "2"
        assert 'aria-label="Notifications: 2 unread"' in response.content.decode()
        assert 'href="/notifications/"' in response.content.decode()


def test_the_bell_without_unread_shows_no_badge_and_caps_big_counts(client, sdr):
    client.force_login(sdr)
    assert unread_badge(client.get(LIST_URL)) is None
    Notification.objects.bulk_create(
        [Notification(recipient=sdr, kind=NotificationKind.SLA_WARNING, title=f"W{i}") for i in range(120)]
    )
    assert unread_badge(client.get(LIST_URL)) == "99+"


def test_the_unread_count_is_one_query_and_only_when_shown(sdr, django_assert_num_queries):
    notify(sdr, "One")
    request = RequestFactory().get("/")
    request.user = sdr
    with django_assert_num_queries(0):
        context = notifications_context(request)
    with django_assert_num_queries(1):
        assert str(context["unread_notifications"]) == "1"
        assert context["unread_notifications"]  # read twice, counted once
    request.user = AnonymousUser()
    assert notifications_context(request) == {"unread_notifications": 0}


@pytest.mark.parametrize("count", [3, 30])
def test_the_list_runs_a_fixed_number_of_queries(client, sdr, count, django_assert_num_queries):
    lead = LeadFactory()
    for index in range(count):
        notify(sdr, f"N{index}", lead=lead)
    client.force_login(sdr)

    # user, permissions (the navigation), roles for the menu, notifications, unread count.
    with django_assert_num_queries(5):
        response = client.get(LIST_URL)
    assert len(titles(response)) == count


def test_an_empty_list_says_so(client, sdr):
    client.force_login(sdr)
    assert "No notifications yet" in text_of(client.get(LIST_URL))
    assert "You're all caught up" in text_of(client.get(LIST_URL, {"show": "unread"}))
