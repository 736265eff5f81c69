"""Sessions and tokens: the Content-Security-Policy, API tokens that expire and can be revoked,
sign-in throttling per address as well as per username, and TOTP two-factor sign-in."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from crm.security import tokens, two_factor
from crm.security.models import ApiToken
from tests.factories import LeadFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory's password
LOGIN_URL = "/accounts/login/"
CODE_URL = "/accounts/login/code/"
TOKEN_URL = "/api/v1/auth/token/"
TOKENS_URL = "/api/v1/auth/tokens/"
LEADS_API = "/api/v1/leads/"
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def obtain_token(username: str, password: str = PASSWORD, **extra: str) -> dict:
    response = APIClient().post(TOKEN_URL, {"username": username, "password": password, **extra})
    assert response.status_code == 200, response.content
    return response.json()


def token_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def totp_code(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    """The code the user's authenticator app shows now (or `steps_ahead` periods of 30 s later:
    each code is accepted once, and django-otp accepts the next period's code too)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def enrol(user) -> tuple[TOTPDevice, list[str]]:  # type: ignore[no-untyped-def]
    """Set up two-factor sign-in through the services, as the page does; the current code is used."""
    device = two_factor.authenticator_enrolment_start(user=user)
    device, codes = two_factor.authenticator_enrolment_confirm(user=user, code=totp_code(device))
    return device, codes


def sign_in_with_password(client, user):  # type: ignore[no-untyped-def]
    return client.post(LOGIN_URL, {"username": user.username, "password": PASSWORD})


# --- Content-Security-Policy --------------------------------------------------------------

MAIN_PAGES = [
    "home",
    "leads:list",
    "leads:create",
    "leads:scoring",
    "leads:imports",
    "handoff:queue",
    "handoff:my_leads",
    "handoff:sla_board",
    "handoff:settings",
    "reporting:funnel",
    "reporting:velocity",
    "reporting:sla",
    "reporting:marketing",
    "reporting:feedback",
    "reporting:reps",
    "two_factor",
    "api_tokens",
    "password_change",
    "admin:index",
]
STRICT_DIRECTIVES = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def directives(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    policy = response["Content-Security-Policy"]
    parts = [part.strip().split(" ", 1) for part in policy.split(";") if part.strip()]
    return {name: (value[0] if value else "") for name, *value in parts}


def assert_strict(response) -> None:  # type: ignore[no-untyped-def]
    found = directives(response)
    for name, value in STRICT_DIRECTIVES.items():
        assert found.get(name) == value, (name, response["Content-Security-Policy"])
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert "unsafe-eval" not in response["Content-Security-Policy"]


def test_the_login_page_sends_the_strict_policy(client):
    assert_strict(client.get(LOGIN_URL))


@pytest.mark.parametrize("url_name", MAIN_PAGES)
def test_every_main_page_sends_the_strict_policy(client, url_name):
    client.force_login(UserFactory(username="root", is_superuser=True, is_staff=True))

    response = client.get(reverse(url_name), follow=True)

    assert response.status_code == 200
    assert_strict(response)


def test_error_and_lockout_pages_send_the_strict_policy(client, marketer, sdr):
    client.force_login(sdr)
    assert_strict(client.get(reverse("leads:scoring")))  # 403
    assert_strict(client.get("/no-such-page/"))  # 404
    client.logout()
    assert_strict(client.get(reverse("leads:detail", args=[LeadFactory().pk])))  # to the login page
    for _ in range(settings.AXES_FAILURE_LIMIT):
        locked = client.post(LOGIN_URL, {"username": marketer.username, "password": "guess"})
    assert locked.status_code == 429
    assert_strict(locked)


def test_templates_have_no_inline_scripts_styles_or_event_handlers():
    """What the policy would block, found before a browser does: `<script>` without `src` (other
    than JSON data blocks, which browsers do not run), `style` attributes and `<style>` blocks,
    `on...=` handlers and `javascript:` links. The API docs pages (templates/drf_spectacular/) have
    a policy of their own that allows their styles (crm/security/csp.py)."""
    problems = []
    for path in TEMPLATES.rglob("*.html"):
        if path.parent.name == "drf_spectacular":
            continue
        html = path.read_text()
        for match in re.finditer(r"<script\b[^>]*>", html):
            tag = match.group(0)
            if "src=" not in tag and 'type="application/json"' not in tag:
                problems.append(f"{path.relative_to(TEMPLATES)}: inline script {tag}")
        for pattern in (r"\sstyle\s*=", r"<style\b", r"\son[a-z]+\s*=", r"javascript:"):
            for match in re.finditer(pattern, html, flags=re.IGNORECASE):
                problems.append(f"{path.relative_to(TEMPLATES)}: {match.group(0).strip()}")
    assert problems == []


def test_json_script_data_is_not_a_script_the_policy_runs():
    from django.utils.html import json_script

    assert json_script({"a": 1}, "data").startswith('<script id="data" type="application/json">')


def test_the_api_docs_relax_the_policy_for_their_styles_only(client, marketer):
    client.force_login(marketer)
    for name in ("api-docs", "api-redoc"):
        response = client.get(reverse(name))
        assert response.status_code == 200
        found = directives(response)
        assert found["script-src"] == "'self'", name
        assert found["style-src"] == "'self' 'unsafe-inline'", name
        html = response.content.decode()
        assert "<script>" not in html, name  # Swagger UI's set-up is a file
        assert "fonts.googleapis.com" not in html, name  # nothing from a CDN
    script = client.get(reverse("api-docs") + "?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")


# --- API tokens ---------------------------------------------------------------------------


def test_an_issued_token_comes_with_its_expiry_and_id(marketer):
    before = timezone.now()

    issued = obtain_token(marketer.username, name="nightly export")

    assert set(issued) == {"id", "name", "created", "expiry", "token"}
    assert issued["name"] == "nightly export"
    expiry = timezone.datetime.fromisoformat(issued["expiry"])
    assert before + timedelta(days=settings.BATON_API_TOKEN_DAYS) <= expiry
    assert expiry <= timezone.now() + timedelta(days=settings.BATON_API_TOKEN_DAYS)
    stored = ApiToken.objects.get(user=marketer)
    assert issued["token"] not in {stored.digest, stored.token_key}  # only a digest is kept
    assert tokens.token_id(stored) == issued["id"]
    assert token_client(issued["token"]).get(LEADS_API).status_code == 200


def test_an_api_token_expires(marketer):
    issued = obtain_token(marketer.username)
    assert token_client(issued["token"]).get(LEADS_API).status_code == 200

    later = timezone.now() + timedelta(days=settings.BATON_API_TOKEN_DAYS, minutes=1)
    with mock.patch("django.utils.timezone.now", return_value=later):
        refused = token_client(issued["token"]).get(LEADS_API)

    assert refused.status_code == 401
    assert refused["WWW-Authenticate"] == "Token"
    assert not ApiToken.objects.exists()  # an expired token is deleted when it is used


def test_the_expiry_is_a_setting(marketer, settings):
    settings.BATON_API_TOKEN_DAYS = 2

    issued = obtain_token(marketer.username)

    expiry = timezone.datetime.fromisoformat(issued["expiry"])
    assert timedelta(days=1, hours=23) < expiry - timezone.now() <= timedelta(days=2)


def test_owners_list_their_tokens_without_the_secret(marketer, sdr, django_assert_num_queries):
    first = obtain_token(marketer.username, name="first")
    second = obtain_token(marketer.username, name="second")
    obtain_token(sdr.username, name="not mine")
    client = token_client(first["token"])

    with django_assert_num_queries(2):  # the token with its user; the list
        response = client.get(TOKENS_URL)

    assert response.status_code == 200
    listed = response.json()
    assert [token["name"] for token in listed] == ["second", "first"]
    assert [token["id"] for token in listed] == [second["id"], first["id"]]
    assert all(set(token) == {"id", "name", "created", "expiry"} for token in listed)
    assert first["token"] not in response.content.decode()


def test_owners_revoke_one_token_or_all(marketer, sdr):
    first = obtain_token(marketer.username, name="first")
    second = obtain_token(marketer.username, name="second")
    third = obtain_token(marketer.username, name="third")
    others = obtain_token(sdr.username)
    client = token_client(first["token"])

    assert client.delete(f"{TOKENS_URL}{second['id']}/").status_code == 204
    assert token_client(second["token"]).get(LEADS_API).status_code == 401
    assert client.delete(f"{TOKENS_URL}{second['id']}/").status_code == 404
    assert client.delete(f"{TOKENS_URL}{others['id']}/").status_code == 404  # not theirs
    assert token_client(others["token"]).get(LEADS_API).status_code == 200

    response = client.post(f"{TOKENS_URL}revoke-all/")

    assert response.json() == {"revoked": 2}
    for key in (first["token"], third["token"]):
        assert token_client(key).get(LEADS_API).status_code == 401
    assert token_client(others["token"]).get(LEADS_API).status_code == 200


def test_the_token_endpoints_need_a_signed_in_owner():
    assert APIClient().get(TOKENS_URL).status_code == 401
    assert APIClient().post(f"{TOKENS_URL}revoke-all/").status_code == 401


def test_a_token_costs_one_query(marketer, django_assert_num_queries):
    client = token_client(obtain_token(marketer.username)["token"])
    client.get(TOKENS_URL)

    with django_assert_num_queries(2):  # the token with its user; the (empty) list of its tokens
        client.get(TOKENS_URL)


def test_a_user_holds_a_bounded_number_of_tokens(marketer):
    for _ in range(tokens.MAX_TOKENS_PER_USER):
        tokens.api_token_create(user=marketer)

    response = APIClient().post(TOKEN_URL, {"username": marketer.username, "password": PASSWORD})

    assert response.status_code == 400
    assert "revoke one" in response.json()["non_field_errors"][0]


def test_changing_the_password_revokes_the_api_tokens(client, marketer):
    issued = obtain_token(marketer.username)
    client.force_login(marketer)

    response = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": "a-new-long-passphrase", "new_password2": "a-new-long-passphrase"},
        follow=True,
    )

    assert response.status_code == 200
    assert "Your password is changed. Your 1 API token was revoked." in response.content.decode()
    assert token_client(issued["token"]).get(LEADS_API).status_code == 401
    assert response.context["user"] == marketer  # this session stays signed in


def test_a_wrong_old_password_changes_nothing(client, marketer):
    issued = obtain_token(marketer.username)
    client.force_login(marketer)

    response = client.post(
        reverse("password_change"),
        {"old_password": "wrong", "new_password1": "a-new-long-passphrase", "new_password2": "a-new-long-passphrase"},
    )

    assert response.status_code == 200
    assert token_client(issued["token"]).get(LEADS_API).status_code == 200


def test_an_admin_resetting_a_password_revokes_the_api_tokens(client, marketer, sdr):
    issued = obtain_token(marketer.username)
    others = obtain_token(sdr.username)
    client.force_login(UserFactory(username="root", is_superuser=True, is_staff=True))

    response = client.post(
        reverse("admin:auth_user_password_change", args=[marketer.pk]),
        {"password1": "a-new-long-passphrase", "password2": "a-new-long-passphrase"},
    )

    assert response.status_code == 302
    assert token_client(issued["token"]).get(LEADS_API).status_code == 401
    assert token_client(others["token"]).get(LEADS_API).status_code == 200
    # The admin's user pages are still the project's (leads.admin), with the revocation added.
    assert client.get(reverse("admin:auth_user_changelist")).status_code == 200


def test_the_tokens_page_issues_lists_and_revokes(client, marketer):
    client.force_login(marketer)

    issued_page = client.post(reverse("api_tokens"), {"name": "laptop script"})

    assert issued_page.status_code == 200
    key = re.search(r'value="([0-9a-f]{64})" aria-label="The new token"', issued_page.content.decode()).group(1)
    assert token_client(key).get(LEADS_API).status_code == 200
    listed = client.get(reverse("api_tokens")).content.decode()
    assert "laptop script" in listed
    assert key not in listed  # shown once
    token_id = tokens.token_id(ApiToken.objects.get(user=marketer))

    revoked = client.post(reverse("api_token_revoke", args=[token_id]), follow=True)

    assert "The token is revoked" in revoked.content.decode()
    assert token_client(key).get(LEADS_API).status_code == 401
    assert client.post(reverse("api_token_revoke", args=[token_id])).status_code == 404


def test_the_user_menu_links_the_account_pages(client, sdr):
    client.force_login(sdr)
    html = client.get(reverse("leads:list")).content.decode()
    for name, label in (
        ("two_factor", "Two-factor sign-in"),
        ("api_tokens", "API tokens"),
        ("password_change", "Change password"),
    ):
        assert f'href="{reverse(name)}"' in html
        assert label in html


# --- Sign-in throttling per address -------------------------------------------------------


def test_one_address_trying_many_usernames_is_locked_out(client, marketer):
    for n in range(settings.BATON_ADDRESS_FAILURE_LIMIT - 1):
        response = client.post(LOGIN_URL, {"username": f"guess{n}", "password": "guess"})
        assert response.status_code == 200  # each username failed only once
    last_try = client.post(LOGIN_URL, {"username": "guess-last", "password": "guess"})

    response = client.post(LOGIN_URL, {"username": marketer.username, "password": PASSWORD})

    assert last_try.status_code == response.status_code == 429
    assert "_auth_user_id" not in client.session
    text = re.sub(r"\s+", " ", response.content.decode())
    assert f"Signing in from this address, as anyone, is locked after {settings.BATON_ADDRESS_FAILURE_LIMIT}" in text
    # Another address is not locked.
    elsewhere = client.post(LOGIN_URL, {"username": marketer.username, "password": PASSWORD}, REMOTE_ADDR="10.9.9.9")
    assert elsewhere.status_code == 302


def test_one_username_failing_from_many_addresses_is_locked_per_address(client, marketer):
    for n in range(3):
        for _ in range(settings.AXES_FAILURE_LIMIT):
            client.post(LOGIN_URL, {"username": marketer.username, "password": "guess"}, REMOTE_ADDR=f"10.0.0.{n}")
        locked = client.post(
            LOGIN_URL, {"username": marketer.username, "password": PASSWORD}, REMOTE_ADDR=f"10.0.0.{n}"
        )
        assert locked.status_code == 429

    response = client.post(LOGIN_URL, {"username": marketer.username, "password": PASSWORD}, REMOTE_ADDR="10.0.0.9")

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(marketer.pk)


def test_signing_in_does_not_clear_the_addresses_failures_for_other_usernames(client, marketer):
    for n in range(settings.BATON_ADDRESS_FAILURE_LIMIT - 1):
        client.post(LOGIN_URL, {"username": f"guess{n}", "password": "guess"})
    assert sign_in_with_password(client, marketer).status_code == 302  # a good account of one's own
    client.logout()

    response = client.post(LOGIN_URL, {"username": "guess-more", "password": "guess"})

    assert response.status_code == 429


def test_the_token_endpoint_is_throttled_per_address_too(marketer):
    client = APIClient()
    for n in range(settings.BATON_ADDRESS_FAILURE_LIMIT - 1):
        assert client.post(TOKEN_URL, {"username": f"guess{n}", "password": "guess"}).status_code == 400
    assert client.post(TOKEN_URL, {"username": "guess-last", "password": "guess"}).status_code == 429

    response = client.post(TOKEN_URL, {"username": marketer.username, "password": PASSWORD})

    assert response.status_code == 429
    assert response.json()["code"] == "locked_out"
    assert not ApiToken.objects.exists()


def test_the_address_is_read_behind_the_declared_proxies_only(marketer, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    behind_proxy = {"REMOTE_ADDR": "10.0.0.1"}  # the load balancer, for everyone
    attacker, someone_else = Client(HTTP_X_FORWARDED_FOR="203.0.113.7"), Client(HTTP_X_FORWARDED_FOR="198.51.100.2")
    for n in range(settings.BATON_ADDRESS_FAILURE_LIMIT):
        attacker.post(LOGIN_URL, {"username": f"guess{n}", "password": "x"}, **behind_proxy)

    other_client = someone_else.post(LOGIN_URL, {"username": marketer.username, "password": PASSWORD}, **behind_proxy)
    attacker = attacker.post(LOGIN_URL, {"username": marketer.username, "password": PASSWORD}, **behind_proxy)

    assert other_client.status_code == 302
    assert attacker.status_code == 429


def test_without_declared_proxies_a_forwarded_for_header_is_ignored(client, marketer):
    for n in range(settings.BATON_ADDRESS_FAILURE_LIMIT):
        client.post(LOGIN_URL, {"username": f"guess{n}", "password": "x"}, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")

    response = client.post(LOGIN_URL, {"username": marketer.username, "password": PASSWORD})

    assert response.status_code == 429


# --- Two-factor sign-in: setting it up ----------------------------------------------------


def test_any_user_sets_up_two_factor_sign_in_from_the_user_menu(client, sdr):
    client.force_login(sdr)
    page = client.get(reverse("two_factor"))
    assert "Set up two-factor sign-in" in page.content.decode()

    started = client.post(reverse("two_factor"), {"action": "start"}, follow=True)

    html = started.content.decode()
    assert re.search(r'<img class="qr-code[^"]*" src="data:image/svg\+xml', html)  # made here, no CDN
    device = TOTPDevice.objects.get(user=sdr, confirmed=False)
    assert two_factor.secret_for_typing(device) in html
    refused = client.post(reverse("two_factor"), {"action": "confirm", "code": "000000"})
    assert "That code is not right" in refused.content.decode()
    assert not two_factor.has_authenticator(sdr)

    with mock.patch.object(TOTPDevice, "get_throttle_factor", return_value=0):
        confirmed = client.post(reverse("two_factor"), {"action": "confirm", "code": totp_code(device)})

    assert confirmed.status_code == 200
    codes = re.findall(r'<li class="col">([a-z0-9]+)</li>', confirmed.content.decode())
    assert len(codes) == two_factor.RECOVERY_CODE_COUNT
    assert set(codes) == set(StaticToken.objects.filter(device__user=sdr).values_list("token", flat=True))
    assert two_factor.has_authenticator(sdr)
    assert client.session["otp_device_id"] == device.persistent_id  # this session showed a code
    assert "On" in client.get(reverse("two_factor")).content.decode()


def test_turning_two_factor_off_needs_a_code(client, sdr):
    device, _ = enrol(sdr)
    client.force_login(sdr)

    with mock.patch.object(TOTPDevice, "get_throttle_factor", return_value=0):
        refused = client.post(reverse("two_factor"), {"action": "disable", "code": "123456"})
        assert two_factor.has_authenticator(sdr)
        assert "That code is not right" in refused.content.decode()
        client.post(reverse("two_factor"), {"action": "disable", "code": totp_code(device, steps_ahead=1)})

    assert not two_factor.has_authenticator(sdr)
    assert sign_in_with_password(client, sdr)["Location"] == reverse("home")


def test_new_recovery_codes_replace_the_old_ones(client, sdr):
    device, old_codes = enrol(sdr)
    client.force_login(sdr)

    response = client.post(reverse("two_factor"), {"action": "regenerate", "code": totp_code(device, steps_ahead=1)})

    new_codes = re.findall(r'<li class="col">([a-z0-9]+)</li>', response.content.decode())
    assert len(new_codes) == two_factor.RECOVERY_CODE_COUNT
    assert not set(old_codes) & set(new_codes)
    assert two_factor.verify_code(user=sdr, code=old_codes[0]) is None


# --- Two-factor sign-in: signing in -------------------------------------------------------


def test_signing_in_asks_for_the_code_after_the_password(client, sdr):
    device, _ = enrol(sdr)

    response = sign_in_with_password(client, sdr)

    assert response["Location"] == CODE_URL
    assert "_auth_user_id" not in client.session  # not signed in yet
    assert client.get(reverse("handoff:my_leads")).status_code == 302  # to the login page
    page = client.get(CODE_URL)
    assert "Enter your sign-in code" in page.content.decode()
    assert sdr.username in page.content.decode()

    signed_in = client.post(CODE_URL, {"code": totp_code(device, steps_ahead=1)})

    assert signed_in["Location"] == reverse("home")
    assert client.session["_auth_user_id"] == str(sdr.pk)
    assert client.session["otp_device_id"] == device.persistent_id
    assert client.get(reverse("handoff:my_leads")).status_code == 200


def test_a_wrong_code_is_refused(client, sdr, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    enrol(sdr)
    sign_in_with_password(client, sdr)

    response = client.post(CODE_URL, {"code": "000000"})

    assert response.status_code == 200
    assert "That code is not right" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_no_code_no_sign_in(client, sdr):
    enrol(sdr)
    sign_in_with_password(client, sdr)

    response = client.post(CODE_URL, {"code": ""})

    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_code_step_goes_where_the_user_was_going(client, sdr):
    device, _ = enrol(sdr)
    lead_page = reverse("leads:detail", args=[LeadFactory().pk])

    client.post(LOGIN_URL, {"username": sdr.username, "password": PASSWORD, "next": lead_page})
    response = client.post(CODE_URL, {"code": totp_code(device, steps_ahead=1)})

    assert response["Location"] == lead_page


def test_a_recovery_code_signs_in_once(client, sdr):
    _, codes = enrol(sdr)

    sign_in_with_password(client, sdr)
    assert client.post(CODE_URL, {"code": codes[0].upper()})["Location"] == reverse("home")
    client.logout()
    sign_in_with_password(client, sdr)
    again = client.post(CODE_URL, {"code": codes[0]})

    assert again.status_code == 200
    assert "_auth_user_id" not in client.session


def test_wrong_codes_lock_the_sign_in_out_like_wrong_passwords(client, sdr, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    device, _ = enrol(sdr)
    sign_in_with_password(client, sdr)
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert client.post(CODE_URL, {"code": "000000"}).status_code == 200

    locked = client.post(CODE_URL, {"code": "000000"})
    right_code = client.post(CODE_URL, {"code": totp_code(device, steps_ahead=1)})
    password_again = sign_in_with_password(client, sdr)

    assert locked.status_code == right_code.status_code == password_again.status_code == 429
    assert "_auth_user_id" not in client.session


def test_django_otp_throttles_codes_after_a_wrong_one(client, sdr):
    device, _ = enrol(sdr)
    sign_in_with_password(client, sdr)
    client.post(CODE_URL, {"code": "000000"})

    too_soon = client.post(CODE_URL, {"code": totp_code(device, steps_ahead=1)})

    assert "wait" in too_soon.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_password_step_expires(client, sdr):
    device, _ = enrol(sdr)
    sign_in_with_password(client, sdr)

    later = time.time() + two_factor.PENDING_SIGN_IN_SECONDS + 1
    with mock.patch("crm.security.two_factor.time.time", return_value=later):
        response = client.post(CODE_URL, {"code": totp_code(device, steps_ahead=1)})

    assert response["Location"] == reverse("login")
    assert "_auth_user_id" not in client.session


def test_the_admin_sign_in_asks_for_the_code_too(client):
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    enrol(root)

    response = client.post(reverse("admin:login"), {"username": "root", "password": PASSWORD, "next": "/admin/"})

    assert response["Location"] == CODE_URL
    assert "_auth_user_id" not in client.session


def test_the_code_page_without_a_password_step_sends_to_sign_in(client):
    assert client.get(CODE_URL)["Location"] == reverse("login")


# --- Two-factor and API tokens ------------------------------------------------------------


def test_issuing_a_token_needs_the_code_when_the_user_has_two_factor(sdr, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    device, _ = enrol(sdr)
    client = APIClient()

    without = client.post(TOKEN_URL, {"username": sdr.username, "password": PASSWORD})
    wrong = client.post(TOKEN_URL, {"username": sdr.username, "password": PASSWORD, "otp_token": "000000"})

    assert without.status_code == wrong.status_code == 400
    assert "two-factor" in without.json()["otp_token"][0]
    assert "not right" in wrong.json()["otp_token"][0]
    assert not ApiToken.objects.exists()
    issued = obtain_token(sdr.username, otp_token=totp_code(device, steps_ahead=1))
    assert token_client(issued["token"]).get(LEADS_API).status_code == 200


def test_the_tokens_page_needs_a_session_that_showed_a_code(client, sdr):
    enrol(sdr)
    client.force_login(sdr)  # a session from before two-factor was set up

    response = client.post(reverse("api_tokens"), {"name": "x"})

    assert "sign out and in again" in response.content.decode()
    assert not ApiToken.objects.exists()


# --- Two-factor required for managers -----------------------------------------------------


@pytest.fixture
def required(settings):  # type: ignore[no-untyped-def]
    settings.BATON_REQUIRE_2FA_FOR_MANAGERS = True


def test_managers_are_those_who_run_the_handoff(manager, marketer, sdr):
    assert two_factor.is_manager(manager)
    assert two_factor.is_manager(UserFactory(username="root", is_superuser=True))
    assert not two_factor.is_manager(marketer)
    assert not two_factor.is_manager(sdr)


def test_by_default_managers_need_no_second_factor(client, manager):
    assert sign_in_with_password(client, manager).status_code == 302
    assert client.get(reverse("reporting:funnel")).status_code == 200


def test_the_setting_sends_a_manager_without_two_factor_to_set_it_up(client, manager, marketer, required):
    sign_in_with_password(client, manager)

    page = client.get(reverse("reporting:funnel"))
    api = client.get(LEADS_API)

    assert page.status_code == 302
    assert page["Location"] == f"{reverse('two_factor')}?next=%2Freports%2F"
    assert api.status_code == 403
    assert api.json()["code"] == "two_factor_required"
    assert client.get(page["Location"]).status_code == 200
    client.force_login(marketer)  # others are not asked
    assert client.get(reverse("handoff:queue")).status_code == 200


def test_a_manager_who_sets_it_up_carries_on(client, manager, required):
    client.force_login(manager)
    client.post(reverse("two_factor"), {"action": "start", "next": "/reports/"})
    device = TOTPDevice.objects.get(user=manager)

    confirmed = client.post(
        reverse("two_factor"), {"action": "confirm", "code": totp_code(device), "next": "/reports/"}
    )

    assert 'href="/reports/"' in confirmed.content.decode()  # "Continue"
    assert client.get(reverse("reporting:funnel")).status_code == 200
    assert client.get(LEADS_API).status_code == 200


def test_a_manager_session_that_showed_no_code_is_asked_for_one(client, manager, required):
    device, _ = enrol(manager)
    client.force_login(manager)

    page = client.get(reverse("reporting:funnel"))
    assert page["Location"] == f"{CODE_URL}?next=%2Freports%2F"
    response = client.post(
        f"{CODE_URL}?next=/reports/", {"code": totp_code(device, steps_ahead=1), "next": "/reports/"}
    )

    assert response["Location"] == "/reports/"
    assert client.get(reverse("reporting:funnel")).status_code == 200


def test_a_manager_cannot_turn_required_two_factor_off(client, manager, required):
    device, _ = enrol(manager)
    client.force_login(manager)
    sign_in_with_password(client, manager)
    client.post(CODE_URL, {"code": totp_code(device, steps_ahead=1)})

    page = client.get(reverse("two_factor")).content.decode()
    assert 'value="disable"' not in page
    with pytest.raises(Exception, match="Managers must keep"):
        two_factor.two_factor_disable(user=manager)
    assert two_factor.has_authenticator(manager)


def test_an_api_token_cannot_get_round_the_required_second_factor(manager, required):
    held_before = tokens.api_token_create(user=manager)  # issued before the setting was turned on

    refused = APIClient().post(TOKEN_URL, {"username": manager.username, "password": PASSWORD})

    assert refused.status_code == 403
    assert refused.json()["code"] == "two_factor_required"
    assert not ApiToken.objects.filter(user=manager).exclude(pk=held_before.token.pk).exists()
    assert token_client(held_before.key).get(LEADS_API).status_code == 401

    device, _ = enrol(manager)
    assert token_client(held_before.key).get(LEADS_API).status_code == 200
    assert APIClient().post(TOKEN_URL, {"username": manager.username, "password": PASSWORD}).status_code == 400
    issued = obtain_token(manager.username, otp_token=totp_code(device, steps_ahead=1))
    assert token_client(issued["token"]).get(LEADS_API).status_code == 200
