"""API tokens: issued to a user, listed and revoked by them, revoked when their password changes.

Tokens are django-rest-knox's (`ApiToken`): a random 64-character secret, of which only a SHA-512
digest is stored; the client sends `Authorization: Token <secret>`. Each expires
`BATON_API_TOKEN_DAYS` after it is issued. A token is named by the first characters of its digest
(`token_id`), which identify it without revealing anything of the secret.

Every door that changes a password calls `api_tokens_revoke_all`: the password page
(`crm.security.views.PasswordChangeView`) and the admin's password form (`crm.security.admin`).
Django sends no signal when a password changes, and Baton does not use signals for such flow
anyway; code that calls `set_password()` itself (a shell, `manage.py changepassword`) must call it
too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from knox.auth import TokenAuthentication
from rest_framework import exceptions

from crm.security import two_factor
from crm.security.models import ApiToken

TOKEN_ID_LENGTH = 16
MAX_TOKENS_PER_USER = 50


@dataclass(frozen=True)
class IssuedToken:
    """A token just issued: `key` is the secret, which is never shown again."""

    token: ApiToken
    key: str

    @property
    def id(self) -> str:
        return token_id(self.token)

    @property
    def expiry(self) -> datetime:
        return self.token.expiry


def token_id(token: ApiToken) -> str:
    return token.digest[:TOKEN_ID_LENGTH]


# --- Selectors ----------------------------------------------------------------------------


def api_tokens_of(*, user: AbstractBaseUser) -> list[ApiToken]:
    """The user's tokens that still work, newest first (the secret is not among their fields)."""
    return list(ApiToken.objects.filter(user=user, expiry__gt=timezone.now()).order_by("-created"))


# --- Services -----------------------------------------------------------------------------


@transaction.atomic
def api_token_create(*, user: AbstractBaseUser, name: str = "") -> IssuedToken:
    """Issue a token to `user`, valid for `BATON_API_TOKEN_DAYS` days; expired ones are purged."""
    now = timezone.now()
    ApiToken.objects.filter(user=user, expiry__lte=now).delete()
    if ApiToken.objects.filter(user=user).count() >= MAX_TOKENS_PER_USER:
        raise ValidationError(f"You already have {MAX_TOKENS_PER_USER} API tokens: revoke one you no longer use first.")
    token, key = ApiToken.objects.create(
        user=user, expiry=timedelta(days=settings.BATON_API_TOKEN_DAYS), name=name.strip()[:100]
    )
    return IssuedToken(token=token, key=key)


@transaction.atomic
def api_token_revoke(*, user: AbstractBaseUser, token_id: str) -> None:
    """Revoke one of `user`'s own tokens; another user's, or an unknown id, is ApiToken.DoesNotExist."""
    if len(token_id) != TOKEN_ID_LENGTH:
        raise ApiToken.DoesNotExist
    deleted, _ = ApiToken.objects.filter(user=user, digest__startswith=token_id).delete()
    if not deleted:
        raise ApiToken.DoesNotExist


@transaction.atomic
def api_tokens_revoke_all(*, user: AbstractBaseUser) -> int:
    """Revoke every token of `user` (they signed out everywhere, or their password changed)."""
    deleted, _ = ApiToken.objects.filter(user=user).delete()
    return deleted


# --- Authentication -----------------------------------------------------------------------


class ApiTokenAuthentication(TokenAuthentication):
    """knox's `Authorization: Token <secret>` authentication, in one query per request.

    knox reads all the user's other tokens on every request, to delete expired ones; Baton purges
    those when a token is issued, and an expired token is refused (and deleted) when it is used.
    A manager who must use two-factor sign-in and has no device set up is refused too, whatever
    tokens they hold (crm.security.two_factor).
    """

    def _cleanup_token(self, auth_token: ApiToken) -> bool:
        if auth_token.expiry is not None and auth_token.expiry <= timezone.now():
            auth_token.delete()
            return True
        return False

    def validate_user(self, auth_token: ApiToken) -> tuple[Any, ApiToken]:
        user, token = super().validate_user(auth_token)
        if two_factor.enrolment_missing(user):
            raise exceptions.AuthenticationFailed(two_factor.ENROLMENT_REQUIRED_MESSAGE)
        return user, token


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes it: `Authorization: Token <token>` (the scheme keeps the name
    DRF's token authentication had, so generated clients do not change)."""

    target_class = ApiTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        prefix = self.target.authenticate_header(None)  # "Token"
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix=prefix)
