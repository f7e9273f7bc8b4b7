"""API authentication: bearer tokens for scripts, the 2FA staff session for pages."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja.security import APIKeyCookie, HttpBearer
from ninja.throttling import BaseThrottle

from machi.core import access, context, ratelimit, services
from machi.core.middleware import client_ip


class BearerTokenAuth(HttpBearer):
    openapi_description = "A token from `machi token create USERNAME`."

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        user = services.token_authenticate(token)
        if user is None or not access.is_staff_member(user):
            return None
        request.user = user
        context.set_user(user)
        return user


class StaffSessionAuth(APIKeyCookie):
    """The staff console's session cookie; unsafe methods also need the CSRF token."""

    param_name = "sessionid"
    openapi_description = (
        "A signed-in staff session (two-factor), with X-CSRFToken. Over HTTPS the cookie is "
        "named `__Host-sessionid` (bound to this host, Secure, path /)."
    )

    def _get_key(self, request: HttpRequest) -> str | None:
        # Without a session cookie this scheme does not apply: answer 401 (not a CSRF 403),
        # so a script with a wrong bearer token learns what is really wrong.
        name = settings.SESSION_COOKIE_NAME
        if name not in request.COOKIES:
            return None
        super()._get_key(request)  # the CSRF check
        return request.COOKIES[name]

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and access.is_staff_member(user):
            context.set_user(user)
            return user
        return None


class FixedWindowThrottle(BaseThrottle):
    """API rate limit per user (authenticated) or per address (anonymous), per minute.

    Counted in the "ratelimit" cache: Redis when configured, otherwise each web process's
    memory (so without Redis the limit applies per process).
    """

    WINDOW = 60

    def __init__(self, *, per_minute: int, authenticated: bool) -> None:
        self.per_minute = per_minute
        self.authenticated = authenticated

    def allow_request(self, request: HttpRequest) -> bool:
        user = getattr(request, "auth", None)
        if (user is not None) != self.authenticated:
            return True
        ident = f"u{user.pk}" if user is not None else (client_ip(request) or "?")
        scope = "api-user" if self.authenticated else "api-anon"
        return ratelimit.hit(
            scope, ident, limit=self.per_minute, window=self.WINDOW, alias="ratelimit"
        )

    def wait(self) -> float | None:
        return float(ratelimit.seconds_left(self.WINDOW))
