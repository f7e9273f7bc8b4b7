"""The chronology pages (under /console/chronology/)."""

from django.urls import URLPattern, URLResolver

app_name = "chronology"

urlpatterns: list[URLPattern | URLResolver] = []
