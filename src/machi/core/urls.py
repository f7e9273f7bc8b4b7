from django.urls import path

from machi.core import views

app_name = "core"

urlpatterns = [
    path("", views.portal_home, name="portal_home"),
    path("shelters/", views.portal_shelters, name="portal_shelters"),
    path("console/login/", views.login, name="login"),
    path("console/login/verify/", views.login_verify, name="login_verify"),
    path("console/logout/", views.logout, name="logout"),
    path("console/", views.console, name="console"),
    path("console/facilities/", views.console_facilities, name="console_facilities"),
    path("console/audit/", views.console_audit, name="console_audit"),
    path("console/audit/export/", views.console_audit_export, name="console_audit_export"),
    path("console/audit/reads/", views.console_audit_reads, name="console_audit_reads"),
    path("console/jobs/<uuid:job_id>/", views.job_detail, name="job_detail"),
    path("console/jobs/<uuid:job_id>/download/", views.job_download, name="job_download"),
]
