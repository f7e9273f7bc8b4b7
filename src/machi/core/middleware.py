"""Request context for the audit log, and the Content-Security-Policy header."""

from __future__ import annotations

import functools
import secrets
import time
from collections.abc import Callable
from typing import cast
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import auth, messages
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from machi.core import context


def client_ip(request: HttpRequest) -> str | None:
    """The client's address; behind the proxy (MACHI_BEHIND_PROXY) the nearest forwarded one."""
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[-1].strip() or None
    return request.META.get("REMOTE_ADDR") or None


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        channel = "api" if request.path.startswith("/api/") else "web"
        request_id = secrets.token_hex(8)
        with context.acting(
            user=None, ip_address=client_ip(request), channel=channel, request_id=request_id
        ):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response

    def process_view(self, request: HttpRequest, *args: object) -> None:
        # Runs after AuthenticationMiddleware: the audit log now knows who is asking.
        user = getattr(request, "user", None)
        if user is not None:
            context.set_user(user)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


@functools.cache
def _csp(tile_url: str, form_targets: tuple[str, ...]) -> str:
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            # Map tiles come from wherever MACHI_TILE_URL points (国土地理院 by default).
            f"img-src 'self' data: {_origin(tile_url)}".strip(),
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            # A form whose answer redirects elsewhere needs that place here too (Chromium
            # applies form-action to the redirect): the card gateway's payment page.
            " ".join(["form-action 'self'", *form_targets]),
            "frame-ancestors 'none'",
        ]
    )


def content_security_policy() -> str:
    """The policy for the current settings (read per response: tests change them)."""
    card = str(getattr(settings, "MACHI_CARD_PAGE_ORIGIN", "") or "") or _origin(
        str(getattr(settings, "MACHI_CARD_API_URL", "") or "")
    )
    return _csp(settings.MACHI_TILE_URL, (card,) if card else ())


class ContentSecurityPolicyMiddleware:
    """No inline script or style anywhere: every page must work under this policy."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", content_security_policy())
        response.headers.setdefault("Permissions-Policy", "geolocation=(self), camera=(self)")
        return response


SIGNED_IN_AT = "machi_signed_in_at"
SEEN_AT = "machi_seen_at"
# Writing the last-seen time at most once a minute keeps an active session from costing a
# database write on every request.
SEEN_RESOLUTION = 60


def session_started(request: HttpRequest) -> None:
    """Called at sign-in: the session's absolute lifetime counts from now."""
    now = time.time()
    request.session[SIGNED_IN_AT] = now
    request.session[SEEN_AT] = now


class StaffSessionTimeoutMiddleware:
    """A staff session ends after MACHI_SESSION_IDLE_MINUTES without a request, and
    SESSION_COOKIE_AGE (one shift) after sign-in however active it was (OWASP ASVS 3.3).
    The cookie's own expiry cannot enforce either: it slides whenever the session is saved."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            self._check(request)
        return self.get_response(request)

    def _check(self, request: HttpRequest) -> None:
        session = request.session
        now = time.time()
        started = session.get(SIGNED_IN_AT)
        seen = session.get(SEEN_AT)
        if started is None:
            # A session from before this check existed (or made by a test's force_login).
            session_started(request)
            return
        idle = settings.MACHI_SESSION_IDLE_MINUTES * 60
        reason = ""
        if now - float(started) > settings.SESSION_COOKIE_AGE:
            reason = "expired"
        elif idle and seen is not None and now - float(seen) > idle:
            reason = "idle"
        if reason:
            from machi.core import services
            from machi.core.roles import Action

            services.audit_record(
                action=Action.LOGOUT, record=cast(Model, request.user), detail={"reason": reason}
            )
            auth.logout(request)
            if reason == "idle":
                text = _(
                    "You were signed out after %(minutes)s minutes without activity. "
                    "Sign in again to go on."
                ) % {"minutes": settings.MACHI_SESSION_IDLE_MINUTES}
            else:
                text = _("Your session has ended at the end of its shift. Sign in again.")
            messages.info(request, text)
            return
        if seen is None or now - float(seen) >= SEEN_RESOLUTION:
            session[SEEN_AT] = now
