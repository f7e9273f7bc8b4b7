"""Identity pages (OpenID Connect sign-in and callback, the client's JWKS), under
/procedures/id/ in the "portal" namespace."""

from django.urls import path

from machi.procedures.identity import oidc_views

urlpatterns = [
    path("login/", oidc_views.login, name="oidc_login"),
    path("callback/", oidc_views.callback, name="oidc_callback"),
    path("jwks.json", oidc_views.jwks, name="oidc_jwks"),
]
