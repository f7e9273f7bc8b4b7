"""The public catalogue: a page per dataset for people, the files, and DCAT JSON-LD."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.http import http_date, quote_etag
from django.utils.translation import get_language
from django.views.decorators.http import require_GET

from machi.opendata import catalog, dcat, generators, services
from machi.opendata.models import Dataset, Resource

PAGE = 20
PREVIEW_ROWS = 10
FORMATS = ("CSV", "JSON", "GEOJSON", "XLSX", "PDF", "ZIP", "XML")


def _base(request: HttpRequest) -> str:
    return request.build_absolute_uri("/").rstrip("/")


def _title(dataset: Dataset | dict[str, Any]) -> str:
    english = (get_language() or "ja").startswith("en")
    if isinstance(dataset, Dataset):
        return dataset.title_en if english and dataset.title_en else dataset.title
    extras = {e["key"]: e["value"] for e in dataset["extras"]}
    return str(extras["title_en"] if english and extras.get("title_en") else dataset["title"])


@require_GET
def catalogue(request: HttpRequest) -> HttpResponse:
    words = request.GET.get("q", "").strip()[:200]
    tag = request.GET.get("tag", "").strip()[:100]
    fmt = request.GET.get("format", "").strip().upper()[:16]
    filters = []
    if tag:
        filters.append(f'tags:"{tag.replace(chr(34), "")}"')
    if fmt:
        filters.append(f'res_format:"{fmt.replace(chr(34), "")}"')
    # Words are searched as typed, each as a phrase: no query syntax for people to trip on.
    query = " ".join(f'"{w.replace(chr(34), "")}"' for w in words.split())
    result = catalog.search(
        {
            "q": query,
            "fq": " ".join(filters),
            "rows": catalog.ROWS_MAX,
            "sort": "score desc, title_string asc" if words else "title_string asc",
            "facet.field": '["tags", "res_format"]',
        },
        base=_base(request),
    )
    packages = [{**p, "display_title": _title(p)} for p in result["results"]]
    page = Paginator(packages, PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "opendata/public/catalogue.html",
        {
            "page": page,
            "count": result["count"],
            "words": words,
            "tag": tag,
            "format": fmt,
            "tags": result["search_facets"]["tags"]["items"],
            "formats": result["search_facets"]["res_format"]["items"],
            "city": generators.city_current(),
        },
    )


def _published(name: str) -> Dataset:
    return get_object_or_404(Dataset, name=name, published=True)


def _preview(resource: Resource) -> tuple[list[str], list[list[str]]]:
    if resource.content is None:
        return [], []
    reader = csv.reader(io.StringIO(bytes(resource.content).decode("utf-8"), newline=""))
    header = next(reader, [])
    rows = [row for _i, row in zip(range(PREVIEW_ROWS), reader, strict=False)]
    return header, rows


@require_GET
def dataset(request: HttpRequest, name: str) -> HttpResponse:
    record = _published(name)
    for resource in record.resources.all():
        services.resource_current(resource)
    package = catalog.package_find(record.name, base=_base(request))
    if package is None:
        raise Http404
    resources = list(record.resources.all())
    first = next((r for r in resources if r.content is not None), None)
    header, rows = _preview(first) if first is not None else ([], [])
    english = (get_language() or "ja").startswith("en")
    return render(
        request,
        "opendata/public/dataset.html",
        {
            "dataset": record,
            "title": _title(record),
            "notes": record.notes_en if english and record.notes_en else record.notes,
            "package": package,
            "resources": [
                {
                    "resource": r,
                    "label": r.name_en if english and r.name_en else r.name,
                    "url": services.resource_path(r),
                    "excel_url": services.resource_path(r, excel=True) if r.filename else "",
                }
                for r in resources
            ],
            "preview_resource": first,
            "preview_header": header,
            "preview_rows": rows,
            "license": catalog.LICENSES.get(record.license_id, (record.license_id, "")),
            "city": generators.city_current(),
            "api_url": reverse("ckan:action", args=["package_show"]) + f"?id={record.name}",
        },
    )


def _file(request: HttpRequest, name: str, key: str, filename: str, *, excel: bool) -> HttpResponse:
    record = _published(name)
    resource = get_object_or_404(Resource, dataset=record, key=key)
    if resource.filename != filename:
        raise Http404
    resource = services.resource_current(resource)
    if resource.content is None:
        raise Http404("This file has not been published yet.")
    etag = quote_etag(resource.sha256 + ("-excel" if excel else ""))
    headers = {
        "ETag": etag,
        "Cache-Control": "public, max-age=0, must-revalidate",
        "Access-Control-Allow-Origin": "*",
    }
    if resource.last_modified is not None:
        headers["Last-Modified"] = http_date(resource.last_modified.timestamp())
    if request.headers.get("If-None-Match") == etag:
        response = HttpResponse(status=304)
    else:
        content = bytes(resource.content)
        body = services.excel_bytes(content) if excel else content
        response = HttpResponse(body, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
    for header, value in headers.items():
        response[header] = value
    return response


@require_GET
def download(request: HttpRequest, name: str, key: str, filename: str) -> HttpResponse:
    return _file(request, name, key, filename, excel=False)


@require_GET
def excel(request: HttpRequest, name: str, key: str, filename: str) -> HttpResponse:
    return _file(request, name, key, filename, excel=True)


def _jsonld(document: dict[str, Any]) -> HttpResponse:
    response = HttpResponse(
        json.dumps(document, ensure_ascii=False, indent=1),
        content_type="application/ld+json; charset=utf-8",
    )
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_GET
def dataset_jsonld(request: HttpRequest, name: str) -> HttpResponse:
    package = catalog.package_find(name, base=_base(request))
    if package is None:
        raise Http404
    return _jsonld(dcat.dataset_document(package))


@require_GET
def catalogue_jsonld(request: HttpRequest) -> HttpResponse:
    return _jsonld(dcat.catalogue_document(_base(request)))


@require_GET
def legacy_wifi(request: HttpRequest) -> HttpResponse:
    """The address of dataset 07 before the catalogue existed."""
    layout = "old" if request.GET.get("layout") == "old" else "current"
    resource = get_object_or_404(
        Resource, dataset__generator="public_wireless_lan", dataset__published=True, key=layout
    )
    return HttpResponseRedirect(services.resource_path(resource))
