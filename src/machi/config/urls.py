from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from machi.config.api import api
from machi.core import views as core_views

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.readyz, name="readyz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("api/v1/wifi/monitoring/", include("machi.wifi.urls_push")),
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
    path("console/disasters/", include("machi.emergency.urls")),
    path("console/shelters/offline/", include("machi.shelters.urls_offline")),
    path("console/shelters/paper/", include("machi.shelters.urls_paper")),
    path("console/shelters/", include("machi.shelters.urls")),
    path("console/chronology/", include("machi.emergency.urls_chronology")),
    path("console/weather/", include("machi.emergency.urls_weather")),
    path("console/wifi/monitor/", include("machi.wifi.urls_monitor")),
    path("console/wifi/", include("machi.wifi.urls")),
    path("console/notify/", include("machi.notify.urls")),
    path("console/recovery/", include("machi.recovery.urls")),
    path("console/procedures/", include("machi.procedures.urls")),
    path("console/guide/", include("machi.guide.urls")),
    path("console/opendata/", include("machi.opendata.urls")),
    path("console/insights/", include("machi.insights.urls")),
    path("api/3/action/", include("machi.opendata.urls_ckan")),
    path("console/", include("machi.emergency.urls_field")),
    path("", include("machi.shelters.urls_public")),
    path("", include("machi.emergency.urls_public")),
    path("wifi/", include("machi.wifi.portal.urls")),
    path("notify/", include("machi.notify.urls_public")),
    path("procedures/", include("machi.procedures.urls_public")),
    path("guide/", include("machi.guide.urls_public")),
    path("opendata/", include("machi.opendata.urls_public")),
    path("", include("machi.core.urls")),
]

handler404 = "machi.core.views.page_not_found"
handler403 = "machi.core.views.permission_denied"
handler500 = "machi.core.views.server_error"
