"""The catalogue as CKAN shows it (package dictionaries) and searching it.

A city publishes hundreds of datasets at most, so every published dataset is held in memory per
process as CKAN's package dictionary and searched there; the copy is rebuilt when one query (the
catalogue's version) says it changed. Search follows the parts of Solr's syntax that CKAN
clients send: words (all must match), "phrases", field:value, -field:value / NOT, OR between
words, and *:* for everything.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Count, Max, Prefetch
from django.urls import reverse

from machi.opendata import generators, services
from machi.opendata.models import Dataset, Frequency, Resource

ROWS_DEFAULT = 10
ROWS_MAX = 1000
LICENSES = {
    "CC-BY-4.0": (
        "クリエイティブ・コモンズ 表示 4.0 国際 (CC BY 4.0)",
        "https://creativecommons.org/licenses/by/4.0/",
    ),
    "CC0-1.0": (
        "CC0 1.0 全世界 (パブリック・ドメイン提供)",
        "https://creativecommons.org/publicdomain/zero/1.0/",
    ),
    "PDL-1.0": (
        "公共データ利用規約 第1.0版 (PDL1.0)",
        "https://www.digital.go.jp/resources/open_data/public_data_license_v1.0",
    ),
    "ODC-BY-1.0": (
        "Open Data Commons Attribution License 1.0",
        "https://opendatacommons.org/licenses/by/1-0/",
    ),
}
MIMETYPES = {
    "CSV": "text/csv",
    "JSON": "application/json",
    "GEOJSON": "application/geo+json",
    "XLSX": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "PDF": "application/pdf",
    "ZIP": "application/zip",
    "XML": "application/xml",
}
EXCEL_SUFFIX = "excel"


class QueryError(ValueError):
    """A search the catalogue cannot run; ``field`` names the parameter."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def ckan_time(value: dt.datetime | None) -> str | None:
    """CKAN writes naive UTC ISO timestamps."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat()


def organization() -> dict[str, Any]:
    city = generators.city_current()
    return {
        "id": city.lgcode or "machi",
        "name": city.lgcode or "machi",
        "title": f"{city.prefecture}{city.name}" or "Machi",
        "type": "organization",
        "is_organization": True,
        "state": "active",
        "approval_status": "approved",
        "description": "",
        "image_url": "",
    }


def _resource_dicts(dataset: Dataset, resource: Resource, base: str) -> list[dict[str, Any]]:
    fmt = resource.format.upper()
    common = {
        "package_id": str(dataset.pk),
        "format": resource.format,
        "mimetype": MIMETYPES.get(fmt),
        "state": "active",
        "resource_type": None,
        "created": ckan_time(resource.created),
        "last_modified": ckan_time(resource.last_modified),
        "metadata_modified": ckan_time(resource.last_modified or resource.created),
    }
    name = resource.name
    if dataset.generator:
        name = f"{dataset.title}（{resource.name}）"
    first = {
        **common,
        "id": str(resource.pk),
        "name": name,
        "description": resource.description,
        "url": services.resource_url(resource, base=base),
        "url_type": "upload" if dataset.generator else None,
        "size": resource.size,
        "hash": f"sha256:{resource.sha256}" if resource.sha256 else "",
        "position": 0,
    }
    if not dataset.generator or fmt != "CSV":
        return [first]
    # The same file for Excel: UTF-8 with a BOM.
    excel = {
        **first,
        "id": f"{resource.pk}-{EXCEL_SUFFIX}",
        "name": f"{name}（Excel用 BOM付きUTF-8）",
        "description": "Excelで開くためのBOM付きUTF-8の同じ内容のファイルです。",
        "url": services.resource_url(resource, excel=True, base=base),
        "size": resource.size + 3 if resource.size is not None else None,
        "hash": "",
    }
    return [first, excel]


def package_dict(dataset: Dataset, *, base: str = "") -> dict[str, Any]:
    base = base or settings.MACHI_PUBLIC_URL
    resources: list[dict[str, Any]] = []
    for resource in dataset.resources.all():
        resources += _resource_dicts(dataset, resource, base)
    for position, resource_dict in enumerate(resources):
        resource_dict["position"] = position
    license_title, license_url = LICENSES.get(dataset.license_id, (dataset.license_id, ""))
    org = organization()
    tags = [
        {"name": tag, "display_name": tag, "state": "active", "vocabulary_id": None}
        for tag in dataset.tags
    ]
    groups = (
        [{"name": dataset.theme, "title": dataset.theme, "display_name": dataset.theme}]
        if dataset.theme
        else []
    )
    modified = max(
        [
            dataset.metadata_modified,
            *(r.last_modified for r in dataset.resources.all() if r.last_modified),
        ]
    )
    return {
        "id": str(dataset.pk),
        "name": dataset.name,
        "title": dataset.title,
        "notes": dataset.notes,
        "url": base.rstrip("/") + reverse("opendata_public:dataset", args=[dataset.name]),
        "type": "dataset",
        "state": "active",
        "private": False,
        "isopen": dataset.license_id in LICENSES,
        "license_id": dataset.license_id,
        "license_title": license_title,
        "license_url": license_url,
        "author": dataset.department,
        "author_email": None,
        "maintainer": dataset.department,
        "maintainer_email": dataset.contact_email or None,
        "version": None,
        "metadata_created": ckan_time(dataset.issued),
        "metadata_modified": ckan_time(modified),
        "owner_org": org["id"],
        "organization": org,
        "tags": tags,
        "num_tags": len(tags),
        "groups": groups,
        "resources": resources,
        "num_resources": len(resources),
        "extras": [
            {"key": "title_en", "value": dataset.title_en},
            {"key": "notes_en", "value": dataset.notes_en},
            {"key": "frequency", "value": dataset.frequency},
            {"key": "frequency_label", "value": str(Frequency(dataset.frequency).label)},
            {"key": "generated", "value": "true" if dataset.generator else "false"},
        ],
        "relationships_as_object": [],
        "relationships_as_subject": [],
    }


# --- the per-process copy --------------------------------------------------------------------


def normalise(text: str) -> str:
    """Full-width to half-width, case folded: 「ＣＳＶ」 finds "csv"."""
    return unicodedata.normalize("NFKC", text).casefold()


@dataclass
class Entry:
    package: dict[str, Any]
    json: str  # the package serialised once: a page of results is these joined
    fields: dict[str, list[str]]  # normalised values by searchable field
    text: str  # everything, normalised
    weights: list[tuple[str, int]]  # (normalised text, weight) for scoring
    sort_keys: dict[str, Any] = field(default_factory=dict)


@dataclass
class Snapshot:
    version: tuple[Any, ...]
    base: str
    entries: list[Entry]
    by_name: dict[str, Entry]
    resources: dict[str, dict[str, Any]]


def _entry(package: dict[str, Any], dataset: Dataset) -> Entry:
    resources = package["resources"]
    fields = {
        "name": [package["name"]],
        "title": [package["title"], dataset.title_en],
        "notes": [package["notes"], dataset.notes_en],
        "tags": [t["name"] for t in package["tags"]],
        "groups": [g["name"] for g in package["groups"]],
        "res_format": sorted({r["format"] for r in resources}),
        "res_name": [r["name"] for r in resources],
        "organization": [package["organization"]["name"]],
        "license_id": [package["license_id"]],
        "id": [package["id"]],
        "frequency": [dataset.frequency],
    }
    normalised = {key: [normalise(v) for v in values if v] for key, values in fields.items()}
    # Words typed without a field search the words people read, not identifiers (a UUID
    # holds "aed" as often as not).
    text = " ".join(v for key, values in normalised.items() if key != "id" for v in values)
    weights = [(v, 5) for v in normalised["title"]] + [(v, 3) for v in normalised["tags"]]
    weights += [(v, 2) for v in normalised["name"] + normalised["groups"]]
    weights += [(v, 1) for v in normalised["notes"] + normalised["res_name"]]
    return Entry(
        package=package,
        json=json.dumps(package, ensure_ascii=False, separators=(",", ":")),
        fields=normalised,
        text=text,
        weights=weights,
        sort_keys={
            "name": package["name"],
            "title": normalise(package["title"]),
            "title_string": normalise(package["title"]),
            "metadata_modified": package["metadata_modified"] or "",
            "metadata_created": package["metadata_created"] or "",
        },
    )


_lock = threading.Lock()
_snapshot: Snapshot | None = None


def version() -> tuple[Any, ...]:
    datasets = Dataset.objects.aggregate(n=Count("pk"), at=Max("metadata_modified"))
    resources = Resource.objects.aggregate(n=Count("pk"), at=Max("last_modified"), c=Max("created"))
    return (datasets["n"], datasets["at"], resources["n"], resources["at"], resources["c"])


def snapshot(*, base: str = "") -> Snapshot:
    """The published catalogue, rebuilt when it changed (one aggregate query to know)."""
    global _snapshot
    base = base or settings.MACHI_PUBLIC_URL
    current = version()
    held = _snapshot
    if held is not None and held.version == current and held.base == base:
        return held
    with _lock:
        datasets = (
            services.datasets_public()
            .prefetch_related(Prefetch("resources", queryset=Resource.objects.defer("content")))
            .order_by("name")
        )
        entries = []
        resources: dict[str, dict[str, Any]] = {}
        for dataset in datasets:
            package = package_dict(dataset, base=base)
            entries.append(_entry(package, dataset))
            resources.update({r["id"]: r for r in package["resources"]})
        _snapshot = Snapshot(
            current, base, entries, {e.package["name"]: e for e in entries}, resources
        )
        return _snapshot


def forget() -> None:
    global _snapshot
    _snapshot = None


def entry_find(name_or_id: str, *, base: str = "") -> Entry | None:
    held = snapshot(base=base)
    entry = held.by_name.get(name_or_id)
    if entry is None:
        entry = next((e for e in held.entries if e.package["id"] == name_or_id), None)
    return entry


def package_find(name_or_id: str, *, base: str = "") -> dict[str, Any] | None:
    entry = entry_find(name_or_id, base=base)
    return entry.package if entry is not None else None


# --- the query language ----------------------------------------------------------------------

FIELDS = {
    "name",
    "title",
    "notes",
    "tags",
    "tag",
    "groups",
    "res_format",
    "res_name",
    "organization",
    "license_id",
    "id",
    "text",
    "frequency",
}
TOKEN = re.compile(
    r'(?P<neg>[-+!]?)(?:(?P<field>[A-Za-z_.]+):)?(?:"(?P<phrase>[^"]*)"|(?P<word>[^\s"]+))'
)


@dataclass(frozen=True)
class Term:
    field: str  # "" = anywhere
    value: str  # normalised; "" = the field has any value (field:*)
    negated: bool = False


Matcher = Callable[[Entry], bool]


def _term_matches(term: Term, entry: Entry) -> bool:
    if term.field in ("", "text"):
        return term.value in entry.text
    values = entry.fields.get("tags" if term.field == "tag" else term.field, [])
    if term.value == "":
        return bool(values)
    if term.field in ("name", "id", "organization", "license_id", "res_format", "frequency"):
        return any(v == term.value for v in values)  # exact, as Solr's string fields
    if term.field in ("tags", "tag", "groups"):
        return any(v == term.value for v in values) or any(term.value in v for v in values)
    return any(term.value in v for v in values)


def parse(query: str, *, parameter: str) -> list[list[Term]]:
    """Groups of terms: every group must match; within a group any term (OR)."""
    query = query.strip()
    if query in ("", "*:*", "*"):
        return []
    groups: list[list[Term]] = []
    join_next = False
    negate_next = False
    position = 0
    while position < len(query):
        if query[position].isspace() or query[position] in "()":
            position += 1
            continue
        match = TOKEN.match(query, position)
        if match is None:
            raise QueryError(
                parameter, f"Cannot read the query at: {query[position : position + 20]}"
            )
        position = match.end()
        word = match["word"]
        if match["phrase"] is None and match["field"] is None and word in ("AND", "&&"):
            continue
        if match["phrase"] is None and match["field"] is None and word in ("OR", "||"):
            join_next = bool(groups)
            continue
        if match["phrase"] is None and match["field"] is None and word == "NOT":
            negate_next = True
            continue
        name = (match["field"] or "").lower()
        if name and name not in FIELDS:
            raise QueryError(parameter, f"Unknown field: {name}")
        value = match["phrase"] if match["phrase"] is not None else (word or "")
        if value == "*":
            value = ""
        if name == "" and value == "":
            continue
        term = Term(name, normalise(value), match["neg"] in ("-", "!") or negate_next)
        negate_next = False
        if join_next:
            groups[-1].append(term)
            join_next = False
        else:
            groups.append([term])
    return groups


def _matches(groups: list[list[Term]], entry: Entry) -> bool:
    return all(any(_term_matches(t, entry) != t.negated for t in group) for group in groups)


def _score(groups: list[list[Term]], entry: Entry) -> float:
    score = 0.0
    for group in groups:
        for term in group:
            if term.negated or not term.value:
                continue
            score += sum(weight for text, weight in entry.weights if term.value in text)
    return score


SORTABLE = {"score", "name", "title", "title_string", "metadata_modified", "metadata_created"}


def parse_sort(sort: str) -> list[tuple[str, bool]]:
    result = []
    for part in sort.split(","):
        words = part.split()
        if not words:
            continue
        if len(words) > 2 or words[0] not in SORTABLE:
            raise QueryError("sort", f"Cannot sort by: {part.strip()}")
        direction = words[1].lower() if len(words) == 2 else "asc"
        if direction not in ("asc", "desc"):
            raise QueryError("sort", f"The direction must be asc or desc: {part.strip()}")
        result.append((words[0], direction == "desc"))
    return result or [("score", True), ("metadata_modified", True)]


def _int(value: Any, name: str, default: int, *, minimum: int = 0) -> int:
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise QueryError(name, "Invalid integer") from None
    if number < minimum:
        raise QueryError(name, f"Must be at least {minimum}")
    return number


def _sort_key(key: str) -> Callable[[tuple[Entry, float]], Any]:
    if key == "score":
        return lambda pair: pair[1]
    return lambda pair: pair[0].sort_keys[key]


FACETABLE = ("tags", "groups", "res_format", "organization", "license_id", "frequency")


def search(params: dict[str, Any], *, base: str = "") -> dict[str, Any]:
    """CKAN's package_search over the published catalogue, as a dictionary."""
    entries, meta = search_entries(params, base=base)
    return {**meta, "results": [entry.package for entry in entries]}


def search_json(params: dict[str, Any], *, base: str = "") -> str:
    """The same as JSON text, made of the packages serialised in advance."""
    entries, meta = search_entries(params, base=base)
    head = json.dumps(meta, ensure_ascii=False, separators=(",", ":"))[:-1]
    return head + ',"results":[' + ",".join(entry.json for entry in entries) + "]}"


def search_entries(params: dict[str, Any], *, base: str = "") -> tuple[list[Entry], dict[str, Any]]:
    """The page of entries package_search asks for, and the rest of its answer."""
    q = str(params.get("q") or "")
    fq = params.get("fq") or ""
    fq_list = params.get("fq_list") or []
    rows = min(_int(params.get("rows"), "rows", ROWS_DEFAULT), ROWS_MAX)
    start = _int(params.get("start"), "start", 0)
    sort = parse_sort(str(params.get("sort") or "score desc, metadata_modified desc"))
    query = parse(q, parameter="q")
    filters = parse(str(fq), parameter="fq")
    for extra in fq_list if isinstance(fq_list, list) else [fq_list]:
        filters += parse(str(extra), parameter="fq_list")
    held = snapshot(base=base)
    found = [(e, _score(query, e)) for e in held.entries if _matches(filters + query, e)]
    for key, descending in reversed(sort):  # stable sorts, the last key first
        found.sort(key=_sort_key(key), reverse=descending)
    facet_fields = _facet_fields(params.get("facet.field"))
    limit = _int(params.get("facet.limit"), "facet.limit", 50, minimum=-1)
    mincount = _int(params.get("facet.mincount"), "facet.mincount", 1)
    facets: dict[str, dict[str, int]] = {}
    search_facets: dict[str, Any] = {}
    for name in facet_fields:
        counts: dict[str, int] = {}
        for entry, _score_value in found:
            for value in _facet_values(entry, name):
                counts[value] = counts.get(value, 0) + 1
        ordered = sorted(
            ((v, c) for v, c in counts.items() if c >= mincount), key=lambda p: (-p[1], p[0])
        )
        if limit >= 0:
            ordered = ordered[:limit]
        facets[name] = dict(ordered)
        search_facets[name] = {
            "title": name,
            "items": [{"name": v, "display_name": v, "count": c} for v, c in ordered],
        }
    meta = {
        "count": len(found),
        "sort": ", ".join(f"{k} {'desc' if d else 'asc'}" for k, d in sort),
        "facets": facets,
        "search_facets": search_facets,
    }
    return [entry for entry, _s in found[start : start + rows]], meta


def _facet_fields(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise QueryError("facet.field", 'Give a JSON list, e.g. ["tags"]') from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise QueryError("facet.field", 'Give a JSON list, e.g. ["tags"]')
    unknown = [v for v in value if v not in FACETABLE]
    if unknown:
        raise QueryError("facet.field", f"Cannot count by: {', '.join(unknown)}")
    return value


def _facet_values(entry: Entry, name: str) -> list[str]:
    package = entry.package
    if name == "tags":
        return [t["name"] for t in package["tags"]]
    if name == "groups":
        return [g["name"] for g in package["groups"]]
    if name == "res_format":
        return sorted({r["format"] for r in package["resources"]})
    if name == "organization":
        return [package["organization"]["name"]]
    if name == "frequency":
        return [entry.fields["frequency"][0]] if entry.fields["frequency"] else []
    return [package["license_id"]]
