"""Identity pages (OpenID Connect login and callback, the client's JWKS)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
