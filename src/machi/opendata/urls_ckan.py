"""The CKAN-compatible Action API, under /api/3/action/."""

from django.urls import path

from machi.opendata import ckan

app_name = "ckan"

urlpatterns = [
    path("<str:action>", ckan.action, name="action"),
]
