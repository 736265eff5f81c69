from django.urls import path

from leads import views

app_name = "leads"
urlpatterns = [
    path("", views.LeadListView.as_view(), name="list"),
    path("new/", views.LeadCreateView.as_view(), name="create"),
    path("<int:pk>/", views.LeadDetailView.as_view(), name="detail"),
    path("<int:pk>/edit/", views.LeadEditView.as_view(), name="edit"),
    path("<int:pk>/stage/", views.LeadTransitionView.as_view(), name="transition"),
]
