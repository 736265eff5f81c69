"""The REST API, version 1, mounted at /api/v1/. Schema at /api/schema/, docs at /api/docs/."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from crm.security.api import TokenListView, TokenObtainView, TokenRevokeAllView, TokenRevokeView
from handoff.api import (
    AssignmentViewSet,
    LeadWorkViewSet,
    NotificationViewSet,
    OpportunityViewSet,
    QueueViewSet,
    RejectionReasonViewSet,
)
from leads.api import ActivityIngestView, ActivityTypeViewSet, CampaignViewSet, FormCaptureView, LeadViewSet

# Path converters (`<int:pk>`, `<slug:slug>`), so the schema types the ids and a malformed one
# is a 404 before any view runs.
router = SimpleRouter(use_regex_path=False)
router.register("leads", LeadViewSet, basename="api-lead")
router.register("activity-types", ActivityTypeViewSet, basename="api-activity-type")
router.register("campaigns", CampaignViewSet, basename="api-campaign")
# The handoff. LeadWorkViewSet has only per-lead actions (/leads/{id}/touches/, ...), so it adds
# routes under /leads/ without shadowing the lead endpoints above.
router.register("queue", QueueViewSet, basename="api-queue")
router.register("assignments", AssignmentViewSet, basename="api-assignment")
router.register("leads", LeadWorkViewSet, basename="api-lead-work")
router.register("opportunities", OpportunityViewSet, basename="api-opportunity")
router.register("rejection-reasons", RejectionReasonViewSet, basename="api-rejection-reason")
router.register("notifications", NotificationViewSet, basename="api-notification")

urlpatterns = [
    path("auth/token/", TokenObtainView.as_view(), name="api-token"),
    path("auth/tokens/", TokenListView.as_view(), name="api-tokens"),
    path("auth/tokens/revoke-all/", TokenRevokeAllView.as_view(), name="api-tokens-revoke-all"),
    path("auth/tokens/<slug:token_id>/", TokenRevokeView.as_view(), name="api-token-revoke"),
    path("activities/", ActivityIngestView.as_view(), name="api-activities"),
    path("forms/capture/", FormCaptureView.as_view(), name="api-form-capture"),
    path("reports/", include("reporting.api")),
    *router.urls,
]
