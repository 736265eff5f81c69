"""Signing in and out, the role-aware navigation, and django-axes' lockout of password guessing."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.conf import settings
from django.urls import reverse

from crm import navigation
from crm.navigation import NavItem
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory's password
LOGIN_URL = "/accounts/login/"


def text_of(response) -> str:  # type: ignore[no-untyped-def]
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", response.content.decode()))).strip()


def nav_links(response) -> list[str]:  # type: ignore[no-untyped-def]
    """The labels of the main navigation's links."""
    html = response.content.decode()
    nav = re.search(r'<ul class="navbar-nav[^"]*">(.*?)</ul>', html, flags=re.S)
    if nav is None:
        return []
    return [
        re.sub(r"<[^>]+>", "", link).strip() for link in re.findall(r"<a [^>]*>(.*?)</a>", nav.group(1), re.S)
    ]


def test_the_login_page_renders(client):
    response = client.get(LOGIN_URL)
    assert response.status_code == 200
    text = text_of(response)
    assert "Sign in to Baton" in text
    assert 'name="csrfmiddlewaretoken"' in response.content.decode()


def test_signing_in_lands_on_the_page_the_role_works_from(client, marketer):
    response = client.post(LOGIN_URL, {"username": marketer.username, "password": PASSWORD}, follow=True)

    assert response.redirect_chain[-1][0] == reverse("handoff:queue")
    assert response.status_code == 200
    assert response.context["user"] == marketer
    text = text_of(response)
    assert marketer.get_full_name() in text  # the user menu shows the name...
    assert "Marketer" in text  # ...and the roles


def test_signing_in_returns_to_the_page_asked_for(client, sdr):
    lead_page = f"{reverse('leads:list')}?stage=mql"
    asked = client.get(lead_page)
    assert asked["Location"] == f"{LOGIN_URL}?next=/leads/%3Fstage%3Dmql"
    assert "Please sign in to see that page." in text_of(client.get(asked["Location"]))

    response = client.post(
        LOGIN_URL, {"username": sdr.username, "password": PASSWORD, "next": lead_page}, follow=True
    )

    assert response.redirect_chain[-1][0] == lead_page


def test_a_wrong_password_is_refused_with_a_message(client, marketer):
    response = client.post(LOGIN_URL, {"username": marketer.username, "password": "wrong"})

    assert response.status_code == 200
    assert "Please enter a correct username and password" in text_of(response)
    assert "_auth_user_id" not in client.session


def test_home_sends_each_user_to_their_first_page_and_anonymous_visitors_to_sign_in(
    client, marketer, sdr, manager, no_role_user
):
    assert client.get("/")["Location"] == f"{LOGIN_URL}?next=/"
    for user, page in (
        (marketer, reverse("handoff:queue")),
        (sdr, reverse("handoff:my_leads")),
        (manager, navigation.landing_url_for(manager)),
        (no_role_user, reverse("leads:list")),
    ):
        client.force_login(user)
        assert client.get("/")["Location"] == page


def test_signing_out_is_a_post_and_ends_the_session(client, marketer):
    client.force_login(marketer)
    page = client.get(reverse("leads:list"))
    logout_form = re.search(
        r'<form method="post" action="([^"]+)"[^>]*>\s*<input type="hidden" name="csrfmiddlewaretoken"',
        page.content.decode(),
    )
    assert logout_form.group(1) == reverse("logout")

    response = client.post(reverse("logout"))

    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert client.get(reverse("leads:list")).status_code == 302


def test_the_navigation_shows_only_what_the_user_may_open(client, marketer, sdr, no_role_user, monkeypatch):
    admin_only = NavItem("Users", "admin:index", "auth.view_user", "person-gear")
    monkeypatch.setattr(navigation, "NAV_ITEMS", [*navigation.NAV_ITEMS, admin_only])
    superuser = UserFactory(username="root", is_superuser=True, is_staff=True)

    client.force_login(marketer)
    marketer_nav = nav_links(client.get(reverse("leads:list")))
    assert {"MQL queue", "Leads", "Scoring", "Imports"} <= set(marketer_nav)
    assert not {"My leads", "SLA board", "Settings", "Users"} & set(marketer_nav)
    client.force_login(sdr)
    sdr_nav = nav_links(client.get(reverse("leads:list")))
    assert {"My leads", "Leads"} <= set(sdr_nav)
    assert not {"MQL queue", "Scoring", "Imports", "SLA board", "Settings", "Users"} & set(sdr_nav)
    client.force_login(superuser)
    assert nav_links(client.get(reverse("leads:list")))[-1] == "Users"
    client.force_login(no_role_user)
    refused = client.get(reverse("leads:list"))
    assert refused.status_code == 403
    assert nav_links(refused) == []
    assert "No role" in text_of(refused)


def test_the_current_page_is_marked_in_the_navigation(client, sdr):
    client.force_login(sdr)
    html = client.get(reverse("leads:list")).content.decode()
    assert re.search(r'<a class="nav-link active" href="/leads/"\s+aria-current="page">', html)


def test_password_guessing_is_locked_out_after_the_failure_limit(client, marketer):
    limit = settings.AXES_FAILURE_LIMIT
    for _ in range(limit - 1):
        response = client.post(LOGIN_URL, {"username": marketer.username, "password": "guess"})
        assert response.status_code == 200

    locked = client.post(LOGIN_URL, {"username": marketer.username, "password": "guess"})
    assert locked.status_code == 429
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    text = text_of(locked)
    assert "Too many failed sign-in attempts" in text
    assert f"locked after {limit} failed attempts" in text
    assert f"Try again in {minutes} minutes" in text

    # Even the right password is refused until the cool-off has passed.
    again = client.post(LOGIN_URL, {"username": marketer.username, "password": PASSWORD})
    assert again.status_code == 429
    assert "_auth_user_id" not in client.session


def test_a_lockout_is_per_username(client, marketer, sdr):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(LOGIN_URL, {"username": marketer.username, "password": "guess"})

    response = client.post(LOGIN_URL, {"username": sdr.username, "password": PASSWORD})

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(sdr.pk)


def test_permissions_are_read_in_one_query_and_are_those_django_would_give(
    marketer, sdr, manager, no_role_user, django_assert_num_queries
):
    from django.contrib.auth.backends import ModelBackend
    from django.contrib.auth.models import Permission

    from crm.backends import PermissionBackend

    direct = UserFactory(username="direct")
    direct.user_permissions.add(Permission.objects.get(codename="view_lead"))
    direct.groups.add(*marketer.groups.all())  # a role and a permission of their own, overlapping
    boss = UserFactory(username="boss", is_superuser=True)
    gone = UserFactory(username="gone", is_active=False)
    gone.groups.add(*manager.groups.all())
    for user in (marketer, sdr, manager, no_role_user, direct, boss, gone):
        fresh = type(user).objects.get(pk=user.pk)
        with django_assert_num_queries(0 if user is gone else 1):
            ours = PermissionBackend().get_all_permissions(fresh)
            assert ours == PermissionBackend().get_all_permissions(fresh)  # kept for the request
        assert ours == ModelBackend().get_all_permissions(type(user).objects.get(pk=user.pk)), user.username
    assert "leads.view_lead" in PermissionBackend().get_all_permissions(direct)
    assert PermissionBackend().has_perm(manager, "handoff.reassign_lead")
    assert not PermissionBackend().has_perm(sdr, "handoff.reassign_lead")
