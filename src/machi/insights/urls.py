"""Staff pages of the insights room, under /console/insights/."""

from django.urls import path

from machi.insights import views

app_name = "insights"

urlpatterns = [
    path("", views.index, name="index"),
    path("figures.csv", views.export, name="export"),
    path("settings/", views.settings, name="settings"),
]
