"""API permissions: the same Django permissions that guard the pages."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import DjangoModelPermissions
from rest_framework.request import Request


class RolePermission(DjangoModelPermissions):
    """Authenticated, and holding the model permission for the method — reading included.

    DRF's DjangoModelPermissions lets any authenticated user read; Baton requires `view_*`.
    Views without a queryset declare `required_permissions` instead.
    """

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request: Request, view: Any) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        required = getattr(view, "required_permissions", None)
        if required is not None:
            return request.user.has_perms(required)
        return super().has_permission(request, view)
