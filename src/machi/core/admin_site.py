"""The Django admin as the administrators' back office, behind Machi's 2FA sign-in."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from machi.core import access
from machi.core.roles import Role


class MachiAdminSite(admin.AdminSite):
    site_header = _("Machi back office")
    site_title = _("Machi")
    index_title = _("Administration")

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(
            user.is_active
            and user.is_authenticated
            and Role.SYSADMIN in access.Grants.of(user).roles
        )

    def login(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        # One sign-in for the whole site, with its second factor: never Django's own form.
        return redirect_to_login(
            request.GET.get("next", reverse("admin:index")), reverse("core:login")
        )
