"""The report pages, mounted at /reports/ by crm/urls.py. The report API's routes live in
`reporting.api.urlpatterns`, mounted at /api/v1/reports/ by crm/api_urls.py."""

from django.urls import path

from reporting import views

app_name = "reporting"
urlpatterns = [
    path("", views.FunnelView.as_view(), name="funnel"),
    path("velocity/", views.VelocityView.as_view(), name="velocity"),
    path("sla/", views.SlaView.as_view(), name="sla"),
    path("marketing/", views.MarketingView.as_view(), name="marketing"),
    path("feedback/", views.FeedbackView.as_view(), name="feedback"),
    path("reps/", views.RepsView.as_view(), name="reps"),
]
