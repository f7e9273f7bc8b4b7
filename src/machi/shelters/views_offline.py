"""Pages of the offline shelter console (a PWA): the console of one opening, the list of the
openings a member of staff works at, the service worker and the web app manifest.

The console page is an empty shell the service worker keeps: what it shows (the roster, the
work waiting to be sent) lives in the browser's IndexedDB and is drawn by offline.js, so the
same page works with and without the server.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from machi.core import access
from machi.core.roles import Action
from machi.core.views import staff_required
from machi.shelters import selectors
from machi.shelters.forms import CodeCheckinForm, QuickRegisterForm
from machi.shelters.models import Need, Opening, OpeningStatus

SW_SCRIPT = "shelters/offline/sw.js"
# What the console page loads: kept by the service worker so the page opens offline. The base
# template's files are here too; a file not listed is fetched from the network when it can be.
SHELL_ASSETS = (
    "vendor/design-tokens/tokens.css",
    "core/machi.css",
    "guide/guide.css",
    "vendor/htmx/htmx.min.js",
    "core/machi.js",
    "core/favicon.svg",
    "shelters/scan.js",
    "shelters/offline/offline.css",
    "shelters/offline/offline.js",
)


def _scope() -> str:
    return reverse("shelters_offline:index")


@staff_required
def index(request: HttpRequest) -> HttpResponse:
    """The openings this member of staff records at, each with its offline console."""
    disaster = selectors.disaster_for(None)
    openings = [
        o
        for o in selectors.openings_for(request.user, disaster).order_by(
            "shelter__facility__name_kana", "shelter__facility__name"
        )
        if access.may(request.user, Action.UPDATE, o)
    ]
    return render(
        request,
        "shelters/offline/index.html",
        {"disaster": disaster, "openings": openings, **_shell(request)},
    )


@staff_required
def console(request: HttpRequest, opening_id: int) -> HttpResponse:
    opening = get_object_or_404(
        Opening.objects.select_related("shelter__facility", "disaster"), pk=opening_id
    )
    access.require(request.user, Action.UPDATE, opening)
    here = request.get_full_path()
    code_form = CodeCheckinForm(auto_id="code_%s")
    # The status banner comes first on this page: no field takes the focus from it.
    code_form.fields["code"].widget.attrs.pop("autofocus", None)
    config = {
        "openingId": opening.pk,
        "shelterName": str(opening.shelter),
        "syncUrl": sync_url(opening.pk),
        "rosterUrl": reverse("api:evacuees", kwargs={"shelter_id": opening.shelter_id})
        + "?"
        + urlencode({"disaster_id": opening.disaster_id}),
        "loginUrl": reverse("core:login") + "?" + urlencode({"next": here}),
        "pageUrl": here,
        "indexUrl": _scope(),
        "accepting": opening.status in {OpeningStatus.OPEN, OpeningStatus.FULL},
    }
    return render(
        request,
        "shelters/offline/console.html",
        {
            "opening": opening,
            "register_form": QuickRegisterForm(auto_id="reg_%s"),
            "code_form": code_form,
            "needs": Need.choices,
            "config": config,
            "strings": _strings(),
            # The CSRF cookie is what offline.js sends back; make sure the browser has one.
            "csrf": get_token(request),
            **_shell(request),
        },
    )


def sync_url(opening_id: int) -> str:
    """Where the device sends its operations (api_offline.offline_sync)."""
    return f"{reverse('api:api-root')}openings/{opening_id}/offline-sync"


def _shell(request: HttpRequest) -> dict[str, str]:
    return {
        "sw_url": reverse("shelters_offline:service_worker"),
        "sw_scope": _scope(),
        "manifest_url": reverse("shelters_offline:manifest"),
    }


def _strings() -> dict[str, str]:
    """What offline.js says, translated here (the CSP allows no inline script to carry them)."""
    return {
        "offline": _("Offline (オフライン): what you record is kept on this device."),
        "unreachable": _(
            "The server cannot be reached (オフライン): what you record is kept on this device."
        ),
        "online": _("Online: records are sent as you make them."),
        "syncing": _("Sending records…"),
        "signIn": _("Your session has ended: sign in again to send the records waiting."),
        "signInLink": _("Sign in again"),
        "forbidden": _("The server refused the records: sign in again as staff of this shelter."),
        "waiting": _("Waiting to be sent"),
        "lastSync": _("Last sent"),
        "never": _("not yet on this device"),
        "rosterAt": _("Roster as of"),
        "registered": _("Registered: %(name)s (kept on this device until sent)."),
        "checkedIn": _("Checked in by code %(code)s (kept on this device until sent)."),
        "checkedOut": _("Checked out: %(name)s (kept on this device until sent)."),
        "needsSaved": _("Needs noted: %(name)s (kept on this device until sent)."),
        "synced": _("All records have been sent."),
        "opRegister": _("Registration and check-in"),
        "opCheckinCode": _("Check-in by registration code"),
        "opCheckout": _("Check-out"),
        "opNeeds": _("Needs (要配慮)"),
        "codeLabel": _("Registration code %(code)s"),
        "pending": _("Waiting to be sent"),
        "conflictTwo": _("Also checked in at another shelter: HQ has been alerted."),
        "conflictEnded": _(
            "Had already been checked out elsewhere before this check-out: HQ has been alerted."
        ),
        "failed": _("Could not be recorded: %(message)s"),
        "retry": _("Send again"),
        "discard": _("Discard"),
        "dismiss": _("Dismiss"),
        "cancel": _("Cancel"),
        "checkOut": _("Check out"),
        "editNeeds": _("Needs"),
        "nobody": _("Nobody is checked in."),
        "required": _("Enter the family name."),
        "future": _("The date of birth cannot be in the future."),
        "codeRequired": _("Scan or type a registration code."),
        "errorTitle": _("There is a problem"),
        "errorPrefix": _("Error:"),
        "needsOf": _("Needs of %(name)s"),
        "noStorage": _(
            "This browser cannot keep records offline (IndexedDB is unavailable): "
            "use the paper form until the connection returns."
        ),
        "cleared": _("The data of this shelter has been removed from this device."),
        "clearRefused": _("Records are still waiting to be sent: they cannot be removed."),
    }


def _asset_path(name: str) -> Path | None:
    found = finders.find(name)
    if isinstance(found, list):
        found = found[0] if found else None
    return Path(found) if found else None


def _version(names: tuple[str, ...]) -> str:
    """A fingerprint of the files the worker keeps: a new one makes browsers take the new
    worker, which drops the old cache."""
    digest = hashlib.sha256()
    for name in names:
        path = _asset_path(name)
        digest.update(name.encode())
        if path is not None:
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    """The worker script, served from inside the scope it controls, with its settings first.

    No sign-in needed: it holds no data, and the browser fetches it to check for updates.
    """
    path = _asset_path(SW_SCRIPT)
    source = path.read_text(encoding="utf-8") if path is not None else ""
    settings = {
        "version": _version((SW_SCRIPT, *SHELL_ASSETS)),
        "scope": _scope(),
        "assets": [staticfiles_storage.url(name) for name in SHELL_ASSETS],
        "staticUrl": staticfiles_storage.url(""),
        "offlineText": "オフラインです。この画面はこの端末に保存されていません。"
        " / You are offline, and this page has not been kept on this device.",
    }
    body = f"self.MACHI_OFFLINE = {json.dumps(settings, ensure_ascii=False)};\n{source}"
    response = HttpResponse(body, content_type="application/javascript; charset=utf-8")
    response["Service-Worker-Allowed"] = _scope()
    response["Cache-Control"] = "no-cache"
    return response


@require_GET
@never_cache
def manifest(request: HttpRequest) -> JsonResponse:
    """The web app manifest: the offline console can be added to a tablet's home screen."""
    scope = _scope()
    data = {
        "name": _("Machi shelter console (offline)"),
        "short_name": _("Shelter console"),
        "start_url": scope,
        "scope": scope,
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#1a1a1c",
        "icons": [
            {
                "src": staticfiles_storage.url("core/favicon.svg"),
                "sizes": "any",
                "type": "image/svg+xml",
            }
        ],
    }
    response = JsonResponse(data, json_dumps_params={"ensure_ascii": False})
    response["Content-Type"] = "application/manifest+json"
    return response
