"""Pages of the core room: portal home, staff sign-in with 2FA, console, audit log, health."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

import pyotp
import segno
from django.conf import settings
from django.contrib import auth
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import QuerySet
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
)
from django.http.response import (
    HttpResponseBase,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from huey.contrib.djhuey import HUEY

from machi.core import access, exports, japanese, nav, ratelimit, selectors, services
from machi.core.forms import AuditFilterForm, LoginForm, ReadsReportForm, TotpForm
from machi.core.middleware import client_ip, session_started
from machi.core.models import AuditEvent, Job, JobStatus, User, record_type_label
from machi.core.roles import Action, Role

logger = logging.getLogger(__name__)

PENDING_KEY = "machi_pending_2fa"
PENDING_SECONDS = 5 * 60
TOTP_ATTEMPTS = 5


def staff_required(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Signed in (which always means both factors) and holding at least one role."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("core:login"))
        if not access.is_staff_member(request.user):
            raise PermissionDenied(_("Your account has no staff role."))
        return view(request, *args, **kwargs)

    return wrapper


# --- Resident portal ------------------------------------------------------------------------


def portal_home(request: HttpRequest) -> HttpResponse:
    shelter_count = selectors.facilities_public().filter(is_shelter=True).count()
    return render(
        request,
        "core/portal_home.html",
        {"shelter_count": shelter_count, "services": nav.portal_entries()},
    )


def portal_shelters(request: HttpRequest) -> HttpResponse:
    facilities = list(selectors.facilities_public(shelters_only=True).order_by("name_kana"))
    points = [
        {
            "name": f.name,
            "latitude": str(f.latitude) if f.latitude is not None else None,
            "longitude": str(f.longitude) if f.longitude is not None else None,
            "label": "・".join(str(kind.label) for kind in f.kinds),
            "status": "open" if f.is_shelter else "none",
        }
        for f in facilities
    ]
    return render(
        request,
        "core/portal_shelters.html",
        {"facilities": facilities, "points": points, "map_id": "shelter-points"},
    )


# --- Staff sign-in: password, then TOTP -----------------------------------------------------


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("core:console")


@never_cache
@require_http_methods(["GET", "POST"])
def login(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(_safe_next(request))
    form = LoginForm(request.POST or None)
    ip = client_ip(request) or "?"
    status = 200
    limit, window = settings.LOGIN_RATE_LIMIT, settings.LOGIN_RATE_WINDOW
    if request.method == "POST" and form.is_valid():
        username = form.cleaned_data["username"].strip()
        if ratelimit.exceeded("login-ip", ip, limit=limit, window=window) or ratelimit.exceeded(
            "login-user", username.lower(), limit=limit, window=window
        ):
            form.add_error(None, _("Too many failed sign-ins. Wait 15 minutes and try again."))
            status = 429
            # A locked account (or address) is worth the auditors' eye: someone may be guessing.
            services.audit_record(
                action=Action.LOGIN_FAILED,
                object_type="core.user",
                detail={"username": username, "reason": "locked"},
            )
        else:
            user = auth.authenticate(
                request, username=username, password=form.cleaned_data["password"]
            )
            if user is not None and access.is_staff_member(user):
                request.session.cycle_key()
                request.session[PENDING_KEY] = {
                    "user_id": user.pk,
                    "backend": user.backend,  # type: ignore[attr-defined]
                    "since": time.time(),
                    "next": _safe_next(request),
                    "attempts": 0,
                }
                return redirect("core:login_verify")
            ratelimit.hit("login-ip", ip, limit=limit, window=window)
            ratelimit.hit("login-user", username.lower(), limit=limit, window=window)
            services.audit_record(
                action=Action.LOGIN_FAILED, object_type="core.user", detail={"username": username}
            )
            form.add_error(None, _("The user name or password is not correct."))
            status = 400
    elif request.method == "POST":
        status = 400
    return render(
        request, "core/login.html", {"form": form, "next": _safe_next(request)}, status=status
    )


def _pending_user(request: HttpRequest) -> tuple[User, dict[str, Any]] | None:
    pending = request.session.get(PENDING_KEY)
    if not pending or time.time() - pending["since"] > PENDING_SECONDS:
        return None
    user = User.objects.filter(pk=pending["user_id"], is_active=True).first()
    return (user, pending) if user is not None else None


@never_cache
@require_http_methods(["GET", "POST"])
def login_verify(request: HttpRequest) -> HttpResponse:
    found = _pending_user(request)
    if found is None:
        request.session.pop(PENDING_KEY, None)
        return redirect("core:login")
    user, pending = found
    device = services.totp_start(user=user)
    form = TotpForm(request.POST or None)
    status = 200
    if request.method == "POST" and ratelimit.exceeded(
        "login-user",
        user.get_username().lower(),
        limit=settings.LOGIN_RATE_LIMIT,
        window=settings.LOGIN_RATE_WINDOW,
    ):
        request.session.pop(PENDING_KEY, None)
        return redirect("core:login")
    if request.method == "POST":
        status = 400
        if form.is_valid() and services.totp_verify(device=device, code=form.cleaned_data["code"]):
            request.session.pop(PENDING_KEY, None)
            user.backend = pending["backend"]  # type: ignore[attr-defined]
            auth.login(request, user)
            session_started(request)
            services.audit_record(action=Action.LOGIN, record=user, actor=user)
            return HttpResponseRedirect(pending["next"])
        ratelimit.hit(
            "login-user",
            user.get_username().lower(),
            limit=settings.LOGIN_RATE_LIMIT,
            window=settings.LOGIN_RATE_WINDOW,
        )
        pending["attempts"] += 1
        if pending["attempts"] >= TOTP_ATTEMPTS:
            request.session.pop(PENDING_KEY, None)
            services.audit_record(action=Action.LOGIN_FAILED, record=user, detail={"reason": "2fa"})
            return redirect("core:login")
        request.session[PENDING_KEY] = pending
        if form.is_valid():
            form.add_error("code", _("The code is not correct or has already been used."))
    enrolling = device.confirmed_at is None
    qr_svg = ""
    if enrolling:
        qr = segno.make(services.totp_provisioning_uri(device), error="m")
        qr_svg = qr.svg_inline(scale=4, title=_("QR code for your authenticator app"))
    demo_code = ""
    if settings.DEMO:
        demo_code = pyotp.TOTP(device.secret).now()
    return render(
        request,
        "core/login_verify.html",
        {
            "form": form,
            "enrolling": enrolling,
            "qr_svg": qr_svg,
            "secret": device.secret if enrolling else "",
            "demo_code": demo_code,
            "staff_user": user,
        },
        status=status,
    )


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        services.audit_record(action=Action.LOGOUT, record=request.user)
    auth.logout(request)
    return redirect("core:portal_home")


# --- Staff console ----------------------------------------------------------------------------


@staff_required
def console(request: HttpRequest) -> HttpResponse:
    grants = access.Grants.of(request.user)
    roles = [role for role in Role if role in grants.roles]
    scoped = selectors.facilities_for(request.user).filter(
        id__in=set().union(*grants.facility_ids.values()) if grants.facility_ids else []
    )
    return render(
        request,
        "core/console_home.html",
        {
            "roles": roles,
            "scoped_facilities": scoped,
            "can_read_audit": access.may(request.user, Action.READ, AuditEvent),
            "can_admin": Role.SYSADMIN in grants.roles,
            "facility_count": selectors.facilities_for(request.user).count(),
            "now": timezone.localtime(),
        },
    )


@staff_required
def console_facilities(request: HttpRequest) -> HttpResponse:
    access.require(request.user, Action.READ, "core.facility")
    query = japanese.normalize(request.GET.get("q", ""))[:100]
    facilities = selectors.facilities_for(request.user, query=query)
    page = Paginator(facilities, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "core/console_facilities.html",
        {"page": page, "query": query, "query_string": urlencode({"q": query}) if query else ""},
    )


AUDIT_PAGE_SIZE = 50


def _audit_form(request: HttpRequest, data: Any) -> AuditFilterForm:
    return AuditFilterForm(data or None, object_types=selectors.audit_object_types())


@staff_required
def console_audit(request: HttpRequest) -> HttpResponse:
    access.require(request.user, Action.READ, AuditEvent)
    form = _audit_form(request, request.GET)
    events: QuerySet[AuditEvent] = AuditEvent.objects.none()
    if not form.is_bound or form.is_valid():
        filters = selectors.AuditFilter(**form.cleaned_data) if form.is_bound else None
        events = selectors.audit_search(request.user, filters or selectors.AuditFilter())
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    # Reading the log is itself logged: who looked for what.
    services.audit_record(
        action=Action.READ,
        object_type="core.auditevent",
        detail={"filters": {k: str(v) for k, v in request.GET.items() if k != "page" and v}},
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "core/console_audit.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "can_export": access.may(request.user, Action.EXPORT, AuditEvent),
        },
    )


@staff_required
@require_POST
def console_audit_export(request: HttpRequest) -> HttpResponse:
    """Start the CSV export of what the filters select, as a job with visible progress."""
    access.require(request.user, Action.EXPORT, AuditEvent)
    form = _audit_form(request, request.POST)
    if not form.is_valid():
        return render(
            request,
            "core/console_audit.html",
            {
                "form": form,
                "page": Paginator(AuditEvent.objects.none(), AUDIT_PAGE_SIZE).get_page(1),
                "query": "",
                "can_export": True,
            },
            status=400,
        )
    filters = selectors.AuditFilter(
        **{k: v for k, v in form.cleaned_data.items() if k in selectors.AuditFilter.__annotations__}
    )
    job = services.job_start(
        kind=exports.AUDIT_EXPORT,
        title=_("Audit log export"),
        created_by=request.user,  # type: ignore[arg-type]
        language=get_language() or "ja",
        **exports.audit_filters_to_params(filters),
    )
    return redirect("core:job_detail", job_id=job.pk)


READS_PAGE_SIZE = 100
READS_EXPORT_MAX_ROWS = 200_000
READS_DEFAULT_DAYS = 30


def _reads_form(request: HttpRequest) -> ReadsReportForm:
    if request.GET:
        return ReadsReportForm(request.GET)
    today = timezone.localdate()
    return ReadsReportForm(
        {"since": today - dt.timedelta(days=READS_DEFAULT_DAYS - 1), "until": today}
    )


@staff_required
def console_audit_reads(request: HttpRequest) -> HttpResponse:
    """閲覧記録: who read which personal records in a period, for the privacy officer and for
    a resident's request to know who looked at their record. ?format=csv|xlsx downloads it."""
    access.require(request.user, Action.READ, AuditEvent)
    form = _reads_form(request)
    wanted = request.GET.get("format", "")
    if wanted and wanted not in ("csv", "xlsx"):
        raise Http404
    if not form.is_valid():
        return _reads_refused(request, form, status=400 if request.GET else 200)
    filters = selectors.ReadsFilter(**form.cleaned_data)
    rows = selectors.audit_personal_reads(request.user, filters)
    params = {k: str(v) for k, v in form.cleaned_data.items() if v}
    if wanted:
        access.require(request.user, Action.EXPORT, AuditEvent)
        return _reads_download(request, form, rows, filters, params, wanted)
    services.audit_record(
        action=Action.READ, object_type="core.auditevent", detail={"report": "reads", **params}
    )
    page = Paginator(rows, READS_PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = [
        {**row, "type_label": record_type_label(row["object_type"])} for row in page.object_list
    ]
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("format", None)
    return render(
        request,
        "core/console_audit_reads.html",
        {
            "form": form,
            "page": page,
            "readers": selectors.audit_personal_readers(request.user, filters),
            "query": query.urlencode() or urlencode(params),
            "can_export": access.may(request.user, Action.EXPORT, AuditEvent),
            "filters": filters,
        },
    )


def _reads_refused(request: HttpRequest, form: ReadsReportForm, *, status: int) -> HttpResponse:
    """The report's form with its errors, and no table."""
    context: dict[str, Any] = {"form": form, "page": None, "readers": [], "query": ""}
    return render(request, "core/console_audit_reads.html", context, status=status)


def _reads_download(
    request: HttpRequest,
    form: ReadsReportForm,
    rows: QuerySet[Any],
    filters: selectors.ReadsFilter,
    params: dict[str, str],
    wanted: str,
) -> HttpResponse:
    total = rows.count()
    if total > READS_EXPORT_MAX_ROWS:
        form.add_error(
            None,
            _("The report has %(total)s rows, more than %(max)s: choose a shorter period.")
            % {"total": f"{total:,}", "max": f"{READS_EXPORT_MAX_ROWS:,}"},
        )
        return _reads_refused(request, form, status=400)
    header = [
        _("Actor"),
        _("Record type"),
        _("Record id"),
        _("Record"),
        _("Times read"),
        _("Of which exports"),
        _("First"),
        _("Last"),
    ]
    table: list[list[Any]] = [header]
    for row in rows.iterator():
        table.append(
            [
                row["actor_username"],
                record_type_label(row["object_type"]),
                row["object_id"],
                row["record"],
                row["times"],
                row["exports"],
                timezone.localtime(row["first_at"]).strftime("%Y-%m-%d %H:%M:%S"),
                timezone.localtime(row["last_at"]).strftime("%Y-%m-%d %H:%M:%S"),
            ]
        )
    services.audit_record(
        action=Action.EXPORT,
        object_type="core.auditevent",
        detail={"report": "reads", "rows": total, "format": wanted, **params},
    )
    name = f"personal-reads-{filters.since:%Y%m%d}-{filters.until:%Y%m%d}"
    if wanted == "xlsx":
        body = japanese.excel_xlsx(table, title=str(_("Reads of personal records")))
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        body = japanese.excel_csv([[str(cell) for cell in line] for line in table])
        content_type = "text/csv; charset=utf-8"
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}.{wanted}"'
    return response


# --- Jobs -------------------------------------------------------------------------------------


def _own_job(request: HttpRequest, job_id: str) -> Job:
    job = get_object_or_404(selectors.jobs_for(request.user), pk=job_id)
    return job


@staff_required
def job_detail(request: HttpRequest, job_id: str) -> HttpResponse:
    job = _own_job(request, job_id)
    template = "core/_job_status.html" if request.headers.get("HX-Request") else "core/job.html"
    return render(request, template, {"job": job})


@staff_required
def job_download(request: HttpRequest, job_id: str) -> FileResponse:
    job = _own_job(request, job_id)
    access.require(request.user, Action.EXPORT, job)
    path = exports.export_path(job)
    if job.status != JobStatus.SUCCEEDED or not path.exists():
        raise Http404("no file for this job")
    services.audit_record(action=Action.EXPORT, object_type="core.job", detail={"job": str(job.pk)})
    return FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=job.result.get("filename", f"{job.pk}.csv"),
        content_type="text/csv; charset=utf-8",
    )


# --- Health -------------------------------------------------------------------------------------


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _database_ready() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _queue_ready() -> None:
    HUEY.pending_count()


READINESS_CHECKS = {"database": _database_ready, "queue": _queue_ready}


def readyz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, str] = {}
    for name, check in READINESS_CHECKS.items():
        try:
            check()
            checks[name] = "ok"
        except Exception as exc:
            logger.warning("readiness: %s: %s", name, exc)
            checks[name] = "error"
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks},
        status=200 if ready else 503,
    )


# --- Errors -------------------------------------------------------------------------------------


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return render(request, "core/error.html", {"status": 404}, status=404)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    return render(request, "core/error.html", {"status": 403}, status=403)


def server_error(request: HttpRequest) -> HttpResponse:
    return render(request, "core/error.html", {"status": 500}, status=500)
