"""Machine endpoints of the Wi-Fi room outside the NinjaAPI (NetJSON monitoring push),
mounted at /api/v1/wifi/monitoring/ before the API so that a plain Django view serves them."""

from django.urls import URLPattern, URLResolver, path

from machi.wifi import views_monitor

app_name = "wifi_push"

urlpatterns: list[URLPattern | URLResolver] = [
    path("<str:mac>", views_monitor.push, name="push"),
]
