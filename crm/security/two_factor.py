"""Two-factor sign-in with an authenticator app (TOTP, django-otp) and recovery codes.

Any user may set it up from the user menu; from then on signing in asks for a code after the
password (`crm.views.BatonLoginView` hands over to `crm.security.views.SignInCodeView`), and
issuing an API token asks for one too (`otp_token`). With `BATON_REQUIRE_2FA_FOR_MANAGERS` on,
managers must set it up before they can use anything else (`TwoFactorRequiredMiddleware`), and
their API tokens stop working until they have.

A wrong code counts as a failed sign-in for django-axes (so the same lockouts apply), and django-otp
throttles the device itself: after each wrong code the next one is refused for 1, 2, 4, ... seconds.
"""

from __future__ import annotations

import time
from base64 import b32encode
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import django_otp
import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import login as auth_login
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

# Holding either of these makes a user a manager for BATON_REQUIRE_2FA_FOR_MANAGERS: they can
# change how leads are routed and timed, or act on any lead (crm/roles.py gives both to Managers;
# superusers hold every permission).
MANAGER_PERMISSIONS = ("handoff.manage_handoff_settings", "handoff.act_on_any_lead")
ENROLMENT_REQUIRED_MESSAGE = (
    "Managers must use two-factor sign-in: set it up under “Two-factor sign-in” in the user menu first."
)
AUTHENTICATOR_NAME = "Authenticator app"
RECOVERY_NAME = "Recovery codes"
RECOVERY_CODE_COUNT = 10
PENDING_SIGN_IN_KEY = "baton_2fa_pending"
PENDING_SIGN_IN_SECONDS = 5 * 60


# --- Who must, who has --------------------------------------------------------------------


def is_manager(user: AbstractBaseUser) -> bool:
    return any(user.has_perm(permission) for permission in MANAGER_PERMISSIONS)


def is_required_for(user: AbstractBaseUser) -> bool:
    return bool(settings.BATON_REQUIRE_2FA_FOR_MANAGERS) and user.is_authenticated and is_manager(user)


def has_authenticator(user: AbstractBaseUser) -> bool:
    """Whether `user` has set up two-factor sign-in (a confirmed authenticator app)."""
    return user.is_authenticated and TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def enrolment_missing(user: AbstractBaseUser) -> bool:
    """The user must use two-factor sign-in and has not set it up: no page, API call or token."""
    return is_required_for(user) and not has_authenticator(user)


# --- Selectors ----------------------------------------------------------------------------


def authenticator_of(user: AbstractBaseUser) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def pending_authenticator_of(user: AbstractBaseUser) -> TOTPDevice | None:
    """The authenticator app being set up: shown as a QR code until a code from it confirms it."""
    return TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()


def recovery_codes_left(user: AbstractBaseUser) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def qr_code_data_uri(device: TOTPDevice) -> str:
    """The device's `otpauth://` address as an SVG QR code in a data: URI, made here (no CDN)."""
    return segno.make(device.config_url, error="m").svg_data_uri(scale=5, border=2)


def secret_for_typing(device: TOTPDevice) -> str:
    """The device's secret in base32, in groups of four, for apps that cannot scan a code."""
    secret = b32encode(device.bin_key).decode()
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


# --- Services -----------------------------------------------------------------------------


@transaction.atomic
def authenticator_enrolment_start(*, user: AbstractBaseUser) -> TOTPDevice:
    """Start setting up an authenticator app: a new secret, unconfirmed until a code proves it."""
    if has_authenticator(user):
        raise ValidationError("Two-factor sign-in is already set up. Turn it off first to use another app.")
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name=AUTHENTICATOR_NAME, confirmed=False)


@transaction.atomic
def authenticator_enrolment_cancel(*, user: AbstractBaseUser) -> None:
    """Stop setting up an app: its secret is forgotten (a confirmed app is left alone)."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()


@transaction.atomic
def authenticator_enrolment_confirm(*, user: AbstractBaseUser, code: str) -> tuple[TOTPDevice, list[str]]:
    """Confirm the app being set up with a code from it; returns it and fresh recovery codes."""
    device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).order_by("-pk").first()
    if device is None:
        raise ValidationError({"code": "Start setting up two-factor sign-in first."})
    if not device.verify_token(_normalised(code)):
        raise ValidationError({"code": _wrong_code_message(device)})
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    return device, recovery_codes_regenerate(user=user)


@transaction.atomic
def recovery_codes_regenerate(*, user: AbstractBaseUser) -> list[str]:
    """New single-use recovery codes for `user`; the old ones stop working."""
    device, _ = StaticDevice.objects.get_or_create(user=user, name=RECOVERY_NAME, defaults={"confirmed": True})
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


@transaction.atomic
def two_factor_disable(*, user: AbstractBaseUser) -> None:
    """Turn two-factor sign-in off: the authenticator app and the recovery codes are forgotten."""
    if is_required_for(user):
        raise ValidationError("Managers must keep two-factor sign-in on (BATON_REQUIRE_2FA_FOR_MANAGERS).")
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()


# --- Checking a code ----------------------------------------------------------------------


def _normalised(code: str) -> str:
    return "".join(str(code).split()).lower()


def verify_code(*, user: AbstractBaseUser, code: str) -> Device | None:
    """The device that accepts `code` (a 6-digit code from the app, or an unused recovery code,
    which is used up), or None. django-otp locks the device row, refuses a code already used, and
    throttles after wrong codes."""
    code = _normalised(code)
    if not code:
        return None
    devices: list[Device] = list(
        TOTPDevice.objects.filter(user=user, confirmed=True)
        if code.isdigit() and len(code) == 6
        else StaticDevice.objects.filter(user=user, confirmed=True)
    )
    for device in devices:
        verified = django_otp.verify_token(user, device.persistent_id, code)
        if verified is not None:
            return verified
    return None


def wrong_code_message(user: AbstractBaseUser) -> str:
    device = authenticator_of(user)
    return _wrong_code_message(device) if device else "That code is not right."


def _wrong_code_message(device: TOTPDevice) -> str:
    device.refresh_from_db(fields=["throttling_failure_count", "throttling_failure_timestamp"])
    allowed, details = device.verify_is_allowed()
    if not allowed and details and details.get("locked_until"):
        seconds = max(1, int((details["locked_until"] - timezone.now()).total_seconds() + 0.999))
        return f"That code is not right, or came too soon after a wrong one: wait {seconds} s and try the current code."
    return "That code is not right. Enter the 6-digit code your authenticator app shows now, or a recovery code."


def record_wrong_code(request: Any, *, user: AbstractBaseUser) -> bool:
    """Count a wrong code as a failed sign-in (django-axes); True if that locks the user out."""
    user_login_failed.send(sender=__name__, credentials={"username": user.get_username()}, request=request)
    return bool(getattr(request, "axes_locked_out", False))


# --- Between the password and the code ----------------------------------------------------


def pending_sign_in_start(request: HttpRequest, *, user: AbstractBaseUser, redirect_to: str) -> None:
    """The password was right and the user has two-factor sign-in: remember who, not signed in yet."""
    request.session[PENDING_SIGN_IN_KEY] = {
        "user_id": user.pk,
        "backend": getattr(user, "backend", settings.AUTHENTICATION_BACKENDS[-1]),
        "redirect_to": redirect_to,
        "at": time.time(),
    }


def pending_sign_in(request: HttpRequest) -> tuple[AbstractBaseUser, dict[str, Any]] | None:
    """The user whose password was right a moment ago (at most 5 minutes), or None."""
    pending = request.session.get(PENDING_SIGN_IN_KEY)
    if not pending:
        return None
    if time.time() - pending.get("at", 0) > PENDING_SIGN_IN_SECONDS:
        del request.session[PENDING_SIGN_IN_KEY]
        return None
    user = get_user_model()._default_manager.filter(pk=pending["user_id"], is_active=True).first()
    return (user, pending) if user is not None else None


def pending_sign_in_finish(request: HttpRequest, *, user: AbstractBaseUser, device: Device) -> str:
    """Sign the user in, verified by `device`; returns where they were going."""
    pending = request.session.pop(PENDING_SIGN_IN_KEY, None) or {}
    if not request.user.is_authenticated:
        auth_login(request, user, backend=pending.get("backend"))
    django_otp.login(request, device)
    return pending.get("redirect_to") or ""


# --- Requiring it -------------------------------------------------------------------------

# Pages a manager who must still set up (or enter) a code may open.
EXEMPT_VIEWS = frozenset(
    {"login", "login_code", "logout", "two_factor", "healthz", "livez", "admin_login", "api-token"}
)


class TwoFactorRequiredMiddleware:
    """With BATON_REQUIRE_2FA_FOR_MANAGERS on, a manager's session that has not passed a code
    opens nothing but the two-factor pages: without an authenticator app it is sent to set one up,
    with one it is asked for a code. API calls on such a session answer 403."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        if not settings.BATON_REQUIRE_2FA_FOR_MANAGERS:
            return None
        user = request.user
        if not user.is_authenticated or getattr(user, "is_verified", lambda: False)():
            return None
        match = request.resolver_match
        if match is not None and match.view_name in EXEMPT_VIEWS:
            return None
        if not is_manager(user):
            return None
        if request.path_info.startswith("/api/"):
            return JsonResponse({"detail": ENROLMENT_REQUIRED_MESSAGE, "code": "two_factor_required"}, status=403)
        query = urlencode({"next": request.get_full_path()})
        if has_authenticator(user):
            return redirect(f"{reverse('login_code')}?{query}")
        messages.info(request, ENROLMENT_REQUIRED_MESSAGE)
        return redirect(f"{reverse('two_factor')}?{query}")
