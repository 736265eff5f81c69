"""The in-app notifications: the list behind the navbar's bell, opening one, marking all read.

Everyone signed in has notifications (new assignments, SLA warnings and breaches,
reassignments); each person only ever sees and touches their own — another person's id is 404.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.views import View

from handoff import services
from handoff.models import Notification
from handoff.selectors import queue as selectors


class NotificationListView(LoginRequiredMixin, View):
    template_name = "handoff/notifications/list.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        unread_only = request.GET.get("show") == "unread"
        notifications = selectors.notifications_for(user=request.user, unread_only=unread_only)
        context = {
            "notifications": notifications,
            "unread_only": unread_only,
            "limit": selectors.NOTIFICATION_LIMIT,
            "truncated": len(notifications) >= selectors.NOTIFICATION_LIMIT,
        }
        return render(request, self.template_name, context)


class NotificationsReadAllView(LoginRequiredMixin, View):
    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponse:
        marked = services.notifications_mark_read(user=request.user)
        if marked:
            messages.success(request, f"Marked {marked} notification{'s' if marked != 1 else ''} as read.")
        else:
            messages.info(request, "Nothing was unread.")
        return redirect("handoff:notifications")


class NotificationOpenView(LoginRequiredMixin, View):
    """POST: mark one of your notifications read and go to its lead (or back to the list)."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        try:
            notification = selectors.notification_get(user=request.user, notification_id=pk)
        except Notification.DoesNotExist as exc:
            raise Http404("No such notification.") from exc
        services.notifications_mark_read(user=request.user, ids=[notification.pk])
        if notification.lead_id:
            return redirect(reverse("leads:detail", kwargs={"pk": notification.lead_id}))
        return redirect("handoff:notifications")


urlpatterns = [
    path("notifications/", NotificationListView.as_view(), name="notifications"),
    path("notifications/read-all/", NotificationsReadAllView.as_view(), name="notifications_read_all"),
    path("notifications/<int:pk>/open/", NotificationOpenView.as_view(), name="notification_open"),
]
