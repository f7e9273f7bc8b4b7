"""The captive portal (residents, /wifi/) and the RADIUS rlm_rest endpoints."""

from django.urls import URLPattern, URLResolver, path

from machi.wifi.portal import radius, views

app_name = "wifi_portal"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.landing, name="landing"),
    path("register/", views.register, name="register"),
    path("status/", views.status, name="status"),
    path("logout/", views.logout, name="logout"),
    path("confirm/<str:token>/", views.confirm, name="confirm"),
    path("login/oidc/", views.oidc_start, name="oidc_start"),
    path("login/oidc/callback/", views.oidc_callback, name="oidc_callback"),
    # RFC 8908; the URI a gateway announces in DHCP option 114 (RFC 8910).
    path("captive-portal-api", views.captive_api, name="captive_api"),
    path("radius/authorize", radius.authorize, name="radius_authorize"),
    path("radius/post-auth", radius.post_auth, name="radius_post_auth"),
    path("radius/accounting", radius.accounting, name="radius_accounting"),
    path("staff/", views.staff, name="staff"),
]
