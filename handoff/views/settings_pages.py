"""settings_pages pages of the handoff (see handoff/urls.py)."""

urlpatterns: list = []
