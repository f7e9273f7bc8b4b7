"""Staff pages of the guide room: the knowledge base (list, edit with history, CSV)."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from machi.core import access
from machi.core import services as core_services
from machi.core.forms import form_error_summary
from machi.core.roles import Action
from machi.core.views import staff_required
from machi.guide import faq, services
from machi.guide.forms import EntryForm, FilterForm, ImportForm
from machi.guide.models import Entry, Question

PAGE = 50


@staff_required
@require_GET
def entries(request: HttpRequest) -> HttpResponse:
    access.require(request.user, Action.READ, Entry)
    form = FilterForm(request.GET or None)
    found = Entry.objects.all()
    if form.is_valid():
        if words := form.cleaned_data["q"].strip():
            found = found.filter(Q(question__icontains=words) | Q(answer__icontains=words))
        if category := form.cleaned_data["category"].strip():
            found = found.filter(category=category)
    page = Paginator(found, PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "guide/entries.html",
        {
            "page": page,
            "form": form,
            "categories": Entry.objects.order_by("category")
            .values_list("category", flat=True)
            .distinct(),
            "can_edit": access.may(request.user, Action.UPDATE, Entry),
            "total": Entry.objects.count(),
        },
    )


@staff_required
@require_http_methods(["GET", "POST"])
def entry_edit(request: HttpRequest, entry_id: int | None = None) -> HttpResponse:
    entry = get_object_or_404(Entry, pk=entry_id) if entry_id else Entry()
    access.require(request.user, Action.UPDATE if entry.pk else Action.CREATE, Entry)
    initial = {"question": request.GET.get("question", "")[:500]} if not entry.pk else None
    form = EntryForm(request.POST or None, instance=entry, initial=initial)
    if request.method == "POST" and form.is_valid():
        by = access.user_of(request)
        with transaction.atomic():
            saved = form.save(commit=False)
            saved.changed_at = timezone.now()
            saved.save()
            faq.revision_save(saved, by=by, source="console")
            core_services.audit_record(
                action=Action.UPDATE if entry_id else Action.CREATE, record=saved, actor=by
            )
        messages.success(request, _("Entry %(key)s saved.") % {"key": saved.key})
        return redirect("guide:entries")
    return render(
        request,
        "guide/entry_edit.html",
        {
            "form": form,
            "errors": form_error_summary(form),
            "entry": entry,
            "revisions": entry.revisions.select_related("by")[:20] if entry.pk else [],
        },
        status=400 if form.errors else 200,
    )


@staff_required
@require_http_methods(["GET", "POST"])
def import_file(request: HttpRequest) -> HttpResponse:
    access.require(request.user, Action.CREATE, Entry)
    form = ImportForm(request.POST or None, request.FILES or None)
    errors: list[str] = []
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]  # its size is checked by the form
        result = faq.import_csv(upload.read(), by=access.user_of(request))
        errors = result.errors
        if not errors:
            messages.success(
                request,
                _("%(created)s entries added, %(updated)s changed, %(unchanged)s unchanged.")
                % {
                    "created": result.created,
                    "updated": result.updated,
                    "unchanged": result.unchanged,
                },
            )
            return redirect("guide:entries")
    return render(
        request,
        "guide/import.html",
        {"form": form, "problems": errors},
        status=400 if errors or form.errors else 200,
    )


@staff_required
@require_GET
def export_file(request: HttpRequest) -> HttpResponse:
    access.require(request.user, Action.EXPORT, Entry)
    from machi.core.models import Municipality

    city = Municipality.objects.first()
    data = faq.export_csv(lgcode=city.lgcode if city else "")
    core_services.audit_record(
        action=Action.EXPORT, object_type="guide.entry", detail={"csv": Entry.objects.count()}
    )
    response = HttpResponse(data, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="faq.csv"'
    return response


@staff_required
@require_http_methods(["GET", "POST"])
def questions(request: HttpRequest) -> HttpResponse:
    """What the chat could not answer well (low confidence, or 「解決しなかった」), to review
    one by one, and the questions asked most often without a good answer: what to write next."""
    access.require(request.user, Action.READ, Entry)
    can_edit = access.may(request.user, Action.UPDATE, Entry)
    if request.method == "POST" and can_edit:
        ids = [int(i) for i in request.POST.getlist("question") if i.isdigit()][:200]
        for question in Question.objects.filter(pk__in=ids):
            services.review(question=question, by=access.user_of(request))
        messages.success(request, _("%(n)s questions marked as reviewed.") % {"n": len(ids)})
        return redirect("guide:questions")
    page = Paginator(services.to_review(), PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "guide/questions.html",
        {
            "page": page,
            "summary": services.unanswered_summary(),
            "can_edit": can_edit,
            "asked": Question.objects.count(),
            "low": Question.objects.filter(low_confidence=True).count(),
            "unresolved": Question.objects.filter(feedback="unresolved").count(),
        },
    )
