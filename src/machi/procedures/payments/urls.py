"""Payment pages: the card gateway's return and webhook."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
