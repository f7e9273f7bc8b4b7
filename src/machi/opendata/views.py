"""Staff pages of the open data room: the catalogue with each file's state, the validation
reports, making files again, and keeping datasets' descriptions."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from machi.core import access
from machi.core import services as core_services
from machi.core.forms import form_error_summary
from machi.core.roles import Action
from machi.core.views import staff_required
from machi.opendata import catalog, generators, schema, services, validation
from machi.opendata.forms import CheckForm, DatasetForm, ResourceForm
from machi.opendata.models import Dataset, Report, Resource

RESOURCE = "opendata.dataset"


def _rows() -> list[dict[str, object]]:
    datasets = list(
        Dataset.objects.prefetch_related(
            Prefetch("resources", queryset=Resource.objects.defer("content"))
        ).order_by("-generator", "name")
    )
    generated = [r.pk for d in datasets if d.generator for r in d.resources.all()]
    latest: dict[object, Report] = {}
    reports = Report.objects.filter(resource_id__in=generated).defer("issues")
    for found in reports.order_by("resource_id", "-at"):  # at most 20 kept per file
        latest.setdefault(found.resource_id, found)
    return [
        {
            "dataset": dataset,
            "resources": [
                {"resource": r, "report": latest.get(r.pk)} for r in dataset.resources.all()
            ],
        }
        for dataset in datasets
    ]


@staff_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    access.require(request.user, Action.READ, RESOURCE)
    return render(
        request,
        "opendata/index.html",
        {
            "rows": _rows(),
            "can_edit": access.may(request.user, Action.UPDATE, RESOURCE),
            "city": generators.city_current(),
        },
    )


@staff_required
@require_POST
def generate(request: HttpRequest) -> HttpResponse:
    """Make the files again now: one dataset, or all of them."""
    access.require(request.user, Action.UPDATE, RESOURCE)
    name = request.POST.get("dataset", "")
    if name:
        dataset = get_object_or_404(Dataset, name=name)
        outcomes = services.dataset_generate(dataset, force=True)
    else:
        outcomes = services.refresh(force=True)
    refused = [o for o in outcomes if not o.report.published]
    core_services.audit_record(
        action=Action.UPDATE,
        object_type="opendata.dataset",
        detail={"generated": name or "all", "files": len(outcomes), "refused": len(refused)},
    )
    if refused:
        messages.error(
            request,
            _("%(count)s file(s) were not published: the validators found errors. See the report.")
            % {"count": len(refused)},
        )
    else:
        messages.success(
            request, _("%(count)s file(s) checked and published.") % {"count": len(outcomes)}
        )
    return redirect("opendata:index")


@staff_required
@require_GET
def report(request: HttpRequest, name: str, key: str) -> HttpResponse:
    access.require(request.user, Action.READ, RESOURCE)
    resource = get_object_or_404(
        Resource.objects.select_related("dataset").defer("content"), dataset__name=name, key=key
    )
    reports = list(resource.reports.all())
    shown = reports[0] if reports else None
    if (wanted := request.GET.get("report", "")).isdigit():
        shown = next((r for r in reports if r.pk == int(wanted)), shown)
    checked = (
        validation.Report.from_json(
            {
                "rows": shown.rows,
                "errors": shown.errors,
                "warnings": shown.warnings,
                "issues": shown.issues,
                "counts": shown.counts,
            }
        )
        if shown is not None
        else None
    )
    return render(
        request,
        "opendata/report.html",
        {"resource": resource, "reports": reports, "shown": shown, "checked": checked},
    )


@staff_required
@require_http_methods(["GET", "POST"])
def dataset_edit(request: HttpRequest, name: str | None = None) -> HttpResponse:
    dataset = get_object_or_404(Dataset, name=name) if name else Dataset()
    access.require(request.user, Action.UPDATE if dataset.pk and name else Action.CREATE, RESOURCE)
    form = DatasetForm(request.POST or None, instance=dataset if name else None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            saved = form.save()
            core_services.audit_record(
                action=Action.UPDATE if name else Action.CREATE, record=saved
            )
        catalog.forget()
        messages.success(request, _("Dataset %(title)s saved.") % {"title": saved.title})
        return redirect("opendata:dataset_edit", name=saved.name)
    return render(
        request,
        "opendata/dataset_edit.html",
        {
            "form": form,
            "errors": form_error_summary(form),
            "dataset": dataset if name else None,
            "resource_form": ResourceForm() if name and not dataset.generator else None,
        },
    )


@staff_required
@require_POST
def resource_add(request: HttpRequest, name: str) -> HttpResponse:
    """A file published elsewhere (another system, the city's site) added to a dataset."""
    dataset = get_object_or_404(Dataset, name=name, generator="")
    access.require(request.user, Action.UPDATE, RESOURCE)
    form = ResourceForm(request.POST)
    if form.is_valid():
        resource = form.save(commit=False)
        resource.dataset = dataset
        resource.position = dataset.resources.count()
        resource.save()
        dataset.save()  # its metadata changed
        core_services.audit_record(action=Action.CREATE, record=resource)
        messages.success(request, _("File %(name)s added.") % {"name": resource.name})
        return redirect("opendata:dataset_edit", name=name)
    return render(
        request,
        "opendata/dataset_edit.html",
        {
            "form": DatasetForm(instance=dataset),
            "errors": form_error_summary(form),
            "dataset": dataset,
            "resource_form": form,
        },
    )


@staff_required
@require_POST
def resource_remove(request: HttpRequest, name: str, key: str) -> HttpResponse:
    resource = get_object_or_404(Resource, dataset__name=name, dataset__generator="", key=key)
    access.require(request.user, Action.DELETE, RESOURCE)
    core_services.audit_record(action=Action.DELETE, record=resource)
    resource.delete()
    resource.dataset.save()
    messages.success(request, _("File %(name)s removed.") % {"name": resource.name})
    return redirect("opendata:dataset_edit", name=name)


@staff_required
@require_http_methods(["GET", "POST"])
def check(request: HttpRequest) -> HttpResponse:
    """Check a CSV file against a standard layout before publishing it elsewhere."""
    access.require(request.user, Action.READ, RESOURCE)
    form = CheckForm(request.POST or None, request.FILES or None)
    checked = None
    if request.method == "POST" and form.is_valid():
        generator_key, layout_key = form.cleaned_data["layout"].split(":")
        generator = generators.BY_KEY[generator_key]
        layout = next(x for x in generator.layouts if x.key == layout_key)
        columns = schema.columns_for(generators.columns_of(layout))
        checked = validation.validate_csv(form.cleaned_data["file"].read(), columns)
    return render(
        request,
        "opendata/check.html",
        {"form": form, "errors": form_error_summary(form), "checked": checked},
        status=400 if form.errors else 200,
    )
