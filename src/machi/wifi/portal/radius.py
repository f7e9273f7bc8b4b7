"""The RADIUS side: FreeRADIUS's rlm_rest calls these for authorize, post-auth and accounting.

**MAC authentication.** The access point or gateway (the NAS) asks RADIUS about a device with
``User-Name`` = the device's MAC (hostapd's MAC ACL, OpenWrt, CoovaChilli ``macauth``), and
``Calling-Station-Id`` = the device's MAC, ``Called-Station-Id`` = "AP-MAC:SSID" (RFC 3580
§3.20-21). Authorize accepts a device that has a live portal session, answering with
``control:Cleartext-Password`` (the password MAC authentication carries: the MAC itself, or
``MACHI_WIFI_RADIUS_MAC_PASSWORD``) for FreeRADIUS's PAP to check, ``Session-Timeout`` (what is
left of the session), ``Acct-Interim-Interval`` and, with a data limit,
``ChilliSpot-Max-Total-Octets``. A device without a session is rejected (401), and the NAS
keeps it in the walled garden where the portal is. An access point in disaster or drill mode
(00000JAPAN) accepts every device without a session (``control:Auth-Type := Accept``).

**The wire format** is rlm_rest's JSON body (``body = 'json'``): each request attribute as
``{"type": …, "value": [ … ]}``. Status codes mean, for authorize: 200 with attributes
(ok/updated), 401 reject (the body's Reply-Message is sent), 403 userlock; for post-auth and
accounting: 204 ok.

**Who may call.** Only addresses in ``MACHI_WIFI_RADIUS_CLIENTS`` (default 127.0.0.1) that send
the shared secret ``MACHI_WIFI_RADIUS_SECRET`` in the ``X-Machi-Radius-Secret`` header (set in
FreeRADIUS with ``update control { &REST-HTTP-Header += "X-Machi-Radius-Secret: …" }``).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from machi.core.middleware import client_ip
from machi.wifi.portal import conf, selectors, services
from machi.wifi.portal.identity import normalise_mac, parse_called_station

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Machi-Radius-Secret"  # noqa: S105 - a header name, not a secret
MAX_BODY = 64 * 1024
# RFC 2865 integers are 32 bits: a larger data limit is sent as the largest one.
MAX_INTEGER = 2**32 - 1


def _allowed(request: HttpRequest) -> bool:
    secret = conf.radius_secret()
    sent = request.headers.get(SECRET_HEADER, "")
    if not secret or not hmac.compare_digest(sent.encode(), secret.encode()):
        return False
    address = client_ip(request)
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in conf.radius_clients())


def attributes(body: bytes) -> dict[str, list[str]]:
    """rlm_rest's JSON body → {"User-Name": ["aa-bb-…"], …}. Plain values are accepted too."""
    if len(body) > MAX_BODY:
        raise ValueError("body too large")
    data = json.loads(body or b"{}")
    if not isinstance(data, dict):
        raise ValueError("not an object")
    found: dict[str, list[str]] = {}
    for name, item in data.items():
        value = item.get("value") if isinstance(item, dict) else item
        values = value if isinstance(value, list) else [value]
        found[str(name)] = [str(v) for v in values if v is not None]
    return found


def _first(attrs: dict[str, list[str]], name: str) -> str:
    values = attrs.get(name) or [""]
    return values[0]


def _integer(attrs: dict[str, list[str]], name: str) -> int:
    value = _first(attrs, name)
    return int(value) if value.isascii() and value.isdecimal() else 0


def _octets(attrs: dict[str, list[str]], name: str) -> int:
    """RFC 2869 §5.1-2: the Gigawords attribute counts how often the 32-bit counter wrapped."""
    gigawords = _integer(attrs, name.replace("Octets", "Gigawords"))
    return gigawords * 2**32 + _integer(attrs, name)


def _client_mac(attrs: dict[str, list[str]]) -> str:
    return normalise_mac(_first(attrs, "Calling-Station-Id")) or normalise_mac(
        _first(attrs, "User-Name")
    )


def _station(attrs: dict[str, list[str]]) -> tuple[str, str]:
    """(AP MAC, SSID) from Called-Station-Id, else the AP MAC from NAS-Identifier."""
    ap_mac, ssid = parse_called_station(_first(attrs, "Called-Station-Id"))
    return ap_mac or normalise_mac(_first(attrs, "NAS-Identifier")), ssid


def _text(value: str) -> dict[str, Any]:
    # do_xlat off: a value is never expanded by FreeRADIUS as %{…}.
    return {"value": value, "do_xlat": False}


def _parse(request: HttpRequest) -> dict[str, list[str]] | HttpResponse:
    if not _allowed(request):
        log.warning("RADIUS call refused from %s", client_ip(request))
        return HttpResponse(status=403)
    try:
        return attributes(request.body)
    except (ValueError, UnicodeDecodeError):
        return HttpResponse(status=400)


@csrf_exempt
@never_cache
@require_POST
def authorize(request: HttpRequest) -> HttpResponse:
    attrs = _parse(request)
    if isinstance(attrs, HttpResponse):
        return attrs
    ap_mac, ssid = _station(attrs)
    decision = selectors.radius_decision(client_mac=_client_mac(attrs), ap_mac=ap_mac, ssid=ssid)
    if decision.disaster:
        return JsonResponse(
            {
                "control:Auth-Type": "Accept",
                "reply:Acct-Interim-Interval": conf.ACCT_INTERIM_SECONDS,
            }
        )
    if not decision.accept:
        return JsonResponse(
            {"reply:Reply-Message": _text("Log in on the free Wi-Fi portal first.")}, status=401
        )
    reply: dict[str, Any] = {
        "control:Cleartext-Password": _text(
            conf.radius_mac_password() or _first(attrs, "User-Name")
        ),
        "reply:Session-Timeout": decision.seconds_remaining,
        "reply:Acct-Interim-Interval": conf.ACCT_INTERIM_SECONDS,
    }
    if decision.bytes_remaining is not None:
        reply["reply:ChilliSpot-Max-Total-Octets"] = min(decision.bytes_remaining, MAX_INTEGER)
    return JsonResponse(reply)


@csrf_exempt
@never_cache
@require_POST
def post_auth(request: HttpRequest) -> HttpResponse:
    attrs = _parse(request)
    if isinstance(attrs, HttpResponse):
        return attrs
    ap_mac, _ssid = _station(attrs)
    # Called for accepted requests only (not from the Post-Auth-Type REJECT section).
    services.radius_post_auth(client_mac=_client_mac(attrs), ap_mac=ap_mac)
    return HttpResponse(status=204)


@csrf_exempt
@never_cache
@require_POST
def accounting(request: HttpRequest) -> HttpResponse:
    attrs = _parse(request)
    if isinstance(attrs, HttpResponse):
        return attrs
    ap_mac, _ssid = _station(attrs)
    packet = services.AccountingPacket(
        status=_first(attrs, "Acct-Status-Type"),
        nas=_first(attrs, "NAS-Identifier") or _first(attrs, "NAS-IP-Address"),
        session_id=_first(attrs, "Acct-Session-Id"),
        client_mac=_client_mac(attrs),
        ap_mac=ap_mac,
        input_octets=_octets(attrs, "Acct-Input-Octets"),
        output_octets=_octets(attrs, "Acct-Output-Octets"),
        session_seconds=_integer(attrs, "Acct-Session-Time"),
        terminate_cause=_first(attrs, "Acct-Terminate-Cause"),
    )
    services.radius_accounting(packet=packet)
    return HttpResponse(status=204)
