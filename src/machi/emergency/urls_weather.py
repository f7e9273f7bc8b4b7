"""JMA warnings and alerts from other authorities (under /console/weather/)."""

from django.urls import URLPattern, URLResolver

app_name = "weather"

urlpatterns: list[URLPattern | URLResolver] = []
