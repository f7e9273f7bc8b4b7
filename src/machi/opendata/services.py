"""What the open data room does: keep the catalogue's generated files current and checked.

A generated resource is made again when its source's fingerprint changes (a minute's task, a
download that finds it stale, or staff asking). Every generation is validated; only a clean one
(no errors) replaces what is published, so a bad record never reaches the public file and the
last good file stays up. Staff read the report either way.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from machi.core import japanese
from machi.core import selectors as core_selectors
from machi.opendata import generators, schema, validation
from machi.opendata.models import Dataset, Frequency, Report, Resource

log = logging.getLogger(__name__)

REPORTS_KEPT = 20
LOCK_SECONDS = 60


def datasets_public() -> QuerySet[Dataset]:
    return Dataset.objects.filter(published=True)


def resource_path(resource: Resource, *, excel: bool = False) -> str:
    if resource.url and not resource.filename:
        return resource.url
    view = "opendata_public:excel" if excel else "opendata_public:download"
    return reverse(
        view,
        kwargs={"name": resource.dataset.name, "key": resource.key, "filename": resource.filename},
    )


def resource_url(resource: Resource, *, excel: bool = False, base: str = "") -> str:
    """The absolute address of a resource's file (a registered one's own address as is)."""
    path = resource_path(resource, excel=excel)
    if path.startswith(("http://", "https://")):
        return path
    return (base or settings.MACHI_PUBLIC_URL).rstrip("/") + path


# --- the catalogue of generated datasets -----------------------------------------------------


def catalogue_ensure() -> list[Dataset]:
    """Create the datasets Machi generates if they are missing (their metadata, once created,
    is the city's to edit) and keep their resources' file names right for the city's code."""
    city = generators.city_current()
    existing = {d.generator: d for d in Dataset.objects.exclude(generator="")}
    result = []
    for generator in generators.GENERATORS:
        dataset = existing.get(generator.key)
        if dataset is None:
            dataset = Dataset.objects.filter(name=generator.key).first() or Dataset(
                name=generator.key,
                title=generator.title,
                title_en=generator.title_en,
                notes=generator.notes,
                notes_en=generator.notes_en,
                tags=list(generator.tags),
                theme=generator.theme,
                frequency=Frequency(generator.frequency),
                department=generator.department,
            )
            dataset.generator = generator.key
            dataset.save()
        filename = generator.filename(city)
        for position, layout in enumerate(generator.layouts):
            resource, created = Resource.objects.get_or_create(
                dataset=dataset,
                key=layout.key,
                defaults={
                    "name": layout.name,
                    "name_en": layout.name_en,
                    "position": position,
                    "filename": filename,
                },
            )
            if not created and resource.filename != filename:
                resource.filename = filename
                resource.save(update_fields=["filename"])
        result.append(dataset)
    return result


def csv_bytes(rows: Iterable[Sequence[str]]) -> bytes:
    """RFC 4180 CSV in UTF-8 without BOM: the file for machines."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")


def excel_bytes(content: bytes) -> bytes:
    """The Excel variant of a published file: a BOM so Excel reads UTF-8, and text that Excel
    would run as a formula kept as text (numbers such as -3.5 stay numbers)."""
    rows = csv.reader(io.StringIO(content.decode("utf-8"), newline=""))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow(japanese.excel_cell(cell) for cell in row)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _near() -> tuple[float, float, float] | None:
    municipality = core_selectors.municipality_current()
    if municipality is None or municipality.latitude is None or municipality.longitude is None:
        return None
    # Generous: a large city with islands or an enclave spans tens of kilometres.
    return float(municipality.latitude), float(municipality.longitude), 60.0


@dataclass(frozen=True)
class Outcome:
    resource: Resource
    report: Report
    changed: bool


def _generate_layout(
    resource: Resource,
    layout: generators.Layout,
    city: generators.City,
    fingerprint: str,
    near: tuple[float, float, float] | None,
) -> Outcome:
    started = time.perf_counter()
    header = list(generators.columns_of(layout))
    rows = list(layout.rows(city))
    checked = validation.validate_rows(header, rows, schema.columns_for(header), near=near)
    content = csv_bytes([header, *rows])
    digest = hashlib.sha256(content).hexdigest()
    publish = checked.ok
    changed = publish and digest != resource.sha256
    now = timezone.now()
    with transaction.atomic():
        resource.checked_fingerprint = fingerprint
        if publish:
            resource.fingerprint = fingerprint
            if changed or resource.content is None:
                resource.content = content
                resource.sha256 = digest
                resource.size = len(content)
                resource.row_count = len(rows)
                resource.last_modified = now
        resource.save()
        data = checked.to_json()
        report = Report.objects.create(
            resource=resource,
            at=now,
            fingerprint=fingerprint,
            published=publish,
            rows=checked.rows,
            errors=checked.errors,
            warnings=checked.warnings,
            issues=data["issues"],
            counts=data.get("counts", []),
            seconds=round(time.perf_counter() - started, 4),
        )
        stale = resource.reports.values_list("pk", flat=True)[REPORTS_KEPT:]
        Report.objects.filter(pk__in=list(stale)).delete()
    return Outcome(resource, report, changed)


def dataset_generate(dataset: Dataset, *, force: bool = False) -> list[Outcome]:
    """Make the dataset's files again if its source changed (or when forced)."""
    generator = generators.BY_KEY.get(dataset.generator)
    if generator is None:
        return []
    fingerprint = generator.fingerprint()
    resources = {r.key: r for r in dataset.resources.all()}
    if not force and all(
        resources.get(layout.key) is not None
        and resources[layout.key].checked_fingerprint == fingerprint
        for layout in generator.layouts
    ):
        return []
    city, near = generators.city_current(), _near()
    outcomes = []
    for position, layout in enumerate(generator.layouts):
        resource = resources.get(layout.key)
        if resource is None:
            resource = Resource.objects.create(
                dataset=dataset,
                key=layout.key,
                name=layout.name,
                name_en=layout.name_en,
                position=position,
                filename=generator.filename(city),
            )
        outcomes.append(_generate_layout(resource, layout, city, fingerprint, near))
    return outcomes


def refresh(*, force: bool = False) -> list[Outcome]:
    """Every generated dataset made current; the catalogue list last (it lists the others)."""
    catalogue_ensure()
    datasets = sorted(
        Dataset.objects.exclude(generator="").prefetch_related("resources"),
        key=lambda d: d.generator == generators.OPEN_DATA_LIST_KEY,
    )
    outcomes: list[Outcome] = []
    for dataset in datasets:
        outcomes += dataset_generate(dataset, force=force)
    return outcomes


def resource_current(resource: Resource) -> Resource:
    """The resource, made again first if its source changed since (one process at a time;
    the others serve the file they have)."""
    dataset = resource.dataset
    generator = generators.BY_KEY.get(dataset.generator)
    if generator is None:
        return resource
    if resource.checked_fingerprint == generator.fingerprint():
        return resource
    lock = f"opendata:generate:{dataset.pk}"
    if cache.add(lock, 1, LOCK_SECONDS):
        try:
            dataset_generate(dataset)
        finally:
            cache.delete(lock)
    return Resource.objects.select_related("dataset").get(pk=resource.pk)


def report_latest(resource: Resource) -> Report | None:
    return resource.reports.first()
