"""Shelter pages: offline (see the module that defines the views)."""

from django.urls import URLPattern, path

from machi.shelters import views_offline

app_name = "shelters_offline"

urlpatterns: list[URLPattern] = [
    path("", views_offline.index, name="index"),
    path("sw.js", views_offline.service_worker, name="service_worker"),
    path("manifest.webmanifest", views_offline.manifest, name="manifest"),
    path("<int:opening_id>/", views_offline.console, name="console"),
]
