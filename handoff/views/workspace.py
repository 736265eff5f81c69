"""workspace pages of the handoff (see handoff/urls.py)."""

urlpatterns: list = []
