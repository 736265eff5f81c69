"""The admin: changing a user's password there revokes their API tokens, as the password page
does; tokens can be seen and revoked (deleted), never issued, by an administrator.

django-otp's own admin lists the users' authenticator apps and recovery codes: deleting a user's
devices there turns their two-factor sign-in off (a lost phone)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse

from crm.security import tokens
from crm.security.models import ApiToken

User = get_user_model()


class PasswordChangeRevokesTokens:
    """A UserAdmin whose "change password" form also revokes the user's API tokens."""

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> HttpResponse:
        users = User._default_manager.filter(pk=unquote(id))
        before = users.values_list("password", flat=True).first()
        response = super().user_change_password(request, id, form_url)  # type: ignore[misc]
        changed = before is not None and users.values_list("password", flat=True).first() != before
        if request.method == "POST" and changed:
            tokens.api_tokens_revoke_all(user=users.get())
        return response


def revoke_tokens_on_admin_password_change(site: admin.AdminSite = admin.site) -> None:
    """Give the registered User admin (leads.admin.BatonUserAdmin, or Django's) the token revocation.

    Called from SecurityConfig.ready(), after every admin module is loaded, so it does not matter
    which app registers the User admin. (If that class lists PasswordChangeRevokesTokens among its
    bases, this does nothing.)
    """
    if not site.is_registered(User):
        return
    current = type(site.get_model_admin(User))
    if issubclass(current, PasswordChangeRevokesTokens):
        return
    site.unregister(User)
    site.register(User, type(current.__name__, (PasswordChangeRevokesTokens, current), {"__module__": __name__}))


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "created", "expiry"]
    list_select_related = ["user"]
    search_fields = ["name", "user__username"]
    fields = ["name", "user", "created", "expiry"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
