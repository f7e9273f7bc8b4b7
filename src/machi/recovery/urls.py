"""Staff pages of the recovery room (被災者支援)."""

from django.urls import path

from machi.recovery import views

app_name = "recovery"

urlpatterns = [
    path("", views.index, name="index"),
    path("households/new/", views.household_new, name="household_new"),
    path("households/<int:household_id>/", views.household_detail, name="household"),
    path("households/<int:household_id>/support/", views.support_add, name="support_add"),
    path(
        "households/<int:household_id>/resurvey/",
        views.resurvey_request,
        name="resurvey_request",
    ),
    path(
        "households/<int:household_id>/certificate/",
        views.application_receive,
        name="application_receive",
    ),
    path("households/<int:household_id>/grants/", views.grant_apply, name="grant_apply"),
    path(
        "applications/<int:application_id>/review/",
        views.application_review,
        name="application_review",
    ),
    path(
        "applications/<int:application_id>/issue/",
        views.application_issue,
        name="application_issue",
    ),
    path(
        "certificates/<int:certificate_id>/reissue/",
        views.certificate_reissue,
        name="certificate_reissue",
    ),
    path("grants/<int:grant_id>/status/", views.grant_status, name="grant_status"),
    path("surveys/new/", views.survey_new, name="survey_new"),
    path("surveys/<uuid:survey_id>/", views.survey_detail, name="survey"),
    path("certificates/", views.bulk, name="bulk"),
    path("certificates/bulk/", views.bulk_start, name="bulk_start"),
    path("certificates/bulk/<int:batch_id>/pause/", views.bulk_pause, name="bulk_pause"),
    path("certificates/bulk/<int:batch_id>/resume/", views.bulk_resume, name="bulk_resume"),
    path("rules/", views.rule_tables, name="rules"),
]
