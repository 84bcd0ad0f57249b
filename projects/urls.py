"""URLs of the landing page, the dashboard and the project pages, namespaced `projects:`."""

from django.urls import path

from . import views

app_name = "projects"

urlpatterns = [
    path("", views.home, name="home"),
    path("projects/", views.project_list, name="list"),
    path("projects/new/", views.project_create, name="create"),
    path("projects/<str:public_id>/", views.project_detail, name="detail"),
    path("projects/<str:public_id>/rename/", views.project_rename, name="rename"),
    path("projects/<str:public_id>/settings/", views.project_settings, name="settings"),
    path(
        "projects/<str:public_id>/regenerate-key/",
        views.regenerate_key,
        name="regenerate-key",
    ),
    path("projects/<str:public_id>/delete/", views.project_delete, name="delete"),
    path("projects/<str:public_id>/key/", views.admin_key, name="key"),
    path("projects/<str:public_id>/stats/", views.project_stats, name="stats"),
    path("projects/<str:public_id>/webhook/", views.webhook_save, name="webhook"),
    path("projects/<str:public_id>/webhook/delete/", views.webhook_delete, name="webhook-delete"),
    path("projects/<str:public_id>/webhook/test/", views.webhook_test, name="webhook-test"),
    path("projects/<str:public_id>/webhook/secret/", views.webhook_secret, name="webhook-secret"),
]
