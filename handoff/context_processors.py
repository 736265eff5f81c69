"""Template context for every page: the signed-in user's unread notification count (the bell).

Registered in settings TEMPLATES["OPTIONS"]["context_processors"] as
"handoff.context_processors.notifications". The count is lazy: one COUNT query, only on pages
that show the bell, and at most once per page however often the template reads it.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject


def notifications(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"unread_notifications": 0}

    def count() -> int:
        from handoff.selectors.queue import notifications_unread_count

        return notifications_unread_count(user=user)

    return {"unread_notifications": SimpleLazyObject(count)}
