"""Staff pages of the open data room, under /console/opendata/."""

from django.urls import path

from machi.opendata import views

app_name = "opendata"

urlpatterns = [
    path("", views.index, name="index"),
    path("generate/", views.generate, name="generate"),
    path("check/", views.check, name="check"),
    path("new/", views.dataset_edit, name="dataset_new"),
    path("<slug:name>/", views.dataset_edit, name="dataset_edit"),
    path("<slug:name>/files/", views.resource_add, name="resource_add"),
    path("<slug:name>/files/<slug:key>/remove/", views.resource_remove, name="resource_remove"),
    path("<slug:name>/files/<slug:key>/report/", views.report, name="report"),
]
