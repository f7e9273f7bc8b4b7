"""JMA warnings and alerts from other authorities (under /console/weather/)."""

from django.urls import URLPattern, URLResolver, path

from machi.emergency import views_weather

app_name = "weather"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views_weather.index, name="index"),
    path("warnings/", views_weather.warnings, name="warnings"),
    path("upload/", views_weather.upload, name="upload"),
    path(
        "suggestions/<int:suggestion_id>/declare/",
        views_weather.suggestion_declare,
        name="suggestion_declare",
    ),
    path(
        "suggestions/<int:suggestion_id>/dismiss/",
        views_weather.suggestion_dismiss,
        name="suggestion_dismiss",
    ),
    path("alerts/add/", views_weather.alert_add, name="alert_add"),
    path("alerts/<int:alert_id>/", views_weather.alert, name="alert"),
    path("rules/", views_weather.rules, name="rules"),
    path("rules/<int:rule_id>/deactivate/", views_weather.rule_deactivate, name="rule_deactivate"),
]
