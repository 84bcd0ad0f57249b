"""The root URLs: the Django admin, accounts, the API, the docs, /metrics and the dashboard."""

from django.contrib import admin
from django.urls import include, path

from realtime import api

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("api/v1/", api.urls()),
    path("docs/", include("projects.docs_urls")),
    path("", include("realtime.urls")),
    path("", include("projects.urls")),
]
