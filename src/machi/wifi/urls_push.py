"""Machine endpoints of the Wi-Fi room outside the NinjaAPI (NetJSON monitoring push)."""

from django.urls import URLPattern, URLResolver

app_name = "wifi_push"

urlpatterns: list[URLPattern | URLResolver] = []
