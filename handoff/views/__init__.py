"""Handoff pages, one module per area; handoff/urls.py collects their urlpatterns."""
