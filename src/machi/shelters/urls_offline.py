"""Shelter pages: offline (see the module that defines the views)."""

from django.urls import URLPattern

app_name = "shelters_offline"

urlpatterns: list[URLPattern] = []
