"""Staff pages of the procedures room (窓口・電子申請)."""

from django.urls import include, path

from machi.procedures import views

app_name = "procedures"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("bulk/", views.bulk, name="bulk"),
    path("assign/", views.assign, name="assign"),
    path("catalogue/", views.catalogue, name="catalogue"),
    path("payments/", include("machi.procedures.payments.urls_console")),
    path("print/", include("machi.procedures.urls_print")),
    path("handoff/", include("machi.procedures.urls_handoff")),
    path("<str:reference>/", views.detail, name="detail"),
    path("<str:reference>/status/", views.move, name="move"),
]
