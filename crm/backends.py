"""Authentication backends."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission


class PermissionBackend(ModelBackend):
    """Django's ModelBackend, reading a user's permissions in one query instead of two.

    Every page and API call checks a permission, and the navigation shows what the user's roles
    allow, so every request loads the user's permissions: ModelBackend reads those given to the
    user and those of their groups (Baton's roles) separately. Here one UNION reads both. What a
    user may do is exactly what ModelBackend says (tests/test_auth.py holds them equal).
    """

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            names = Permission.objects.order_by().values_list("content_type__app_label", "codename")
            if not user_obj.is_superuser:
                names = names.filter(user=user_obj).union(names.filter(group__user=user_obj))
            user_obj._perm_cache = {f"{app_label}.{codename}" for app_label, codename in names}
        return user_obj._perm_cache
