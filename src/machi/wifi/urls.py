"""Wi-Fi console pages (mounted at /console/wifi/)."""

from django.urls import URLPattern, URLResolver, path

from machi.wifi import views

app_name = "wifi"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.index, name="index"),
    path("sites/new/", views.site_create, name="site_create"),
    path("sites/<int:site_id>/edit/", views.site_edit, name="site_edit"),
    path("aps/new/", views.ap_create, name="ap_create"),
    path("aps/<int:ap_id>/edit/", views.ap_edit, name="ap_edit"),
    path("aps/<int:ap_id>/monitoring-key/", views.ap_monitoring_key, name="ap_monitoring_key"),
    path("profiles/", views.profiles, name="profiles"),
    path("profiles/new/", views.profile_create, name="profile_create"),
    path("profiles/<int:profile_id>/edit/", views.profile_edit, name="profile_edit"),
    path("disaster/", views.disaster, name="disaster"),
    path("usage/", views.usage, name="usage"),
    path("disaster/jobs/<uuid:job_id>/", views.job, name="job"),
    path("disaster/jobs/<uuid:job_id>/retry/", views.job_retry, name="job_retry"),
]
