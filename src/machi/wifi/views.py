"""Wi-Fi console pages: the registry (sites, access points, SSID profiles) and disaster mode."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from machi.core import access
from machi.core.models import Job
from machi.core.roles import Action
from machi.core.views import staff_required
from machi.emergency import selectors as emergency_selectors
from machi.wifi import disaster_mode, selectors, services
from machi.wifi import usage as wifi_usage
from machi.wifi.forms import ApForm, DisasterModeForm, ProfileForm, RestoreForm, SiteForm
from machi.wifi.models import AccessPoint, Site, SsidProfile, SwitchDirection
from machi.wifi.services import WifiError

DISASTER_MODE = selectors.DISASTER_MODE


def _field_error(form: forms.Form, exc: WifiError) -> None:
    """A rule broken in a service, shown on the field it names (or above the form)."""
    name = exc.field if exc.field in form.fields else None
    form.add_error(name, str(exc))


def _form_page(
    request: HttpRequest, form: forms.Form, *, title: str, submit: str, **extra: Any
) -> HttpResponse:
    """The registry's one form page: 400 when the form has errors, so tests and tools see it."""
    return render(
        request,
        "wifi/form.html",
        {"form": form, "title": title, "submit": submit, **extra},
        status=400 if form.errors else 200,
    )


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


# --- Registry ---------------------------------------------------------------------------------


@staff_required
def index(request: HttpRequest) -> HttpResponse:
    access.require(request.user, Action.READ, Site)
    user = request.user
    return render(
        request,
        "wifi/index.html",
        {
            "sites": selectors.sites_for(user),
            "can_edit": access.may(user, Action.CREATE, AccessPoint),
            "can_switch": access.may(user, Action.UPDATE, DISASTER_MODE),
            "may_see_switch": access.may(user, Action.READ, DISASTER_MODE),
            "profiles_count": selectors.profiles_for(user).count(),
        },
    )


@staff_required
def site_create(request: HttpRequest) -> HttpResponse:
    access.require(request.user, Action.CREATE, Site)
    form = SiteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            site = services.site_create(
                facility=form.cleaned_data["facility"],
                disaster_target=form.cleaned_data["disaster_target"],
                provides_area=form.cleaned_data["provides_area"],
                note=form.cleaned_data["note"],
            )
        except WifiError as exc:
            _field_error(form, exc)
        else:
            messages.success(request, _("Site %(name)s added.") % {"name": site})
            return redirect("wifi:index")
    return _form_page(request, form, title=_("Add a Wi-Fi site"), submit=_("Add site"))


@staff_required
def site_edit(request: HttpRequest, site_id: int) -> HttpResponse:
    site = get_object_or_404(Site.objects.select_related("facility"), pk=site_id)
    access.require(request.user, Action.UPDATE, site)
    initial = {
        "disaster_target": site.disaster_target,
        "provides_area": site.provides_area,
        "note": site.note,
    }
    form = SiteForm(request.POST or None, initial=initial, site=site)
    if request.method == "POST" and form.is_valid():
        try:
            services.site_update(
                site=site,
                disaster_target=form.cleaned_data["disaster_target"],
                provides_area=form.cleaned_data["provides_area"],
                note=form.cleaned_data["note"],
            )
        except WifiError as exc:
            _field_error(form, exc)
        else:
            messages.success(request, _("Site %(name)s saved.") % {"name": site})
            return redirect("wifi:index")
    return _form_page(
        request, form, title=_("Edit the site %(name)s") % {"name": site}, submit=_("Save")
    )


def _ap_initial(ap: AccessPoint) -> dict[str, Any]:
    return {
        "site": ap.site_id,
        "name": ap.name,
        "mac": ap.mac,
        "model": ap.model,
        "driver": ap.driver,
        "management_url": ap.management_url,
        "username": ap.username,
        "profiles": list(ap.profiles.all()),
        "enabled": ap.enabled,
    }


@staff_required
def ap_create(request: HttpRequest) -> HttpResponse:
    access.require(request.user, Action.CREATE, AccessPoint)
    initial: dict[str, Any] = {"enabled": True}
    site_id = request.GET.get("site", "")
    if site_id.isdecimal() and len(site_id) < 12:
        initial["site"] = int(site_id)
    form = ApForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            ap, key = services.ap_create(
                site=data["site"],
                name=data["name"],
                mac=data["mac"],
                model=data["model"],
                driver=data["driver"],
                management_url=data["management_url"],
                username=data["username"],
                secret=data["secret"],
                profiles=data["profiles"],
                enabled=data["enabled"],
            )
        except WifiError as exc:
            _field_error(form, exc)
        else:
            return _no_store(
                render(request, "wifi/monitoring_key.html", {"ap": ap, "key": key, "new": True})
            )
    return _form_page(request, form, title=_("Add an access point"), submit=_("Add access point"))


@staff_required
def ap_edit(request: HttpRequest, ap_id: int) -> HttpResponse:
    ap = get_object_or_404(AccessPoint.objects.select_related("site__facility"), pk=ap_id)
    access.require(request.user, Action.UPDATE, ap)
    form = ApForm(request.POST or None, initial=_ap_initial(ap), ap=ap)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.ap_update(
                ap=ap,
                site=data["site"],
                name=data["name"],
                mac=data["mac"],
                model=data["model"],
                driver=data["driver"],
                management_url=data["management_url"],
                username=data["username"],
                secret=data["secret"] or None,
                profiles=data["profiles"],
                enabled=data["enabled"],
            )
        except WifiError as exc:
            _field_error(form, exc)
        else:
            messages.success(request, _("Access point %(name)s saved.") % {"name": ap.name})
            return redirect("wifi:index")
    return _form_page(
        request,
        form,
        title=_("Edit the access point %(name)s") % {"name": ap.name},
        submit=_("Save"),
        ap=ap,
    )


@staff_required
@require_POST
def ap_monitoring_key(request: HttpRequest, ap_id: int) -> HttpResponse:
    ap = get_object_or_404(AccessPoint.objects.select_related("site__facility"), pk=ap_id)
    access.require(request.user, Action.UPDATE, ap)
    key = services.ap_monitoring_key_regenerate(ap=ap)
    return _no_store(
        render(request, "wifi/monitoring_key.html", {"ap": ap, "key": key, "new": False})
    )


@staff_required
def profiles(request: HttpRequest) -> HttpResponse:
    access.require(request.user, Action.READ, SsidProfile)
    return render(
        request,
        "wifi/profiles.html",
        {
            "profiles": selectors.profiles_for(request.user),
            "can_edit": access.may(request.user, Action.CREATE, SsidProfile),
        },
    )


@staff_required
def profile_create(request: HttpRequest) -> HttpResponse:
    access.require(request.user, Action.CREATE, SsidProfile)
    form = ProfileForm(request.POST or None, initial={"isolate": True})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            profile = services.profile_create(
                name=data["name"],
                kind=data["kind"],
                ssid=data["ssid"],
                encryption=data["encryption"],
                key=data["key"],
                hidden=data["hidden"],
                isolate=data["isolate"],
                max_clients=data["max_clients"],
                owe_companion=data["owe_companion"],
            )
        except WifiError as exc:
            _field_error(form, exc)
        else:
            messages.success(request, _("Profile %(name)s added.") % {"name": profile.name})
            return redirect("wifi:profiles")
    return _form_page(request, form, title=_("Add an SSID profile"), submit=_("Add profile"))


@staff_required
def profile_edit(request: HttpRequest, profile_id: int) -> HttpResponse:
    profile = get_object_or_404(SsidProfile, pk=profile_id)
    access.require(request.user, Action.UPDATE, profile)
    initial = {
        "name": profile.name,
        "kind": profile.kind,
        "ssid": profile.ssid,
        "encryption": profile.encryption,
        "hidden": profile.hidden,
        "isolate": profile.isolate,
        "max_clients": profile.max_clients,
        "owe_companion": profile.owe_companion,
    }
    form = ProfileForm(request.POST or None, initial=initial, profile=profile)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.profile_update(
                profile=profile,
                name=data["name"],
                ssid=data["ssid"],
                encryption=data["encryption"],
                key=data["key"] or None,
                clear_key=data["clear_key"],
                hidden=data["hidden"],
                isolate=data["isolate"],
                max_clients=data["max_clients"],
                owe_companion=data["owe_companion"],
            )
        except WifiError as exc:
            _field_error(form, exc)
        else:
            messages.success(request, _("Profile %(name)s saved.") % {"name": profile.name})
            return redirect("wifi:profiles")
    return _form_page(
        request,
        form,
        title=_("Edit the SSID profile %(name)s") % {"name": profile.name},
        submit=_("Save"),
    )


# --- Disaster mode ----------------------------------------------------------------------------


def _disaster_context(request: HttpRequest) -> dict[str, Any]:
    user = request.user
    return {
        "disaster": emergency_selectors.disaster_current(),
        "profile": selectors.disaster_profile(),
        "can_switch": access.may(user, Action.UPDATE, DISASTER_MODE),
        "not_normal": selectors.aps_not_normal(user),
        "jobs": selectors.switch_jobs(limit=10),
        "targets": selectors.disaster_target_sites().count(),
    }


@staff_required
def disaster(request: HttpRequest) -> HttpResponse:
    """The one action: open 00000JAPAN at the chosen sites (a drill when nothing is
    declared), with a confirmation step; and the restore."""
    access.require(request.user, Action.READ, DISASTER_MODE)
    on_form = DisasterModeForm(
        prefix="on",
        initial={"sites": list(selectors.disaster_target_sites())},
    )
    off_form = RestoreForm(prefix="off")
    if request.method == "POST":
        access.require(request.user, Action.UPDATE, DISASTER_MODE)
        if request.POST.get("action") == "off":
            off_form = RestoreForm(request.POST, prefix="off")
            response = _restore(request, off_form)
        else:
            on_form = DisasterModeForm(request.POST, prefix="on")
            response = _open(request, on_form)
        if response is not None:
            return response
    errors = bool(on_form.errors or off_form.errors)
    chosen = (
        len(request.POST.getlist("on-sites"))
        if on_form.is_bound
        else len(on_form.initial.get("sites", []))
    )
    return render(
        request,
        "wifi/disaster.html",
        {
            **_disaster_context(request),
            "on_form": on_form,
            "off_form": off_form,
            "chosen": chosen,
        },
        status=400 if errors else 200,
    )


def _open(request: HttpRequest, form: DisasterModeForm) -> HttpResponse | None:
    if not form.is_valid():
        return None
    sites = list(form.cleaned_data["sites"])
    drill = form.cleaned_data["drill"]
    try:
        active = disaster_mode.disaster_mode_check(on=True, drill=drill)
        if not form.cleaned_data["confirm"]:
            return _confirm(request, form, on=True, sites=sites, drill=drill, disaster=active)
        job = disaster_mode.disaster_mode_start(
            sites=sites,
            on=True,
            requested_by=request.user,  # type: ignore[arg-type]
            drill=drill,
        )
    except WifiError as exc:
        _field_error(form, exc)
        return None
    return redirect("wifi:job", job_id=job.pk)


def _restore(request: HttpRequest, form: RestoreForm) -> HttpResponse | None:
    if not form.is_valid():
        return None
    sites = list(form.cleaned_data["sites"]) or list(selectors.sites_to_restore())
    if not sites:
        form.add_error(None, _("Every access point is in normal mode: nothing to restore."))
        return None
    try:
        if not form.cleaned_data["confirm"]:
            return _confirm(request, form, on=False, sites=sites, drill=False, disaster=None)
        job = disaster_mode.disaster_mode_start(
            sites=sites,
            on=False,
            requested_by=request.user,  # type: ignore[arg-type]
        )
    except WifiError as exc:
        _field_error(form, exc)
        return None
    return redirect("wifi:job", job_id=job.pk)


def _confirm(
    request: HttpRequest,
    form: forms.Form,
    *,
    on: bool,
    sites: list[Site],
    drill: bool,
    disaster: Any,
) -> HttpResponse:
    aps = AccessPoint.objects.filter(site__in=sites)
    return render(
        request,
        "wifi/disaster_confirm.html",
        {
            "on": on,
            "drill": drill,
            "disaster": disaster,
            "sites": sites,
            "ap_count": aps.count(),
            "prefix": form.prefix,
            "profile": selectors.disaster_profile(),
        },
    )


def _job(request: HttpRequest, job_id: Any) -> Job:
    access.require(request.user, Action.READ, DISASTER_MODE)
    job = selectors.switch_job(job_id)
    if job is None:
        raise Http404("no such disaster-mode job")
    return job


@staff_required
def job(request: HttpRequest, job_id: Any) -> HttpResponse:
    """A switch in progress: per-AP status, attempts, error, confirmation time; refreshes."""
    found = _job(request, job_id)
    context = {
        "job": found,
        "on": found.params.get("direction") == SwitchDirection.ON,
        "drill": bool(found.params.get("drill")),
        "counts": selectors.switch_counts(found),
        "switches": selectors.switches_of(found),
        "can_switch": access.may(request.user, Action.UPDATE, DISASTER_MODE),
    }
    if request.headers.get("HX-Request"):
        return render(request, "wifi/_job.html", context)
    return render(request, "wifi/job.html", context)


@staff_required
@require_POST
def job_retry(request: HttpRequest, job_id: Any) -> HttpResponse:
    found = _job(request, job_id)
    access.require(request.user, Action.UPDATE, DISASTER_MODE)
    try:
        retry = disaster_mode.disaster_mode_retry(job=found, requested_by=request.user)  # type: ignore[arg-type]
    except WifiError as exc:
        messages.error(request, str(exc))
        return redirect("wifi:job", job_id=found.pk)
    return redirect("wifi:job", job_id=retry.pk)


@staff_required
def usage(request: HttpRequest) -> HttpResponse:
    """Connected devices against evacuees present, shelter by shelter (the 45% figure, live)."""
    access.require(request.user, Action.READ, "wifi.usage")

    disaster = emergency_selectors.disaster_current()
    return render(
        request,
        "wifi/usage.html",
        {"disaster": disaster, "usage": wifi_usage.shelter_usage(disaster)},
    )
