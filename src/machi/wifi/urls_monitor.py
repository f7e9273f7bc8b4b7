"""Wi-Fi monitoring pages of the console (mounted at /console/wifi/monitor/)."""

from django.urls import URLPattern, URLResolver, path

from machi.wifi import views_monitor

app_name = "wifi_monitor"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views_monitor.board, name="board"),
    path("ap/<int:ap_id>/", views_monitor.ap_detail, name="ap"),
    path("site/<int:site_id>/", views_monitor.site_detail, name="site"),
]
