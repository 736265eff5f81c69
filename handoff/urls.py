from handoff.views import notifications, queue, settings_pages, workspace

app_name = "handoff"
urlpatterns = [
    *queue.urlpatterns,
    *workspace.urlpatterns,
    *settings_pages.urlpatterns,
    *notifications.urlpatterns,
]
