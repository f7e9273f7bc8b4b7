"""Wi-Fi console pages."""

from django.urls import URLPattern, URLResolver

app_name = "wifi_monitor"

urlpatterns: list[URLPattern | URLResolver] = []
