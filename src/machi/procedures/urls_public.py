"""Residents' pages of the procedures room (電子申請), under /procedures/."""

from django.urls import include, path

app_name = "portal"

urlpatterns = [
    path("id/", include("machi.procedures.identity.urls")),
    path("pay/", include("machi.procedures.payments.urls")),
]
