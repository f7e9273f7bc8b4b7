"""Pages of incident reports and tasks between departments (under /console/)."""

from django.urls import URLPattern, URLResolver, path

from machi.emergency import views_field as views

app_name = "field"

urlpatterns: list[URLPattern | URLResolver] = [
    path("incidents/", views.incidents, name="incidents"),
    path("incidents/new/", views.incident_new, name="incident_new"),
    path("incidents/export.csv", views.incidents_csv, name="incidents_csv"),
    path("incidents/<uuid:incident_id>/", views.incident, name="incident"),
    path("incidents/<uuid:incident_id>/status/", views.incident_status, name="incident_status"),
    path("incidents/<uuid:incident_id>/assign/", views.incident_assign, name="incident_assign"),
    path(
        "incidents/<uuid:incident_id>/photos/", views.incident_photo_add, name="incident_photo_add"
    ),
    path(
        "incidents/<uuid:incident_id>/photos/<uuid:photo_id>",
        views.incident_photo,
        name="incident_photo",
    ),
    path("tasks/", views.tasks, name="tasks"),
    path("tasks/new/", views.task_new, name="task_new"),
    path("tasks/<int:task_id>/", views.task, name="task"),
    path("tasks/<int:task_id>/status/", views.task_status, name="task_status"),
]
