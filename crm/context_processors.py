from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from crm.navigation import nav_items_for
from crm.roles import user_roles


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": [], "user_roles": []}
    return {
        "nav_items": [
            {"item": item, "active": request.path.startswith(item.url)} for item in nav_items_for(user)
        ],
        "user_roles": user_roles(user),
    }
