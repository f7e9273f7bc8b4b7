"""Request context for the audit log, and the Content-Security-Policy header."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse

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
