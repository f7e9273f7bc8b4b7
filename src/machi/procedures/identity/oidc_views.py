"""Residents' sign-in with OpenID Connect: start, the provider's answer, the client's keys.

``login`` is reached by a link, not a form: browsers apply the CSP's form-action to a form's
redirects, which would stop the way to the provider. Failures are shown to the resident in
plain words and audited by the check that failed only: no subject, name or token.
"""

from __future__ import annotations

import logging
import urllib.parse

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from machi.core import ratelimit
from machi.core import services as core_services
from machi.core.middleware import client_ip
from machi.core.roles import Action
from machi.procedures.identity import base, oidc
from machi.procedures.identity.oidc import OIDCError

log = logging.getLogger(__name__)

RATE_SCOPE = "procedures-oidc-ip"
RATE_WINDOW = 60 * 60
AUDIT_TYPE = "procedures.identity"


def _rate_limit() -> int:
    # A shelter's 00000JAPAN puts many residents behind one address: a city may raise it.
    return int(getattr(settings, "MACHI_OIDC_RATE_LIMIT", 300))


def _safe_next(request: HttpRequest, target: str) -> str:
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return oidc.DEFAULT_NEXT


def _retry_url(target: str) -> str:
    return reverse("portal:oidc_login") + "?" + urllib.parse.urlencode({"next": target})


def _problem(
    request: HttpRequest, message: str, *, status: int, retry_url: str = ""
) -> HttpResponse:
    return render(
        request,
        "procedures/identity/error.html",
        {"message": message, "retry_url": retry_url},
        status=status,
    )


def _refused(request: HttpRequest) -> HttpResponse | None:
    """The answer when OpenID Connect is off or this address tried too often, else None."""
    if not oidc.configured():
        return _problem(
            request, _("Signing in with an identity provider is not available here."), status=503
        )
    if not ratelimit.hit(
        RATE_SCOPE, client_ip(request) or "?", limit=_rate_limit(), window=RATE_WINDOW
    ):
        response = _problem(request, _("Too many requests. Try again later."), status=429)
        response["Retry-After"] = str(ratelimit.seconds_left(RATE_WINDOW))
        return response
    return None


@never_cache
@require_GET
def login(request: HttpRequest) -> HttpResponse:
    """Send the resident to the provider; ``next`` is where they come back to."""
    refused = _refused(request)
    if refused is not None:
        return refused
    target = _safe_next(request, request.GET.get("next", ""))
    try:
        url = oidc.begin(request, target)
    except OIDCError as exc:
        log.warning("OpenID Connect sign-in could not start: %s", exc.reason)
        return _problem(request, str(exc), status=503 if exc.reason == "off" else 502)
    return redirect(url)


@never_cache
@require_GET
def callback(request: HttpRequest) -> HttpResponse:
    """The provider's answer: the resident is signed in for procedures, or told why not."""
    refused = _refused(request)
    if refused is not None:
        return refused
    target = _safe_next(request, oidc.next_url(request))
    try:
        identity = oidc.finish(request)
    except OIDCError as exc:
        log.info("OpenID Connect sign-in refused: %s", exc.reason)
        core_services.audit_record(
            action=Action.LOGIN_FAILED,
            object_type=AUDIT_TYPE,
            detail={"method": "oidc", "reason": exc.reason},
        )
        return _problem(request, str(exc), status=400, retry_url=_retry_url(target))
    base.session_remember(request, identity)
    core_services.audit_record(
        action=Action.LOGIN, object_type=AUDIT_TYPE, detail={"method": "oidc"}
    )
    return redirect(target)


@require_GET
def jwks(request: HttpRequest) -> JsonResponse:
    """The public half of the client's key, for the provider to check our assertions."""
    if oidc.client_auth() != "private_key_jwt":
        raise Http404("the client does not authenticate with a key")
    response = JsonResponse(oidc.client_jwks(), content_type="application/jwk-set+json")
    response["Cache-Control"] = "public, max-age=3600"
    return response
