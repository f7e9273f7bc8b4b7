"""The captive portal (residents, /wifi/) and the RADIUS rlm_rest endpoints."""

from django.urls import URLPattern, URLResolver

app_name = "wifi_portal"

urlpatterns: list[URLPattern | URLResolver] = []
