from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from crm.tasks import HEARTBEAT_KEY


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Each role lands on the page it works from."""
    from crm.navigation import landing_url_for

    return redirect(landing_url_for(request.user))


class BatonLoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers: database and cache reachable, when a worker last ran."""
    status = {"database": "ok", "cache": "ok", "worker_last_seen": None}
    healthy = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        status["database"], healthy = "unavailable", False
    try:
        status["worker_last_seen"] = cache.get(HEARTBEAT_KEY)
    except Exception:
        status["cache"], healthy = "unavailable", False
    return JsonResponse(status, status=200 if healthy else 503)
