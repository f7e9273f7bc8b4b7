"""Public documents of the Wi-Fi room (namespace wifi_public): the open dataset 07."""

from django.urls import path

from machi.wifi import views_public

app_name = "wifi_public"

urlpatterns = [
    path("public_wireless_lan.csv", views_public.dataset_07, name="dataset_07"),
]
