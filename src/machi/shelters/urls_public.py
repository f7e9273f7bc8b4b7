"""Public pages of the shelters room, included at the root under the namespace shelters_public."""

from django.urls import path

from machi.shelters import views_public

app_name = "shelters_public"

urlpatterns = [
    path("shelters/status/", views_public.status, name="status"),
    path("shelters/status.csv", views_public.status_csv, name="status_csv"),
    path("register/", views_public.register, name="register"),
    path("register/<str:code>/", views_public.registration, name="registration"),
]
