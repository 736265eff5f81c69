from django.urls import include, path

from leads import views, views_imports, views_scoring

app_name = "leads"
# Mounted at the site root (crm/urls.py): lead pages under /leads/, scoring, jobs and imports beside.
lead_urlpatterns = [
    path("", views.LeadListView.as_view(), name="list"),
    path("new/", views.LeadCreateView.as_view(), name="create"),
    path("<int:pk>/", views.LeadDetailView.as_view(), name="detail"),
    path("<int:pk>/edit/", views.LeadEditView.as_view(), name="edit"),
    path("<int:pk>/stage/", views.LeadTransitionView.as_view(), name="transition"),
    path("<int:pk>/merge/", views.LeadMergeView.as_view(), name="merge"),
]

# The scoring page: the active model, the draft editor, preview and publish.
scoring_urlpatterns = [
    path("scoring/", views_scoring.ScoringOverviewView.as_view(), name="scoring"),
    path("scoring/versions/<int:pk>/", views_scoring.ScoringVersionView.as_view(), name="scoring_version"),
    path("scoring/draft/", views_scoring.ScoringDraftCreateView.as_view(), name="scoring_draft_create"),
    path("scoring/drafts/<int:pk>/", views_scoring.ScoringDraftView.as_view(), name="scoring_draft"),
    path("scoring/drafts/<int:pk>/fit/new/", views_scoring.FitRuleView.as_view(), name="scoring_fit_rule_add"),
    path(
        "scoring/drafts/<int:pk>/fit/<int:rule_id>/",
        views_scoring.FitRuleView.as_view(),
        name="scoring_fit_rule_edit",
    ),
    path(
        "scoring/drafts/<int:pk>/engagement/new/",
        views_scoring.EngagementRuleView.as_view(),
        name="scoring_engagement_rule_add",
    ),
    path(
        "scoring/drafts/<int:pk>/engagement/<int:rule_id>/",
        views_scoring.EngagementRuleView.as_view(),
        name="scoring_engagement_rule_edit",
    ),
    path(
        "scoring/drafts/<int:pk>/<str:kind>/<int:rule_id>/delete/",
        views_scoring.ScoringRuleDeleteView.as_view(),
        name="scoring_rule_delete",
    ),
    path("scoring/drafts/<int:pk>/preview/", views_scoring.ScoringPreviewView.as_view(), name="scoring_preview"),
    path("scoring/drafts/<int:pk>/publish/", views_scoring.ScoringPublishView.as_view(), name="scoring_publish"),
    # Progress of background jobs (previews, rescoring, imports), polled by static/js/jobs.js.
    path("jobs/<int:pk>/", views_scoring.JobStatusView.as_view(), name="job"),
]

# CSV import of leads and activities.
import_urlpatterns = [
    path("imports/", views_imports.ImportListView.as_view(), name="imports"),
    path("imports/<int:pk>/", views_imports.ImportDetailView.as_view(), name="import_detail"),
    path("imports/<int:pk>/map/", views_imports.ImportMapView.as_view(), name="import_map"),
    path("imports/<int:pk>/failed-rows.csv", views_imports.ImportFailuresView.as_view(), name="import_failures"),
]

urlpatterns = [path("leads/", include(lead_urlpatterns)), *scoring_urlpatterns, *import_urlpatterns]
