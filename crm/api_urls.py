"""The REST API, version 1, mounted at /api/v1/. Schema at /api/schema/, docs at /api/docs/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from crm.api import TokenObtainView
from leads.api import ActivityIngestView, ActivityTypeViewSet, CampaignViewSet, FormCaptureView, LeadViewSet

# Path converters (`<int:pk>`, `<slug:slug>`), so the schema types the ids and a malformed one
# is a 404 before any view runs.
router = SimpleRouter(use_regex_path=False)
router.register("leads", LeadViewSet, basename="api-lead")
router.register("activity-types", ActivityTypeViewSet, basename="api-activity-type")
router.register("campaigns", CampaignViewSet, basename="api-campaign")

urlpatterns = [
    path("auth/token/", TokenObtainView.as_view(), name="api-token"),
    path("activities/", ActivityIngestView.as_view(), name="api-activities"),
    path("forms/capture/", FormCaptureView.as_view(), name="api-form-capture"),
    *router.urls,
]
