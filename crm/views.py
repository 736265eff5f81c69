from __future__ import annotations

from typing import Any

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Each role lands on the page it works from."""
    from crm.navigation import landing_url_for

    return redirect(landing_url_for(request.user))


class BatonLoginView(auth_views.LoginView):
    """The password step. A user with two-factor sign-in is not signed in yet: the code step
    (crm.security.views.SignInCodeView) does that once the code is right."""

    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form: Any) -> HttpResponse:
        from crm.security import two_factor

        user = form.get_user()
        if two_factor.has_authenticator(user):
            two_factor.pending_sign_in_start(self.request, user=user, redirect_to=self.get_success_url())
            return redirect("login_code")
        return super().form_valid(form)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The whole system's health, for monitoring: the database, Redis, and how long ago a Celery
    worker and beat last wrote their heartbeats; 503 when anything is down or stale, naming it.
    (Load balancers checking a web node alone poll /livez, which needs only the database.)"""
    from crm.heartbeats import system_status

    status = system_status()

    def process(state: Any) -> dict[str, Any]:
        return {
            "status": state.state,
            "last_seen": state.last_seen.isoformat() if state.last_seen else None,
            "age_seconds": int((status.checked_at - state.last_seen).total_seconds()) if state.last_seen else None,
            "processes": [{"name": beat.name, "last_seen": beat.at.isoformat(), "stale": beat.stale}
                          for beat in state.processes],
        }  # fmt: skip

    body = {
        "status": "ok" if status.healthy else "unhealthy",
        "problems": status.problems,
        "database": status.database,
        "redis": status.redis,
        "worker": process(status.workers),
        "beat": process(status.beat),
        "worker_last_seen": status.workers.last_seen.isoformat() if status.workers.last_seen else None,
    }
    return JsonResponse(body, status=200 if status.healthy else 503)


@never_cache
@require_GET
def livez(request: HttpRequest) -> JsonResponse:
    """A web node's own liveness, for load balancers: it answers, and reaches the database."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # the answer is the check
        return JsonResponse({"status": "unhealthy", "database": "unavailable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


@login_required
def system_status_page(request: HttpRequest) -> HttpResponse:
    """For managers: what /healthz says, readable — the database, Redis, every worker and beat
    with their last heartbeat, and the work waiting in the database for them."""
    from django.core.exceptions import PermissionDenied

    from crm.heartbeats import backlog, stale_after, system_status

    if not request.user.has_perm("crm.view_system_status"):
        raise PermissionDenied("Only managers see the system status.")
    status = system_status()
    return render(
        request,
        "crm/status.html",
        {"status": status, "stale_seconds": int(stale_after().total_seconds()), "backlog": backlog()},
    )


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """404: JSON (`{"detail": ...}`, as the API's own errors) for /api/ paths; the page otherwise."""
    from django.views.defaults import page_not_found

    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found: no API endpoint has this address."}, status=404)
    return page_not_found(request, exception)

