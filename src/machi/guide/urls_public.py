"""The residents' FAQ assistant, under /guide/."""

from django.urls import path

from machi.guide import views_public

app_name = "guide_public"

urlpatterns = [
    path("", views_public.ask, name="ask"),
    path("feedback/", views_public.feedback, name="feedback"),
]
