from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from crm import views
from crm.security import views as security_views
from crm.security.csp import api_docs_policy

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("livez", views.livez, name="livez"),
    path("status/", views.system_status_page, name="system_status"),
    path("accounts/login/", views.BatonLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/login/code/", security_views.SignInCodeView.as_view(), name="login_code"),
    path("accounts/two-factor/", security_views.TwoFactorView.as_view(), name="two_factor"),
    path("accounts/tokens/", security_views.ApiTokensView.as_view(), name="api_tokens"),
    path("accounts/tokens/revoke-all/", security_views.api_tokens_revoke_all, name="api_tokens_revoke_all"),
    path("accounts/tokens/<slug:token_id>/revoke/", security_views.api_token_revoke, name="api_token_revoke"),
    path("accounts/password/", security_views.PasswordChangeView.as_view(), name="password_change"),
    # The admin's own sign-in form would skip the code step: it is Baton's sign-in page (which
    # shows a signed-in user who may not open the admin that they cannot, instead of looping).
    path("admin/login/", views.BatonLoginView.as_view(redirect_authenticated_user=False), name="admin_login"),
    path("", include("leads.urls")),
    path("reports/", include("reporting.urls")),
    path("", include("handoff.urls")),
    path("api/v1/", include("crm.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The docs pages' scripts come from drf-spectacular-sidecar, but they style themselves inline:
    # their own Content-Security-Policy allows that, for these two pages only (crm/security/csp.py).
    path("api/docs/", api_docs_policy(SpectacularSwaggerSplitView.as_view(url_name="api-schema")), name="api-docs"),
    path("api/redoc/", api_docs_policy(SpectacularRedocView.as_view(url_name="api-schema")), name="api-redoc"),
    path("admin/", admin.site.urls),
]

# Under /api/ a URL that matches nothing answers JSON, as every API error does; pages keep 404.html.
handler404 = "crm.views.not_found"
