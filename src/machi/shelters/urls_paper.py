"""Shelter pages: paper (see the module that defines the views)."""

from django.urls import URLPattern

app_name = "shelters_paper"

urlpatterns: list[URLPattern] = []
