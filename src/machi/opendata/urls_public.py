"""The public catalogue, under /opendata/."""

from django.urls import path

from machi.opendata import views_public

app_name = "opendata_public"

urlpatterns = [
    path("", views_public.catalogue, name="catalogue"),
    path("catalog.jsonld", views_public.catalogue_jsonld, name="catalogue_jsonld"),
    path("dataset/<slug:name>/", views_public.dataset, name="dataset"),
    path("dataset/<slug:name>.jsonld", views_public.dataset_jsonld, name="dataset_jsonld"),
    path(
        "dataset/<slug:name>/resource/<slug:key>/download/<str:filename>",
        views_public.download,
        name="download",
    ),
    path(
        "dataset/<slug:name>/resource/<slug:key>/excel/<str:filename>",
        views_public.excel,
        name="excel",
    ),
    path("public_wireless_lan.csv", views_public.legacy_wifi, name="legacy_wifi"),
]
