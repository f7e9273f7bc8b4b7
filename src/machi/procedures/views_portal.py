"""Residents' pages of the procedures room (電子申請), under /procedures/.

A resident picks a procedure, shows who they are (a verified e-mail or an OpenID Connect
login, before the form; a signature with their card, at the end), answers the form a page at
a time (saved after each page: resumable from a link), checks the answers, submits, pays, and
follows the status on a page whose link only they hold. Every page works without JavaScript.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from machi.core import ratelimit
from machi.core import services as core_services
from machi.core.forms import form_error_summary
from machi.core.middleware import client_ip
from machi.core.roles import Action
from machi.procedures import drafts, forms_portal, services
from machi.procedures.identity import base
from machi.procedures.identity import email as email_identity
from machi.procedures.models import Application, Draft, Procedure, Status

logger = logging.getLogger(__name__)

RATE_WINDOW = 60 * 60
CODE_RATE_SCOPE = "procedures-code-ip"
SUBMIT_RATE_SCOPE = "procedures-submit-ip"
MAX_SIGNATURE_BYTES = 64 * 1024  # a CMS signature with its chain is a few kilobytes


def _private(response: HttpResponse) -> HttpResponse:
    """Pages with personal data or a secret in their address: not cached, no Referer out."""
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "same-origin"
    return response


def _page(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> Any:
    return _private(render(request, f"procedures/portal/{template}", context, status=status))


def _limit(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def _oidc_configured() -> bool:
    return bool(settings.MACHI_OIDC_ISSUER and settings.MACHI_OIDC_CLIENT_ID)


def _safe_next(request: HttpRequest, value: str, default: str) -> str:
    if value and url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return value
    return default


# --- The catalogue --------------------------------------------------------------------------------


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    identity = base.session_identity(request)
    return render(
        request,
        "procedures/portal/index.html",
        {
            "procedures": Procedure.objects.filter(active=True),
            "identity": identity,
        },
    )


@never_cache
@require_http_methods(["GET", "POST"])
def procedure(request: HttpRequest, slug: str) -> HttpResponse:
    """What the procedure needs; starting it (POST) makes a draft, once identity is enough."""
    proc = get_object_or_404(Procedure, slug=slug, active=True)
    identity = base.session_identity(request)
    needs_login = proc.identity_level != "jpki" and not base.satisfies(
        identity, proc.identity_level
    )
    if request.method == "POST":
        if needs_login:
            return redirect(f"{reverse('portal:identify', args=[proc.slug])}")
        draft = drafts.draft_start(
            request, proc, identity if base.satisfies(identity, proc.identity_level) else None
        )
        core_services.audit_record(action=Action.CREATE, record=draft, detail={"draft": True})
        return redirect("portal:step", draft.pk, 1)
    return _page(
        request,
        "procedure.html",
        {
            "procedure": proc,
            "identity": identity,
            "needs_login": needs_login,
            "deliveries": [services.DELIVERY_LABELS.get(d, d) for d in proc.deliveries],
        },
    )


# --- Identity -------------------------------------------------------------------------------------


@never_cache
@require_GET
def identify(request: HttpRequest, slug: str) -> HttpResponse:
    """How to show who you are, for a procedure: the ways strong enough for it."""
    proc = get_object_or_404(Procedure, slug=slug, active=True)
    back = reverse("portal:procedure", args=[proc.slug])
    return _page(
        request,
        "identify.html",
        {
            "procedure": proc,
            "email_allowed": proc.identity_level == "email",
            "oidc": _oidc_configured(),
            "oidc_url": reverse("portal:oidc_login") + "?next=" + back
            if _oidc_configured()
            else "",
            "email_url": reverse("portal:email") + "?next=" + back,
        },
    )


@never_cache
@require_http_methods(["GET", "POST"])
def email(request: HttpRequest) -> HttpResponse:
    """Step 1 of the e-mail check: the address, to which a code is sent."""
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next", ""), "")
    form = forms_portal.EmailForm(request.POST or None)
    status = 200
    if request.method == "POST":
        ip = client_ip(request) or "?"
        limit = _limit("MACHI_PROCEDURES_CODE_RATE_LIMIT", 30)
        if not ratelimit.hit(CODE_RATE_SCOPE, ip, limit=limit, window=RATE_WINDOW):
            return _page(request, "rate_limited.html", {}, status=429)
        if form.is_valid():
            try:
                address = email_identity.code_send(form.cleaned_data["email"])
            except services.ProcedureError as exc:
                form.add_error("email", str(exc))
            else:
                request.session["procedures_email_pending"] = address
                return redirect(reverse("portal:email_code") + "?next=" + next_url)
        status = 400
    return _page(
        request,
        "email.html",
        {"form": form, "errors": form_error_summary(form), "next": next_url},
        status=status,
    )


@never_cache
@require_http_methods(["GET", "POST"])
def email_code(request: HttpRequest) -> HttpResponse:
    """Step 2: the code from the mail. Right: the resident is signed in with that address."""
    address = request.session.get("procedures_email_pending", "")
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next", ""), "")
    if not address:
        return redirect(reverse("portal:email") + "?next=" + next_url)
    form = forms_portal.CodeForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                identity = email_identity.code_check(address, form.cleaned_data["code"])
            except services.ProcedureError as exc:
                form.add_error("code", str(exc))
            else:
                request.session.pop("procedures_email_pending", None)
                base.session_remember(request, identity)
                return redirect(next_url or "portal:index")
        status = 400
    return _page(
        request,
        "email_code.html",
        {"form": form, "errors": form_error_summary(form), "address": address, "next": next_url},
        status=status,
    )


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    base.session_forget(request)
    return redirect("portal:index")


# --- The form, a page at a time -------------------------------------------------------------------


def _draft(request: HttpRequest, draft_id: uuid.UUID) -> Draft:
    draft = drafts.draft_of(request, draft_id)
    if draft is None:
        raise Http404("no such draft in this browser")
    return draft


def _steps(draft: Draft) -> int:
    """Pages of fields, then the delivery page."""
    return len(forms_portal.pages(draft.procedure)) + 1


def _providers(proc: Procedure) -> list[tuple[str, str]]:
    if not proc.fee_yen:
        return []
    from machi.procedures.payments import base as payments_base

    return [(p.name, str(p.label)) for p in payments_base.providers_for(proc)]


def _delivery_form(draft: Draft, data: Any = None) -> forms_portal.DeliveryForm:
    identity = base.Identity.from_dict(draft.identity)
    proc = draft.procedure
    return forms_portal.DeliveryForm(
        data,
        procedure=proc,
        providers=_providers(proc),
        ask_address="mail" in proc.deliveries and proc.identity_level == "email",
        ask_email=not (identity and identity.email),
        initial={
            "delivery": draft.delivery or proc.deliveries[0],
            "payment": draft.payment_provider,
            "address": draft.answers.get("_address", ""),
            "email": draft.answers.get("_email", ""),
        },
    )


@never_cache
@require_http_methods(["GET", "POST"])
def step(request: HttpRequest, draft_id: uuid.UUID, number: int) -> HttpResponse:
    draft = _draft(request, draft_id)
    proc = draft.procedure
    page_items = forms_portal.pages(proc)
    total = _steps(draft)
    if not 1 <= number <= total:
        raise Http404("no such step")
    back_to_check = request.GET.get("return") == "check" or request.POST.get("return") == "check"
    is_delivery = number == total
    form: Any
    if is_delivery:
        form = _delivery_form(draft, request.POST or None)
    else:
        items = page_items[number - 1]
        form = forms_portal.PageForm(
            request.POST or None,
            items=items,
            initial={item["name"]: draft.answers.get(item["name"]) for item in items},
        )
    if is_delivery and _nothing_to_ask(form):
        # One way of delivery, an address already known, no fee: straight to the check.
        drafts.draft_save(draft, delivery=proc.deliveries[0])
        return redirect("portal:check", draft.pk)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            if is_delivery:
                answers = dict(draft.answers)
                answers["_address"] = form.cleaned_data.get("address", "")
                answers["_email"] = form.cleaned_data.get("email", "")
                drafts.draft_save(
                    draft,
                    delivery=form.cleaned_data["delivery"],
                    payment_provider=form.cleaned_data.get("payment", ""),
                    answers=answers,
                )
            else:
                drafts.draft_save(draft, answers={**draft.answers, **form.answers()})
            if "save" in request.POST:
                return redirect("portal:saved", draft.pk)
            if back_to_check or number == total:
                return redirect("portal:check", draft.pk)
            return redirect("portal:step", draft.pk, number + 1)
        status = 400
    return _page(
        request,
        "step.html",
        {
            "draft": draft,
            "procedure": proc,
            "form": form,
            "errors": form_error_summary(form),
            "number": number,
            "total": total,
            "is_delivery": is_delivery,
            "heading": _heading(page_items, number, total),
            "back_to_check": back_to_check,
            "previous": number - 1,
        },
        status=status,
    )


def _nothing_to_ask(form: Any) -> bool:
    return all(field.is_hidden for field in form)


def _heading(page_items: list[list[dict[str, Any]]], number: int, total: int) -> str:
    if number == total:
        return _("How you receive it")
    items = page_items[number - 1]
    page = items[0].get("page")
    if page and len(items) > 1:
        return str(page)
    return forms_portal.label_of(items[0])


@never_cache
@require_GET
def saved(request: HttpRequest, draft_id: uuid.UUID) -> HttpResponse:
    """Save and come back later: the link that resumes this draft (the only copy of its
    secret besides this browser's session)."""
    draft = _draft(request, draft_id)
    link = request.build_absolute_uri(
        reverse("portal:resume", args=[drafts.token_of(request, draft)])
    )
    mailed_to = ""
    identity = base.Identity.from_dict(draft.identity)
    address = draft.answers.get("_email", "") or (identity.email if identity else "")
    if address and request.session.get("procedures_resume_mailed") != str(draft.pk):
        mailed_to = _mail_resume_link(draft, address, link)
        if mailed_to:
            request.session["procedures_resume_mailed"] = str(draft.pk)
    return _page(request, "saved.html", {"draft": draft, "link": link, "mailed_to": mailed_to})


def _mail_resume_link(draft: Draft, address: str, link: str) -> str:
    """The resume link to the resident's own verified address (once per draft and browser)."""
    from machi.notify import services as notify_services

    try:
        notify_services.send_direct(
            address=address,
            subject=_("Your saved application: %(procedure)s")
            % {"procedure": draft.procedure.name},
            body=_(
                "You saved an application to finish later. Continue it here until %(date)s:\n\n"
                "%(link)s\n\nAnyone with this link can see your answers: do not pass it on."
            )
            % {"date": draft.expires_at.date().isoformat(), "link": link},
            language=(get_language() or "ja")[:2],
            kind="procedures.draft",
        )
    except Exception:  # the page shows the link anyway
        logger.warning("the resume link of draft %s could not be mailed", draft.pk)
        return ""
    return address


@never_cache
@require_GET
def resume(request: HttpRequest, token: str) -> HttpResponse:
    draft = drafts.draft_resume(request, token)
    if draft is None:
        return _page(request, "draft_gone.html", {}, status=404)
    return redirect("portal:check", draft.pk)


def _check_rows(draft: Draft) -> list[dict[str, Any]]:
    """The check-your-answers list: each answer, shown as the resident chose it, with the
    step that changes it."""
    rows = []
    by_name = {item["name"]: item for item in draft.procedure.form}
    for number, items in enumerate(forms_portal.pages(draft.procedure), start=1):
        for item in items:
            value = draft.answers.get(item["name"])
            kind = item.get("type", "text")
            if kind == "choice":
                form = forms_portal.PageForm(items=[by_name[item["name"]]])
                value = dict(form.fields[item["name"]].choices).get(value, value)  # type: ignore[attr-defined]
            elif kind == "checkbox":
                value = _("Yes") if value else _("No")
            rows.append({"label": forms_portal.label_of(item), "value": value, "step": number})
    return rows


def _missing(draft: Draft) -> str:
    """The first problem that stops the draft being submitted, or ""."""
    try:
        services.answers_check(draft.procedure, _form_answers(draft))
    except services.ProcedureError as exc:
        return str(exc)
    if draft.delivery not in draft.procedure.deliveries:
        return _("Choose how you receive it.")
    return ""


def _form_answers(draft: Draft) -> dict[str, Any]:
    return {k: v for k, v in draft.answers.items() if not k.startswith("_")}


def _signing_bytes(draft: Draft) -> bytes:
    return base.signing_payload(
        procedure=draft.procedure.slug,
        answers=services.answers_check(draft.procedure, _form_answers(draft)),
        delivery=draft.delivery,
    )


@never_cache
@require_http_methods(["GET", "POST"])
def check(request: HttpRequest, draft_id: uuid.UUID) -> HttpResponse:
    """Check your answers, then submit (with the signature, for a JPKI procedure)."""
    draft = _draft(request, draft_id)
    proc = draft.procedure
    if not draft.delivery and len(proc.deliveries) == 1:  # never asked: nothing to choose
        drafts.draft_save(draft, delivery=proc.deliveries[0])
    problem = _missing(draft)
    jpki = proc.identity_level == "jpki"
    posted = request.method == "POST"
    signature_form = forms_portal.SignatureForm(
        request.POST if posted else None, request.FILES if posted else None, jpki=jpki
    )
    errors: list[Any] = []
    status = 200
    if request.method == "POST" and not problem:
        ip = client_ip(request) or "?"
        if not ratelimit.hit(
            SUBMIT_RATE_SCOPE,
            ip,
            limit=_limit("MACHI_PROCEDURES_SUBMIT_RATE_LIMIT", 120),
            window=RATE_WINDOW,
        ):
            return _page(request, "rate_limited.html", {}, status=429)
        try:
            if not signature_form.is_valid():
                raise services.ProcedureError(
                    _("Choose the signature file made by the signing app."), field="signature"
                )
            application = _submit(request, draft, signature_form)
        except services.ProcedureError as exc:
            if exc.field == "signature" and "signature" in signature_form.fields:
                if not signature_form.has_error("signature"):
                    signature_form.add_error("signature", str(exc))
            else:
                signature_form.add_error(None, str(exc))
            errors = form_error_summary(signature_form)
            status = 400
        else:
            return _after_submit(request, draft, application)
    provider_labels = dict(_providers(proc))
    signed = base.Identity.from_dict(draft.identity)
    return _page(
        request,
        "check.html",
        {
            "draft": draft,
            "procedure": proc,
            "rows": _check_rows(draft),
            "delivery": services.DELIVERY_LABELS.get(draft.delivery, draft.delivery),
            "address": draft.answers.get("_address", ""),
            "contact": draft.answers.get("_email", "")
            or (base.Identity.from_dict(draft.identity) or base.Identity("", "")).email,
            "payment": provider_labels.get(draft.payment_provider, ""),
            "applicant_name": signed.name if signed else "",
            "applicant_address": signed.address if signed else "",
            "delivery_step": _steps(draft),
            "back_step": _steps(draft)
            if not _nothing_to_ask(_delivery_form(draft))
            else max(1, _steps(draft) - 1),
            "delivery_changeable": len(proc.deliveries) > 1,
            "problem": problem,
            "jpki": jpki,
            "signature_form": signature_form,
            "errors": errors,
        },
        status=status,
    )


@require_GET
def signing_data(request: HttpRequest, draft_id: uuid.UUID) -> HttpResponse:
    """The exact bytes to sign (application.json), for the card's signing app."""
    draft = _draft(request, draft_id)
    try:
        data = _signing_bytes(draft)
    except services.ProcedureError as exc:
        return _page(request, "draft_gone.html", {"problem": str(exc)}, status=400)
    response = HttpResponse(data, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="application.json"'
    return _private(response)


def _submit(
    request: HttpRequest, draft: Draft, signature_form: forms_portal.SignatureForm
) -> Application:
    proc = draft.procedure
    if proc.identity_level == "jpki":
        from machi.procedures.identity import jpki

        upload = request.FILES.get("signature")
        if upload is None:
            raise services.ProcedureError(
                _("Choose the signature file made by the signing app."), field="signature"
            )
        if upload.size is None or upload.size > MAX_SIGNATURE_BYTES:
            raise services.ProcedureError(
                _("This file is too large to be a signature."), field="signature"
            )
        identity = jpki.verify_application(_signing_bytes(draft), upload.read())
    else:
        found = base.Identity.from_dict(draft.identity) or base.session_identity(request)
        if found is None or not base.satisfies(found, proc.identity_level):
            raise services.ProcedureError(
                _("Show who you are again: your sign-in has ended."), field="identity"
            )
        identity = found
    contact = draft.answers.get("_email", "") or identity.email
    application = services.application_submit(
        procedure=proc,
        applicant=services.Applicant(
            name=identity.name or contact or identity.identifier,
            email=contact,
            identifier=identity.identifier,
            identity_level=identity.level,
            address=identity.address or draft.answers.get("_address", ""),
        ),
        answers=_form_answers(draft),
        delivery=draft.delivery,
        channel="online",
    )
    return application


def _after_submit(request: HttpRequest, draft: Draft, application: Application) -> HttpResponse:
    provider = draft.payment_provider
    drafts.draft_forget(request, draft)
    mine = list(request.session.get("procedures_mine", []))[-19:]
    request.session["procedures_mine"] = [*mine, application.reference]
    if application.fee_yen and provider:
        from machi.procedures.payments import services as payment_services
        from machi.procedures.payments import views as payment_views

        try:
            payment = payment_services.payment_create(
                application=application, provider_name=provider
            )
            if payment.provider == "card":
                start = payment_services.payment_start(
                    payment=payment, return_url=payment_views.return_url(request, payment)
                )
                if start.redirect_url:
                    return redirect(start.redirect_url)
        except services.ProcedureError as exc:  # the application stands; pay from its page
            logger.warning("payment of %s not started: %s", application.reference, exc)
            messages.error(request, str(exc))
    return redirect("portal:done", application.reference)


@never_cache
@require_GET
def done(request: HttpRequest, reference: str) -> HttpResponse:
    """Submitted: the reference, what happens next, how to pay, the status link."""
    if reference not in request.session.get("procedures_mine", []):
        raise Http404("not an application of this browser")
    application = get_object_or_404(
        Application.objects.select_related("procedure"), reference=reference
    )
    core_services.audit_record(action=Action.READ, record=application, detail={"by": "applicant"})
    return _page(
        request,
        "done.html",
        {
            "application": application,
            "status_link": request.build_absolute_uri(services.status_path(application)),
            "payment": getattr(application, "payment", None),
            "instructions": _instructions(application),
            "card_due": _card_due(application),
        },
    )


def _card_due(application: Application) -> bool:
    payment = getattr(application, "payment", None)
    return bool(payment and payment.provider == "card" and payment.status in {"pending", "failed"})


def _instructions(application: Application) -> str:
    """How to pay a fee still due at the counter or by 定額小為替 (the card pays online)."""
    payment = getattr(application, "payment", None)
    if payment is None or payment.status != "pending":
        return ""
    from machi.procedures.payments import base as payments_base

    provider = payments_base.PROVIDERS.get(payment.provider)
    if provider is None or provider.online:
        return ""
    return str(provider.start(payment, return_url="").instructions or "")


# --- Following an application -------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
def status(request: HttpRequest, reference: str, key: str) -> HttpResponse:
    """The applicant's status page: the history, messages from staff, the fee; withdraw."""
    if not constant_time_compare(key, services.status_key(reference)):
        raise Http404("no such application")
    application = get_object_or_404(
        Application.objects.select_related("procedure"), reference=reference
    )
    if application.anonymised_at:
        raise Http404("removed")
    confirm_withdraw = request.method == "POST" and request.POST.get("action") == "withdraw"
    if request.method == "POST" and request.POST.get("action") == "withdraw_confirmed":
        try:
            services.status_change(
                application=application,
                status=Status.WITHDRAWN,
                by=None,
                note=_("Withdrawn by the applicant online."),
            )
        except services.ProcedureError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("Your application has been withdrawn."))
        return redirect(request.path)
    core_services.audit_record(action=Action.READ, record=application, detail={"by": "applicant"})
    history = list(application.history.all())
    return _page(
        request,
        "status.html",
        {
            "application": application,
            "history": history,
            "steps": _progress(application),
            "can_withdraw": Status.WITHDRAWN in services.TRANSITIONS[Status(application.status)]
            and application.status in {Status.RECEIVED, Status.REVIEWING, Status.CORRECTION},
            "confirm_withdraw": confirm_withdraw,
            "ended": application.status in {Status.REJECTED, Status.WITHDRAWN},
            "payment": getattr(application, "payment", None),
            "instructions": _instructions(application),
            "card_due": _card_due(application),
            "correction": application.status == Status.CORRECTION
            and next((e.message for e in reversed(history) if e.message), ""),
        },
    )


PROGRESS = (Status.RECEIVED, Status.REVIEWING, Status.APPROVED, Status.ISSUED, Status.SENT)


def _progress(application: Application) -> list[dict[str, Any]]:
    """The usual road, with where the application is on it."""
    reached = {entry.status for entry in application.history.all()}
    current = application.status
    return [
        {
            "label": step.label,
            "done": step in reached and step != current,
            "current": step == current,
        }
        for step in PROGRESS
    ]


@never_cache
@require_GET
def mine(request: HttpRequest) -> HttpResponse:
    """A signed-in resident's applications (by the identity they signed in with)."""
    identity = base.session_identity(request)
    if identity is None:
        return redirect(reverse("portal:email") + "?next=" + reverse("portal:mine"))
    found = list(
        Application.objects.filter(
            applicant_identifier=identity.identifier, anonymised_at__isnull=True
        )
        .select_related("procedure")
        .order_by("-submitted_at")[:50]
    )
    core_services.audit_record(
        action=Action.READ,
        object_type="procedures.application",
        detail={"by": "applicant", "listed": len(found)},
    )
    return _page(
        request,
        "mine.html",
        {
            "identity": identity,
            "applications": [(a, services.status_path(a)) for a in found],
        },
    )
