"""The pages under the user menu: two-factor sign-in, API tokens, the password; and the sign-in
step that asks for a code after the password (`crm.views.BatonLoginView` hands over to it)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import django_otp
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_lockout_response
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse, reverse_lazy
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from crm.security import tokens, two_factor
from crm.security.forms import CodeForm, TokenNameForm
from crm.security.models import ApiToken


def _safe_next(request: HttpRequest, url: str | None) -> str:
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return ""


def _is_verified(user: Any) -> bool:
    return bool(getattr(user, "is_verified", lambda: False)())


# --- The code step of signing in ----------------------------------------------------------


@method_decorator(never_cache, name="dispatch")
class SignInCodeView(View):
    """Asks for the code of a user whose password was just right (or who is signed in, but was
    not asked for a code: a session from before they set two-factor sign-in up)."""

    template_name = "registration/login_code.html"

    def _user(self, request: HttpRequest) -> AbstractBaseUser | None:
        pending = two_factor.pending_sign_in(request)
        if pending is not None:
            return pending[0]
        user = request.user
        if user.is_authenticated and not _is_verified(user) and two_factor.has_authenticator(user):
            return user
        return None

    def _render(self, request: HttpRequest, form: CodeForm, user: AbstractBaseUser) -> HttpResponse:
        return render(
            request,
            self.template_name,
            {"form": form, "pending_user": user, "next": _safe_next(request, request.GET.get("next"))},
        )

    def get(self, request: HttpRequest) -> HttpResponse:
        user = self._user(request)
        if user is None:
            return redirect("login")
        return self._render(request, CodeForm(), user)

    def post(self, request: HttpRequest) -> HttpResponse:
        user = self._user(request)
        if user is None:
            messages.info(request, "Signing in took too long: enter your password again.")
            return redirect("login")
        credentials = {"username": user.get_username()}
        if not AxesProxyHandler.is_allowed(request, credentials):
            return get_lockout_response(request, credentials=credentials)
        form = CodeForm(request.POST)
        if form.is_valid():
            device = two_factor.verify_code(user=user, code=form.cleaned_data["code"])
            if device is not None:
                going_to = two_factor.pending_sign_in_finish(request, user=user, device=device)
                return redirect(
                    _safe_next(request, going_to)
                    or _safe_next(request, request.POST.get("next"))
                    or resolve_url(settings.LOGIN_REDIRECT_URL)
                )
            if two_factor.record_wrong_code(request, user=user):
                return get_lockout_response(request, credentials=credentials)
            form.add_error("code", two_factor.wrong_code_message(user))
        return self._render(request, form, user)


# --- Two-factor sign-in -------------------------------------------------------------------


@method_decorator([login_required, never_cache], name="dispatch")
class TwoFactorView(View):
    """Set up an authenticator app (QR code or secret, confirmed by a code), get recovery codes,
    or turn it off (with a code)."""

    template_name = "registration/two_factor.html"

    def _render(self, request: HttpRequest, **context: Any) -> HttpResponse:
        user = request.user
        device = two_factor.authenticator_of(user)
        pending = None if device else two_factor.pending_authenticator_of(user)
        context = {
            "device": device,
            "pending": pending,
            "qr_code": two_factor.qr_code_data_uri(pending) if pending else "",
            "secret": two_factor.secret_for_typing(pending) if pending else "",
            "recovery_left": two_factor.recovery_codes_left(user) if device else 0,
            "required": two_factor.is_required_for(user),
            "next": _safe_next(request, request.GET.get("next") or request.POST.get("next")),
            "form": CodeForm(),
            **context,
        }
        return render(request, self.template_name, context)

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(request)

    def post(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        action = request.POST.get("action")
        if action == "start":
            try:
                two_factor.authenticator_enrolment_start(user=user)
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
            return self._redirect_here(request)
        if action == "cancel":
            two_factor.authenticator_enrolment_cancel(user=user)
            return self._redirect_here(request)
        form = CodeForm(request.POST)
        if not form.is_valid():
            return self._render(request, form=form, action=action)
        code = form.cleaned_data["code"]
        if action == "confirm":
            try:
                device, codes = two_factor.authenticator_enrolment_confirm(user=user, code=code)
            except ValidationError as exc:
                form.add_error("code", exc.message_dict.get("code", exc.messages))
                return self._render(request, form=form, action=action)
            django_otp.login(request, device)  # this session has just shown a code
            messages.success(request, "Two-factor sign-in is on. From now on signing in asks for a code.")
            return self._render(request, recovery_codes=codes)
        if action in {"regenerate", "disable"}:
            device = two_factor.verify_code(user=user, code=code)
            if device is None:
                form.add_error("code", two_factor.wrong_code_message(user))
                return self._render(request, form=form, action=action)
            if action == "regenerate":
                return self._render(request, recovery_codes=two_factor.recovery_codes_regenerate(user=user))
            try:
                two_factor.two_factor_disable(user=user)
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
            else:
                messages.success(request, "Two-factor sign-in is off: signing in asks only for your password.")
            return self._redirect_here(request)
        raise Http404("Unknown action.")

    def _redirect_here(self, request: HttpRequest) -> HttpResponse:
        next_url = _safe_next(request, request.POST.get("next"))
        url = reverse("two_factor")
        return redirect(f"{url}?{urlencode({'next': next_url})}" if next_url else url)


# --- API tokens ---------------------------------------------------------------------------


@method_decorator([login_required, never_cache], name="dispatch")
class ApiTokensView(View):
    """Your API tokens: issue one (its secret shown once), see them, revoke one or all."""

    template_name = "registration/api_tokens.html"

    def _render(
        self, request: HttpRequest, form: TokenNameForm, issued: tokens.IssuedToken | None = None
    ) -> HttpResponse:
        listed = [(tokens.token_id(token), token) for token in tokens.api_tokens_of(user=request.user)]
        context = {
            "tokens": listed,
            "form": form,
            "issued": issued,
            "token_days": settings.BATON_API_TOKEN_DAYS,
            "max_tokens": tokens.MAX_TOKENS_PER_USER,
        }
        return render(request, self.template_name, context)

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(request, TokenNameForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = TokenNameForm(request.POST)
        if not form.is_valid():
            return self._render(request, form)
        if two_factor.has_authenticator(request.user) and not _is_verified(request.user):
            form.add_error(None, "This session was not signed in with a code: sign out and in again to issue a token.")
            return self._render(request, form)
        try:
            issued = tokens.api_token_create(user=request.user, name=form.cleaned_data["name"])
        except ValidationError as exc:
            form.add_error(None, exc)
            return self._render(request, form)
        return self._render(request, TokenNameForm(), issued=issued)


@login_required
@require_POST
def api_token_revoke(request: HttpRequest, token_id: str) -> HttpResponse:
    try:
        tokens.api_token_revoke(user=request.user, token_id=token_id)
    except ApiToken.DoesNotExist as exc:
        raise Http404("No such token of yours.") from exc
    messages.success(request, "The token is revoked: requests that send it are refused from now on.")
    return redirect("api_tokens")


@login_required
@require_POST
def api_tokens_revoke_all(request: HttpRequest) -> HttpResponse:
    revoked = tokens.api_tokens_revoke_all(user=request.user)
    messages.success(request, f"{revoked} token{'s' if revoked != 1 else ''} revoked.")
    return redirect("api_tokens")


# --- Password -----------------------------------------------------------------------------


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's password change, which also revokes the user's API tokens (and keeps this
    session signed in, as Django does)."""

    template_name = "registration/password_change_form.html"
    success_url = reverse_lazy("password_change")

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        revoked = tokens.api_tokens_revoke_all(user=form.user)
        note = f" Your {revoked} API token{'s were' if revoked != 1 else ' was'} revoked." if revoked else ""
        messages.success(self.request, f"Your password is changed.{note}")
        return response
