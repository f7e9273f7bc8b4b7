"""Residents' pages of the procedures room (電子申請), under /procedures/."""

from django.urls import include, path

from machi.procedures import views_portal as views

app_name = "portal"

urlpatterns = [
    path("", views.index, name="index"),
    path("mine/", views.mine, name="mine"),
    path("id/email/", views.email, name="email"),
    path("id/email/code/", views.email_code, name="email_code"),
    path("id/sign-out/", views.sign_out, name="sign_out"),
    path("id/", include("machi.procedures.identity.urls")),
    path("pay/", include("machi.procedures.payments.urls")),
    path("apply/<uuid:draft_id>/step/<int:number>/", views.step, name="step"),
    path("apply/<uuid:draft_id>/saved/", views.saved, name="saved"),
    path("apply/<uuid:draft_id>/check/", views.check, name="check"),
    path("apply/<uuid:draft_id>/application.json", views.signing_data, name="signing_data"),
    path("resume/<str:token>/", views.resume, name="resume"),
    path("done/<str:reference>/", views.done, name="done"),
    path("status/<str:reference>/<str:key>/", views.status, name="status"),
    path("<slug:slug>/", views.procedure, name="procedure"),
    path("<slug:slug>/identify/", views.identify, name="identify"),
]
