"""Staff pages of the notify room (広報・配信): broadcasts, templates, topics, subscribers, keys.

PR and HQ write and send; a non-emergency broadcast waits for a second person's approval where
the city wants that (``MACHI_NOTIFY_REQUIRE_APPROVAL``); auditors read. Subscribers' addresses
are personal data: the pages show counts, and finding one address is logged.
"""

from __future__ import annotations

import csv
import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from machi.core import access, japanese
from machi.core import services as core_services
from machi.core.roles import Action
from machi.core.views import staff_required
from machi.notify import conf, delivery, selectors, services, services_keys
from machi.notify.channels.base import Message
from machi.notify.forms import (
    ApiKeyForm,
    BroadcastForm,
    SubscriberSearchForm,
    TemplateChoiceForm,
    TemplateForm,
    TopicForm,
    broadcast_initial,
    error_summary,
)
from machi.notify.models import (
    ApiKey,
    Broadcast,
    BroadcastStatus,
    Channel,
    DeliveryStatus,
    Subscriber,
    Template,
    Topic,
)
from machi.notify.services import NotifyError

PAGE_SIZE = 50
FINISHED = frozenset({BroadcastStatus.SENT, BroadcastStatus.CANCELLED})


def _field_error(form: forms.BaseForm, exc: NotifyError) -> None:
    """A rule broken in a service, shown on the field it names (or above the form)."""
    form.add_error(exc.field if exc.field in form.fields else None, str(exc))


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


def _links(request: HttpRequest) -> dict[str, Any]:
    """The room's own menu (every page shows the entries the user may use)."""
    user = request.user
    return {
        "can_send": access.may(user, Action.CREATE, Broadcast),
        "may_templates": access.may(user, Action.READ, Template),
        "may_topics": access.may(user, Action.READ, Topic),
        "may_keys": access.may(user, Action.READ, ApiKey),
        "may_mailbox": _mailbox_enabled() and access.may(user, Action.READ, Broadcast),
    }


def _mailbox_enabled() -> bool:
    return bool(settings.DEMO or settings.DEBUG)


def _localtime(moment: Any) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else ""


# --- Broadcasts -------------------------------------------------------------------------------


@staff_required
@require_GET
def broadcast_list(request: HttpRequest) -> HttpResponse:
    access.require(request.user, Action.READ, Broadcast)
    status = request.GET.get("status", "")
    if status not in BroadcastStatus.values:
        status = ""
    page = Paginator(selectors.broadcasts(status=status), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "notify/index.html",
        {
            **_links(request),
            "page": page,
            "status": status,
            "statuses": BroadcastStatus.choices,
            "query": f"status={status}" if status else "",
        },
    )


def _compose_page(
    request: HttpRequest,
    form: BroadcastForm,
    *,
    preview: dict[str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    # Its own ids: the compose form has a (hidden) "template" input too.
    picker = TemplateChoiceForm(
        initial={"template": form["template"].value() or None}, auto_id="picker_%s"
    )
    return render(
        request,
        "notify/new.html",
        {
            **_links(request),
            "form": form,
            "errors": error_summary(form),
            "picker": picker,
            "preview": preview,
            "require_approval": conf.require_approval(),
        },
        status=status,
    )


@staff_required
@require_http_methods(["GET", "POST"])
def broadcast_new(request: HttpRequest) -> HttpResponse:
    """Write a broadcast (from a template or not), preview it, send it."""
    access.require(request.user, Action.CREATE, Broadcast)
    if request.method == "GET":
        template = None
        chosen = request.GET.get("template", "")
        if chosen.isascii() and chosen.isdecimal() and len(chosen) < 12:
            template = Template.objects.filter(pk=int(chosen)).first()
        form = BroadcastForm(initial=broadcast_initial(template))
        headers = request.headers
        if headers.get("HX-Request") and not headers.get("HX-History-Restore-Request"):
            response = render(request, "notify/_compose.html", {"form": form, "errors": []})
        else:
            response = _compose_page(request, form)
        patch_vary_headers(response, ["HX-Request"])
        return response
    form = BroadcastForm(request.POST)
    if request.POST.get("action") == "preview":  # the preview without JavaScript
        return _compose_page(request, form, preview=_preview(form))
    if form.is_valid():
        data = form.cleaned_data
        try:
            text = form.text()
            with transaction.atomic():
                created = services.broadcast_create(
                    text=text,
                    topics=list(data["topics"]),
                    areas=list(data["areas"]),
                    channels=data["channels"],
                    emergency=data["emergency"],
                    everyone=data["everyone"],
                    template=data["template"],
                    scheduled_at=data["scheduled_at"],
                    created_by=request.user,  # type: ignore[arg-type]
                    test=data["test"],
                )
                submitted = services.broadcast_submit(
                    broadcast=created,
                    by=request.user,  # type: ignore[arg-type]
                )
        except NotifyError as exc:
            _field_error(form, exc)
        else:
            messages.success(request, _submitted_message(submitted))
            return redirect("notify_console:detail", broadcast_id=submitted.pk)
    return _compose_page(request, form, status=400)


def _submitted_message(broadcast: Broadcast) -> str:
    if broadcast.status == BroadcastStatus.AWAITING_APPROVAL:
        return _("Saved. The broadcast waits for a second person's approval before it is sent.")
    if broadcast.status == BroadcastStatus.SCHEDULED:
        return _("Scheduled: the broadcast will be sent at %(time)s.") % {
            "time": _localtime(broadcast.scheduled_at)
        }
    if broadcast.test:
        return _("Test broadcast started: nothing is sent to residents.")
    return _("Sending started.")


# --- Preview ------------------------------------------------------------------------------------


def _preview(form: BroadcastForm) -> dict[str, Any]:
    """How the message looks on each channel, in Japanese and in English.

    Placeholders without a value stay visible as ((name)), and are listed as errors; the text
    is cut and laid out by the same code the channels use (``delivery.Texts``, LINE's
    ``message_text``) so what staff see is what residents get.
    """
    from machi.notify.channels.line import message_text

    data = form.data
    values = form.values()
    missing = [name for name, value in values.items() if not value]
    filled = {name: value or f"(({name}))" for name, value in values.items()}

    def fill(name: str) -> str:
        text = str(data.get(name, "")).strip()
        return services.render(text, filled, strict=False) if text else ""

    draft = Broadcast(
        subject=fill("subject"),
        body=fill("body"),
        subject_en=fill("subject_en"),
        body_en=fill("body_en"),
    )
    texts = delivery.Texts(draft)
    archive = conf.site_url() + reverse("notify:messages") + "…"
    manage = conf.site_url() + reverse("notify:manage", args=["TOKEN"]).replace("TOKEN", "…")
    languages = []
    for language in ("ja", "en"):
        subject, body, short = texts.for_language(language)
        with translation.override(language):
            footer = _("Change or stop what you receive: %(link)s") % {"link": manage}
            name = _("Japanese") if language == "ja" else _("English")
        line = message_text(
            Message(
                delivery_id=0,
                key="preview",
                address="",
                language=language,
                subject=subject,
                body=body,
                short=short,
                url=archive,
                manage_url=manage,
                unsubscribe_url=manage,
            )
        )
        languages.append(
            {
                "code": language,
                "name": name,
                "subject": subject,
                "body": body,
                "short": short,
                "footer": footer,
                "line": line,
                "fallback": language == "en" and not (draft.subject_en and draft.body_en),
            }
        )
    channels = data.getlist("channels") if hasattr(data, "getlist") else []
    return {
        "empty": not (draft.subject or draft.body),
        "missing": missing,
        "languages": languages,
        "channels": [c for c in Channel.values if c in channels] or list(Channel.values),
        "url": archive,
    }


@staff_required
@require_POST
def broadcast_preview(request: HttpRequest) -> HttpResponse:
    """htmx: the preview fragment, and the placeholder inputs the text now needs (out of band)."""
    access.require(request.user, Action.CREATE, Broadcast)
    form = BroadcastForm(request.POST)
    return render(
        request,
        "notify/_preview.html",
        {"form": form, "preview": _preview(form), "oob": True},
    )


# --- One broadcast ------------------------------------------------------------------------------


def _broadcast(request: HttpRequest, broadcast_id: uuid.UUID) -> Broadcast:
    access.require(request.user, Action.READ, Broadcast)
    found = selectors.broadcast(broadcast_id)
    if found is None:
        raise Http404("no such broadcast")
    access.require(request.user, Action.READ, found)
    return found


def _progress_context(broadcast: Broadcast) -> dict[str, Any]:
    counts = services.broadcast_counts(broadcast)
    total = sum(counts[status] for status in DeliveryStatus.values)
    done = counts[DeliveryStatus.DELIVERED] + counts[DeliveryStatus.PERMANENT_FAILURE]
    return {
        "total": total,
        "done": done,
        "percent": round(100 * done / total) if total else broadcast.progress,
        "broadcast": broadcast,
        "counts": counts,
        "by_channel": selectors.counts_by_channel(counts, list(broadcast.channels)),
        "delivered": counts[DeliveryStatus.DELIVERED],
        "failed": counts[DeliveryStatus.PERMANENT_FAILURE],
        "retrying": counts[DeliveryStatus.TEMPORARY_FAILURE],
        "pending": counts[DeliveryStatus.CREATED] + counts[DeliveryStatus.SENDING],
        "live": broadcast.status == BroadcastStatus.SENDING,
    }


@staff_required
@require_GET
def broadcast_detail(request: HttpRequest, broadcast_id: uuid.UUID) -> HttpResponse:
    broadcast = _broadcast(request, broadcast_id)
    user = request.user
    may_update = access.may(user, Action.UPDATE, broadcast)
    awaiting = broadcast.status == BroadcastStatus.AWAITING_APPROVAL
    return render(
        request,
        "notify/detail.html",
        {
            **_links(request),
            **_progress_context(broadcast),
            "topics": list(broadcast.topics.all()),
            "areas": list(broadcast.areas.all()),
            "channel_labels": [Channel(c).label for c in broadcast.channels if c in Channel.values],
            "can_approve": may_update and awaiting and broadcast.created_by_id != user.pk,
            "own_awaiting": awaiting and broadcast.created_by_id == user.pk,
            "can_submit": may_update and broadcast.status == BroadcastStatus.DRAFT,
            "can_cancel": may_update and broadcast.status not in FINISHED,
            "can_export": access.may(user, Action.EXPORT, broadcast),
            "public": broadcast.status in selectors.PUBLIC_STATUSES and not broadcast.test,
        },
    )


@staff_required
@require_GET
def broadcast_progress(request: HttpRequest, broadcast_id: uuid.UUID) -> HttpResponse:
    """The progress fragment (htmx polls it while sending), or ?format=json."""
    broadcast = _broadcast(request, broadcast_id)
    if request.GET.get("format") == "json":
        return JsonResponse(
            {
                "status": broadcast.status,
                "total": broadcast.total,
                "delivered": broadcast.delivered,
                "failed": broadcast.failed,
                "progress": broadcast.progress,
            }
        )
    return render(request, "notify/_progress.html", _progress_context(broadcast))


def _act(request: HttpRequest, broadcast_id: uuid.UUID) -> Broadcast:
    broadcast = _broadcast(request, broadcast_id)
    access.require(request.user, Action.UPDATE, broadcast)
    return broadcast


@staff_required
@require_POST
def broadcast_submit(request: HttpRequest, broadcast_id: uuid.UUID) -> HttpResponse:
    broadcast = _act(request, broadcast_id)
    if broadcast.status != BroadcastStatus.DRAFT:
        messages.error(request, _("Only a draft can be submitted."))
    else:
        submitted = services.broadcast_submit(broadcast=broadcast, by=request.user)  # type: ignore[arg-type]
        messages.success(request, _submitted_message(submitted))
    return redirect("notify_console:detail", broadcast_id=broadcast.pk)


@staff_required
@require_POST
def broadcast_approve(request: HttpRequest, broadcast_id: uuid.UUID) -> HttpResponse:
    broadcast = _act(request, broadcast_id)
    try:
        approved = services.broadcast_approve(broadcast=broadcast, by=request.user)  # type: ignore[arg-type]
    except NotifyError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Approved. ") + _submitted_message(approved))
    return redirect("notify_console:detail", broadcast_id=broadcast.pk)


@staff_required
@require_POST
def broadcast_cancel(request: HttpRequest, broadcast_id: uuid.UUID) -> HttpResponse:
    """Asks first (the confirmation page), then stops: nothing more is sent."""
    broadcast = _act(request, broadcast_id)
    if broadcast.status in FINISHED:
        messages.error(request, _("This broadcast has already finished."))
        return redirect("notify_console:detail", broadcast_id=broadcast.pk)
    if request.POST.get("confirm") != "yes":
        return render(
            request,
            "notify/cancel_confirm.html",
            {**_links(request), **_progress_context(broadcast)},
        )
    services.broadcast_cancel(broadcast=broadcast, by=request.user)  # type: ignore[arg-type]
    messages.success(request, _("Cancelled: nothing more is sent."))
    return redirect("notify_console:detail", broadcast_id=broadcast.pk)


class _Echo:
    """csv.writer's file: hands each row back instead of storing it."""

    def write(self, value: str) -> str:
        return value


_cell = japanese.excel_cell  # a peer's error message is not ours to trust


CSV_HEADER = ["id", "channel", "status", "attempts", "sent_at", "error", "address"]


def _csv_rows(broadcast: Broadcast) -> Iterator[str]:
    writer = csv.writer(_Echo(), lineterminator="\r\n")
    yield "\ufeff" + writer.writerow(CSV_HEADER)
    for item in selectors.deliveries_for_export(broadcast).iterator(chunk_size=2000):
        yield writer.writerow(
            [
                str(item.pk),
                item.channel,
                item.status,
                str(item.attempts),
                timezone.localtime(item.sent_at).isoformat(timespec="seconds")
                if item.sent_at
                else "",
                _cell(item.error),
                _cell(item.subscriber.masked_address) if item.subscriber is not None else "",
            ]
        )


@staff_required
@require_GET
def deliveries_csv(request: HttpRequest, broadcast_id: uuid.UUID) -> HttpResponseBase:
    """Every delivery of the broadcast, for Excel (UTF-8 with BOM); the export is logged."""
    broadcast = _broadcast(request, broadcast_id)
    access.require(request.user, Action.EXPORT, broadcast)
    core_services.audit_record(
        action=Action.EXPORT,
        record=broadcast,
        detail={"deliveries": broadcast.deliveries.count()},
    )
    response = StreamingHttpResponse(_csv_rows(broadcast), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="deliveries-{broadcast.pk}.csv"'
    response["Cache-Control"] = "no-store"
    return response


# --- Templates and topics -----------------------------------------------------------------------


def _may_edit(
    request: HttpRequest, record: Template | Topic, model: type[Template | Topic]
) -> bool:
    """Readers see a record's form greyed out; a new one, and every POST, needs the right."""
    access.require(request.user, Action.READ, model)
    if record.pk:
        allowed = access.may(request.user, Action.UPDATE, record)
    else:
        access.require(request.user, Action.CREATE, model)
        allowed = True
    if request.method == "POST" and not allowed:
        access.require(request.user, Action.UPDATE, record)
    return allowed


def _read_only(form: forms.BaseForm, can_edit: bool) -> None:
    if not can_edit:
        for field in form.fields.values():
            field.disabled = True


@staff_required
@require_GET
def template_list(request: HttpRequest) -> HttpResponse:
    access.require(request.user, Action.READ, Template)
    rows = [
        {
            "template": template,
            "placeholders": services.placeholders(
                template.subject, template.body, template.subject_en, template.body_en
            ),
        }
        for template in selectors.templates()
    ]
    return render(
        request,
        "notify/templates.html",
        {
            **_links(request),
            "rows": rows,
            "can_edit": access.may(request.user, Action.CREATE, Template),
        },
    )


@staff_required
@require_http_methods(["GET", "POST"])
def template_edit(request: HttpRequest, template_id: int | None = None) -> HttpResponse:
    template = get_object_or_404(Template, pk=template_id) if template_id else Template()
    can_edit = _may_edit(request, template, Template)
    form = TemplateForm(request.POST or None, instance=template)
    _read_only(form, can_edit)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            changes = {name: form.cleaned_data[name] for name in form.Meta.fields}
            try:
                saved = services.template_save(template=template, **changes)
            except NotifyError as exc:
                _field_error(form, exc)
            else:
                messages.success(request, _("Template %(name)s saved.") % {"name": saved.name})
                return redirect("notify_console:templates")
        status = 400
    texts = [str(form[name].value() or "") for name in ("subject", "body", "subject_en", "body_en")]
    title = (
        _("Edit the template %(name)s") % {"name": template.name}
        if template.pk
        else _("New template")
    )
    return render(
        request,
        "notify/template_edit.html",
        {
            **_links(request),
            "form": form,
            "errors": error_summary(form),
            "template": template,
            "title": title,
            "can_edit": can_edit,
            "placeholders": services.placeholders(*texts),
        },
        status=status,
    )


@staff_required
@require_GET
def topic_list(request: HttpRequest) -> HttpResponse:
    access.require(request.user, Action.READ, Topic)
    return render(
        request,
        "notify/topics.html",
        {
            **_links(request),
            "topics": selectors.topics(),
            "can_edit": access.may(request.user, Action.CREATE, Topic),
        },
    )


@staff_required
@require_http_methods(["GET", "POST"])
def topic_edit(request: HttpRequest, topic_id: int | None = None) -> HttpResponse:
    topic = get_object_or_404(Topic, pk=topic_id) if topic_id else Topic()
    can_edit = _may_edit(request, topic, Topic)
    action = Action.UPDATE if topic.pk else Action.CREATE
    form = TopicForm(request.POST or None, instance=topic)
    _read_only(form, can_edit)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            saved = form.save()
            core_services.audit_record(action=action, record=saved)
        messages.success(request, _("Topic %(name)s saved.") % {"name": saved.name})
        return redirect("notify_console:topics")
    title = _("Edit the topic %(name)s") % {"name": topic.name} if topic.pk else _("New topic")
    return render(
        request,
        "notify/topic_edit.html",
        {
            **_links(request),
            "form": form,
            "errors": error_summary(form),
            "title": title,
            "can_edit": can_edit,
        },
        status=400 if form.errors else 200,
    )


# --- Subscribers --------------------------------------------------------------------------------


@staff_required
@require_http_methods(["GET", "POST"])
def subscribers(request: HttpRequest) -> HttpResponse:
    """Counts for everyone who reads broadcasts; one address found by exact search (logged),
    and stopped on the resident's behalf (PR)."""
    access.require(request.user, Action.READ, Broadcast)
    user = request.user
    may_search = access.may(user, Action.READ, Subscriber)
    form = SubscriberSearchForm(request.POST if request.POST.get("action") == "search" else None)
    found: Subscriber | None = None
    searched = False
    status = 200
    if request.method == "POST":
        access.require(user, Action.READ, Subscriber)
        if request.POST.get("action") == "unsubscribe":
            return _unsubscribe_for_resident(request)
        if form.is_valid():
            searched = True
            try:
                found = selectors.subscriber_by_email(form.cleaned_data["address"])
            except NotifyError as exc:
                _field_error(form, exc)
                searched = False
            if found is not None:
                core_services.audit_record(
                    action=Action.READ, record=found, detail={"search": "email"}
                )
        if form.errors:
            status = 400
    response = render(
        request,
        "notify/subscribers.html",
        {
            **_links(request),
            "counts": selectors.subscriber_counts(),
            "may_search": may_search,
            "may_unsubscribe": may_search and access.may(user, Action.DELETE, Subscriber),
            "form": form,
            "errors": error_summary(form),
            "found": found,
            "found_topics": list(found.topics.all()) if found else [],
            "found_areas": list(found.areas.all()) if found else [],
            "searched": searched,
            "qr_page": reverse("notify:qr") + "?target=page",
            "qr_line": reverse("notify:qr") + "?target=line" if conf.line_friend_url() else "",
        },
        status=status,
    )
    return _no_store(response)


def _unsubscribe_for_resident(request: HttpRequest) -> HttpResponse:
    subscriber_id = request.POST.get("subscriber", "")
    try:
        key = uuid.UUID(subscriber_id)
    except ValueError as exc:
        raise Http404("no such subscriber") from exc
    subscriber = get_object_or_404(Subscriber, pk=key)
    access.require(request.user, Action.DELETE, subscriber)
    with transaction.atomic():
        core_services.audit_record(
            action=Action.DELETE, record=subscriber, detail={"on_behalf_of_resident": True}
        )
        services.unsubscribe(subscriber=subscriber)
    messages.success(
        request,
        _("The subscription of %(address)s has been stopped and its address deleted.")
        % {"address": subscriber.masked_address},
    )
    return redirect("notify_console:subscribers")


# --- API keys -----------------------------------------------------------------------------------


@staff_required
@require_http_methods(["GET", "POST"])
def api_keys(request: HttpRequest) -> HttpResponse:
    access.require(request.user, Action.READ, ApiKey)
    form = ApiKeyForm(request.POST if request.POST.get("action") == "create" else None)
    status = 200
    if request.method == "POST":
        if request.POST.get("action") == "revoke":
            key = get_object_or_404(ApiKey, pk=request.POST.get("key", "0") or 0)
            access.require(request.user, Action.UPDATE, key)
            services_keys.api_key_revoke(key=key)
            messages.success(request, _("The key %(name)s no longer works.") % {"name": key.name})
            return redirect("notify_console:keys")
        access.require(request.user, Action.CREATE, ApiKey)
        if form.is_valid():
            try:
                key, secret = services_keys.api_key_create(
                    name=form.cleaned_data["name"],
                    kind=form.cleaned_data["kind"],
                    created_by=request.user,  # type: ignore[arg-type]
                )
            except NotifyError as exc:
                _field_error(form, exc)
            else:
                return _no_store(
                    render(
                        request,
                        "notify/key_created.html",
                        {**_links(request), "key": key, "secret": secret},
                    )
                )
        status = 400
    return render(
        request,
        "notify/keys.html",
        {
            **_links(request),
            "keys": selectors.api_keys(),
            "form": form,
            "errors": error_summary(form),
            "can_edit": access.may(request.user, Action.CREATE, ApiKey),
            "key_prefix": services_keys.KEY_PREFIX,
        },
        status=status,
    )


# --- The demo's mailbox -------------------------------------------------------------------------

MAILBOX_HEADERS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Content-Language",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Auto-Submitted",
)


@staff_required
@require_GET
def mailbox(request: HttpRequest) -> HttpResponse:
    """What the demo's local SMTP sink received (demo and development only)."""
    if not _mailbox_enabled():
        raise Http404("the mailbox exists only in the demo")
    access.require(request.user, Action.READ, Broadcast)
    directory = settings.DATA_DIR / "mailsink"
    entries: list[dict[str, Any]] = []
    opened: dict[str, Any] | None = None
    available = True
    try:
        from machi.notify.peers.smtp_sink import read_message, read_store
    except ImportError:
        available = False
    else:
        entries = [_with_local_time(entry) for entry in read_store(directory, limit=100)]
        seq = request.GET.get("seq", "")
        if seq.isascii() and seq.isdecimal() and len(seq) < 12:
            opened = _opened_message(read_message, directory, int(seq))
    return render(
        request,
        "notify/mailbox.html",
        {
            **_links(request),
            "available": available,
            "entries": entries,
            "opened": opened,
            "port": getattr(settings, "MACHI_NOTIFY_SINK_PORT", ""),
        },
    )


def _with_local_time(entry: dict[str, Any]) -> dict[str, Any]:
    """The sink writes UTC (ISO 8601); staff read Japan time."""
    try:
        moment = dt.datetime.fromisoformat(str(entry.get("at", "")))
    except ValueError:
        return {**entry, "at_local": entry.get("at", "")}
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=dt.UTC)
    return {**entry, "at_local": timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S")}


def _opened_message(read_message: Any, directory: Any, seq: int) -> dict[str, Any] | None:
    try:
        message = read_message(directory, seq)
    except (FileNotFoundError, ValueError):
        return None
    part = message.get_body(preferencelist=("plain", "html"))
    try:
        body = part.get_content() if part is not None else ""
    except (LookupError, ValueError):  # an unknown charset: show what can be read
        body = str(part.get_payload(decode=True) or b"", "utf-8", "replace") if part else ""
    headers = [(name, str(message[name])) for name in MAILBOX_HEADERS if message[name] is not None]
    return {
        "seq": seq,
        "headers": headers,
        "body": body,
        "html_only": part is not None and part.get_content_subtype() == "html",
    }
