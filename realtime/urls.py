"""The relay's HTTP URLs: the operators' /metrics page."""

from django.urls import path

from . import views

app_name = "realtime"

urlpatterns = [
    path("metrics", views.metrics_page, name="metrics"),
]
