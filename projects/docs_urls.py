"""URLs of the public documentation pages, namespaced `docs:`."""

from django.urls import path

from . import docs_views

app_name = "docs"

urlpatterns = [
    path("", docs_views.index, name="index"),
    path("protocol/", docs_views.page, {"name": "protocol"}, name="protocol"),
    path("quickstart/", docs_views.page, {"name": "quickstart"}, name="quickstart"),
    path("limits/", docs_views.page, {"name": "limits"}, name="limits"),
    path("security/", docs_views.page, {"name": "security"}, name="security"),
    path("api/", docs_views.page, {"name": "api"}, name="api"),
]
