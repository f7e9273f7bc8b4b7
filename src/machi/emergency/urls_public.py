"""Public pages of the emergency room, included at the root (namespace emergency_public)."""

from django.urls import path

from machi.emergency import views_public

app_name = "emergency_public"

urlpatterns = [
    path("evacuation/", views_public.evacuation, name="evacuation"),
    path("cap/feed.atom", views_public.cap_feed, name="cap_feed"),
    path("cap/<str:identifier>.xml", views_public.cap_document, name="cap"),
]
