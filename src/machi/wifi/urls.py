"""Wi-Fi console pages."""

from django.urls import URLPattern, URLResolver

app_name = "wifi"

urlpatterns: list[URLPattern | URLResolver] = []
