"""Pages of the captive portal (residents, no account), its RFC 8908 API, and the staff list.

**How a gateway sends a device here.** The access point or captive-portal gateway redirects an
unauthenticated device to ``/wifi/`` with query parameters naming it:

- ``client`` (or ``mac``, ``clientmac``, ``client_mac``): the device's MAC address;
- ``ap`` (or ``ap_mac``, ``apmac``, ``called``): the access point's MAC, or a
  Called-Station-Id "AP-MAC:SSID";
- ``ssid``: the SSID the device joined;
- ``url`` (or ``userurl``, ``redir``): the page the device wanted, offered again afterwards.

The portal remembers them in the browser's session. After a login the device's MAC has a live
portal session, and the gateway's next RADIUS request for that MAC is accepted (radius.py).
The RFC 8908 API takes the same ``client`` and ``ap`` parameters, so a gateway can announce a
per-device API URI in DHCP option 114 (RFC 8910).
"""

from __future__ import annotations

import logging
import urllib.parse
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from machi.core import access
from machi.core.roles import Action
from machi.core.services import audit_record_many
from machi.core.views import staff_required
from machi.wifi.portal import conf, oidc, selectors, services
from machi.wifi.portal.forms import RegisterForm
from machi.wifi.portal.identity import mask_mac, normalise_mac, parse_called_station
from machi.wifi.portal.models import EndReason, LoginMethod, PortalSession
from machi.wifi.portal.selectors import ClientInfo

log = logging.getLogger(__name__)

SESSION_CLIENT = "wifi_portal.client"
SESSION_ID = "wifi_portal.session"
SESSION_OIDC = "wifi_portal.oidc"

CLIENT_PARAMS = ("client", "mac", "clientmac", "client_mac")
AP_PARAMS = ("ap", "ap_mac", "apmac", "called")
SSID_PARAMS = ("ssid",)
URL_PARAMS = ("url", "userurl", "redir")
MAX_URL = 2000


def _param(request: HttpRequest, names: tuple[str, ...]) -> str:
    for name in names:
        value = request.GET.get(name, "")
        if value:
            return value.strip()
    return ""


def _from_query(request: HttpRequest) -> dict[str, str]:
    """What the gateway's redirect says about the device (normalised; empty when absent)."""
    ap_raw = _param(request, AP_PARAMS)
    ap_mac, called_ssid = parse_called_station(ap_raw)
    wanted = _param(request, URL_PARAMS)
    if urllib.parse.urlsplit(wanted).scheme not in {"http", "https"} or len(wanted) > MAX_URL:
        wanted = ""  # a link is offered, never a javascript: or data: one
    found = {
        "client": normalise_mac(_param(request, CLIENT_PARAMS)),
        "ap": ap_mac,
        "ssid": (_param(request, SSID_PARAMS) or called_ssid)[:32],
        "url": wanted,
    }
    return {key: value for key, value in found.items() if value}


def _remember_client(request: HttpRequest) -> ClientInfo:
    """The gateway's parameters, kept in the session for the pages that follow."""
    stored: dict[str, str] = dict(request.session.get(SESSION_CLIENT) or {})
    fresh = _from_query(request)
    if fresh and fresh != {key: stored.get(key) for key in fresh}:
        if fresh.get("client") and fresh.get("client") != stored.get("client"):
            stored = {}  # another device: forget the last one's AP and page
        stored.update(fresh)
        request.session[SESSION_CLIENT] = stored
    return _client_info(stored)


def _client_info(stored: dict[str, str]) -> ClientInfo:
    return ClientInfo(
        client_mac=stored.get("client", ""),
        ap_mac=stored.get("ap", ""),
        ssid=stored.get("ssid", ""),
    )


def _stored_client(request: HttpRequest) -> ClientInfo:
    return _client_info(dict(request.session.get(SESSION_CLIENT) or {}))


def _current_session(request: HttpRequest) -> PortalSession | None:
    return selectors.session_by_id(request.session.get(SESSION_ID))


def _page(
    request: HttpRequest, template: str, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    # Confirmation tokens and device addresses in URLs never travel on to other sites: the
    # site-wide Referrer-Policy is same-origin. (Not no-referrer here: Chromium then sends
    # "Origin: null" with the forms, which the CSRF check rightly refuses.)
    stored = dict(request.session.get(SESSION_CLIENT) or {})
    return render(
        request,
        template,
        {
            "wanted_url": stored.get("url", ""),
            "temporary_minutes": conf.TEMPORARY_MINUTES,
            **context,
        },
        status=status,
    )


def _landing(
    request: HttpRequest, form: RegisterForm, *, error: str = "", status: int = 200
) -> HttpResponse:
    session = _current_session(request)
    state = selectors.session_state(session) if session is not None else None
    return _page(
        request,
        "wifi_portal/landing.html",
        {
            "form": form,
            "error": error,
            "state": state if state is not None and state.active else None,
            "oidc_enabled": conf.oidc_enabled(),
            "oidc_label": conf.oidc_label(),
            "session_minutes": conf.session_minutes(),
            "session_mb": (conf.session_bytes() or 0) // 1_000_000,
            "retention_days": conf.retention_days(),
        },
        status=status,
    )


@never_cache
@require_GET
def landing(request: HttpRequest) -> HttpResponse:
    client = _remember_client(request)
    ap = selectors.access_point_by_mac(client.ap_mac)
    if selectors.in_disaster_mode(ap):
        return _page(request, "wifi_portal/disaster.html", {"ap": ap})
    return _landing(request, RegisterForm())


ERRORS = {
    "address": gettext_lazy(
        "This e-mail address was registered several times in the last hour. Wait a while and"
        " try again."
    ),
    "device": gettext_lazy(
        "This device has used the temporary access several times today. Confirm one of the"
        " e-mails we sent, or log in another way."
    ),
    "invalid": gettext_lazy(
        "This link is not valid: it was already used, or it is more than a day old."
    ),
    "ended": gettext_lazy(
        "The Wi-Fi session of this link has ended, or a newer login replaced it. Register again."
    ),
}


def _message(code: str) -> str:
    return str(ERRORS[code])


@never_cache
@require_POST
def register(request: HttpRequest) -> HttpResponse:
    client = _stored_client(request)
    if selectors.in_disaster_mode(selectors.access_point_by_mac(client.ap_mac)):
        return redirect("wifi_portal:landing")
    form = RegisterForm(request.POST)
    if not form.is_valid():
        return _landing(request, form, status=400)
    if request.session.session_key is None:
        request.session.save()
    try:
        session = services.registration_start(
            address=form.cleaned_data["email"],
            client=client,
            device_key=f"session:{request.session.session_key}",
            language=get_language() or "ja",
            link_for=lambda token: request.build_absolute_uri(
                reverse("wifi_portal:confirm", args=[token])
            ),
        )
    except services.PortalError as exc:
        response = _landing(request, form, error=_message(exc.code), status=429)
        response["Retry-After"] = "3600"
        return response
    request.session.cycle_key()
    request.session[SESSION_ID] = session.pk
    return redirect("wifi_portal:status")


@never_cache
@require_GET
def status(request: HttpRequest) -> HttpResponse:
    session = _current_session(request)
    if session is None:
        return redirect("wifi_portal:landing")
    state = selectors.session_state(session)
    return _page(
        request,
        "wifi_portal/status.html",
        {
            "session": session,
            "state": state,
            "hint": session.registration.address_hint if session.registration else "",
            "minutes_remaining": -(-state.seconds_remaining // 60),
            "mb_remaining": None
            if state.bytes_remaining is None
            else state.bytes_remaining // 1_000_000,
        },
    )


@never_cache
@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    session = _current_session(request)
    if session is not None:
        services.portal_session_end(session=session, reason=EndReason.LOGOUT)
        request.session.pop(SESSION_ID, None)
    return redirect("wifi_portal:landing")


@never_cache
@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button, POST confirms: mail scanners that open every link (and link
    previews) must not confirm on a resident's behalf."""
    if request.method == "GET":
        return _page(request, "wifi_portal/confirm.html", {"token": token})
    try:
        session = services.registration_confirm(token=token)
    except services.PortalError as exc:
        return _page(
            request, "wifi_portal/problem.html", {"message": _message(exc.code)}, status=400
        )
    request.session[SESSION_ID] = session.pk
    return redirect("wifi_portal:status")


# --- OpenID Connect ----------------------------------------------------------------------------


@never_cache
@require_GET
def oidc_start(request: HttpRequest) -> HttpResponse:
    """A link, not a form: browsers apply the CSP's form-action to a form's redirects, which
    would stop the way to the provider."""
    if not conf.oidc_enabled():
        raise Http404("no OpenID Connect provider is configured")
    try:
        url, pending = oidc.begin(
            redirect_uri=request.build_absolute_uri(reverse("wifi_portal:oidc_callback"))
        )
    except oidc.OidcError as exc:
        log.warning("OpenID Connect login could not start: %s", exc)
        return _oidc_problem(request, status=502)
    request.session[SESSION_OIDC] = pending
    return redirect(url)


def _oidc_problem(request: HttpRequest, *, status: int = 400) -> HttpResponse:
    message = _("The login with the other service did not work. Try again, or use e-mail.")
    return _page(request, "wifi_portal/problem.html", {"message": message}, status=status)


@never_cache
@require_GET
def oidc_callback(request: HttpRequest) -> HttpResponse:
    if not conf.oidc_enabled():
        raise Http404("no OpenID Connect provider is configured")
    pending = request.session.pop(SESSION_OIDC, None)
    error = request.GET.get("error", "")
    if error:
        log.info("OpenID Connect provider answered %s", error[:100])
        return _oidc_problem(request)
    try:
        identity = oidc.complete(
            code=request.GET.get("code", ""), state=request.GET.get("state", ""), pending=pending
        )
    except oidc.OidcError as exc:
        log.warning("OpenID Connect login refused: %s", exc)
        return _oidc_problem(request)
    session = services.oidc_session_start(
        issuer=identity.issuer, subject=identity.subject, client=_stored_client(request)
    )
    request.session.cycle_key()
    request.session[SESSION_ID] = session.pk
    return redirect("wifi_portal:status")


# --- RFC 8908 ----------------------------------------------------------------------------------


@never_cache
@require_GET
def captive_api(request: HttpRequest) -> HttpResponse:
    """RFC 8908 §5: the client's state as ``application/captive+json``. The device is known by
    the portal session in its cookie, or by the ``client`` (MAC) and ``ap`` parameters."""
    fresh = _from_query(request)
    stored = dict(request.session.get(SESSION_CLIENT) or {})
    client = _client_info({**stored, **fresh})
    session = _current_session(request)
    if session is not None and fresh.get("client") and session.client_mac != fresh["client"]:
        session = None  # the cookie is another device's
    query = {key: fresh[key] for key in ("client", "ap") if key in fresh}
    portal_url = request.build_absolute_uri(reverse("wifi_portal:landing"))
    if query:
        portal_url += "?" + urllib.parse.urlencode(query)
    answer = selectors.captive_status(session=session, client=client, portal_url=portal_url)
    response = JsonResponse(answer, content_type="application/captive+json")
    response["Cache-Control"] = "private, no-store"  # RFC 8908 §5: no caching by default
    return response


# --- Staff ------------------------------------------------------------------------------------


@staff_required
@require_GET
def staff(request: HttpRequest) -> HttpResponse:
    """Live sessions per site (WIFI_ADMIN, auditors): addresses and MACs masked; reading the
    list is written to the audit log, one event per session shown."""
    access.require(request.user, Action.READ, PortalSession)
    raw_site = request.GET.get("site", "")
    site_id = (
        int(raw_site)
        if raw_site.isascii() and raw_site.isdecimal() and len(raw_site) < 12
        else None
    )
    sessions = list(selectors.staff_sessions(request.user, site_id=site_id))
    audit_record_many(action=Action.READ, records=sessions)
    rows = [
        {
            "site": str(session.site) if session.site else "",
            "started_at": session.started_at,
            "expires_at": session.expires_at,
            "method": session.get_method_display(),
            "who": session.registration.address_hint
            if session.method == LoginMethod.EMAIL and session.registration
            else "",
            "temporary": session.method == LoginMethod.EMAIL and session.confirmed_at is None,
            "device": mask_mac(session.client_mac),
            "used_mb": round(session.used_octets / 1_000_000, 1),
        }
        for session in sessions
    ]
    return render(
        request,
        "wifi_portal/staff.html",
        {
            "rows": rows,
            "counts": selectors.staff_site_counts(request.user),
            "sites": selectors.staff_sites(),
            "site_id": site_id,
        },
    )
