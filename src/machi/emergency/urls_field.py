"""Pages of incident reports and tasks between departments (under /console/)."""

from django.urls import URLPattern, URLResolver

app_name = "field"

urlpatterns: list[URLPattern | URLResolver] = []
