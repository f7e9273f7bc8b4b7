"""Staff payment actions: counter payment taken, 定額小為替 received, refund made."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
