"""DCAT-AP as JSON-LD: one dataset, or the whole catalogue.

Built from the same package dictionaries the CKAN API serves, so the two never disagree. Terms
follow DCAT-AP 2 (dcat:Dataset with dct:identifier, title, description, keyword, publisher,
contactPoint, issued, modified, accrualPeriodicity, spatial, theme, license; dcat:Distribution
with accessURL, downloadURL, format, mediaType, license, byteSize, checksum). Titles and
descriptions carry their language; Japan's DCAT profile asks for the same 管理ID (identifier),
タイトル and 説明.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from machi.opendata import catalog, generators

CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "vcard": "http://www.w3.org/2006/vcard/ns#",
    "adms": "http://www.w3.org/ns/adms#",
    "spdx": "http://spdx.org/rdf/terms#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
}
FREQUENCIES = {
    "continuous": "CONT",
    "daily": "DAILY",
    "weekly": "WEEKLY",
    "monthly": "MONTHLY",
    "annual": "ANNUAL",
    "irregular": "IRREG",
}
EU_FREQUENCY = "http://publications.europa.eu/resource/authority/frequency/"
EU_FILE_TYPE = "http://publications.europa.eu/resource/authority/file-type/"
IANA = "https://www.iana.org/assignments/media-types/"
# The municipality as a place: 総務省's code list as published by the Statistics Bureau.
LGCODE_URI = "http://data.e-stat.go.jp/lod/sac/C{code}"


def _datetime(value: str | None) -> dict[str, str] | None:
    if not value:
        return None
    return {"@value": value + ("" if value.endswith("Z") else "Z"), "@type": "xsd:dateTime"}


def _texts(ja: str, en: str) -> list[dict[str, str]]:
    texts = [{"@value": ja, "@language": "ja"}] if ja else []
    if en:
        texts.append({"@value": en, "@language": "en"})
    return texts


def _extra(package: dict[str, Any], key: str) -> str:
    return next((e["value"] for e in package["extras"] if e["key"] == key), "")


def publisher() -> dict[str, Any]:
    org = catalog.organization()
    city = generators.city_current()
    node: dict[str, Any] = {
        "@id": LGCODE_URI.format(code=city.lgcode[:5]) if city.lgcode else "_:publisher",
        "@type": "foaf:Organization",
        "foaf:name": org["title"],
    }
    if city.lgcode:
        node["dct:identifier"] = city.lgcode
    return node


def distribution(resource: dict[str, Any], license_url: str) -> dict[str, Any]:
    node: dict[str, Any] = {
        "@id": resource["url"],
        "@type": "dcat:Distribution",
        "dct:identifier": resource["id"],
        "dct:title": resource["name"],
        "dcat:accessURL": {"@id": resource["url"]},
        "dcat:downloadURL": {"@id": resource["url"]},
        "dct:format": {"@id": EU_FILE_TYPE + resource["format"].upper()},
    }
    if resource.get("description"):
        node["dct:description"] = resource["description"]
    if resource.get("mimetype"):
        node["dcat:mediaType"] = {"@id": IANA + resource["mimetype"]}
    if license_url:
        node["dct:license"] = {"@id": license_url}
    if resource.get("size") is not None:
        node["dcat:byteSize"] = {"@value": str(resource["size"]), "@type": "xsd:nonNegativeInteger"}
    if modified := _datetime(resource.get("last_modified")):
        node["dct:modified"] = modified
    if resource.get("hash", "").startswith("sha256:"):
        node["spdx:checksum"] = {
            "@type": "spdx:Checksum",
            "spdx:algorithm": {"@id": "http://spdx.org/rdf/terms#checksumAlgorithm_sha256"},
            "spdx:checksumValue": resource["hash"].removeprefix("sha256:"),
        }
    return node


def dataset(package: dict[str, Any]) -> dict[str, Any]:
    city = generators.city_current()
    node: dict[str, Any] = {
        "@id": package["url"],
        "@type": "dcat:Dataset",
        "dct:identifier": package["name"],
        "dct:title": _texts(package["title"], _extra(package, "title_en")),
        "dct:description": _texts(package["notes"], _extra(package, "notes_en")),
        "dcat:keyword": [{"@value": t["name"], "@language": "ja"} for t in package["tags"]],
        "dcat:landingPage": {"@id": package["url"]},
        "dct:publisher": publisher(),
        "dcat:distribution": [
            distribution(r, package["license_url"]) for r in package["resources"]
        ],
    }
    if issued := _datetime(package["metadata_created"]):
        node["dct:issued"] = issued
    if modified := _datetime(package["metadata_modified"]):
        node["dct:modified"] = modified
    if package["license_url"]:
        node["dct:license"] = {"@id": package["license_url"]}
    frequency = FREQUENCIES.get(_extra(package, "frequency"))
    if frequency:
        node["dct:accrualPeriodicity"] = {"@id": EU_FREQUENCY + frequency}
    if city.lgcode:
        node["dct:spatial"] = {"@id": LGCODE_URI.format(code=city.lgcode[:5])}
    if package["groups"]:
        node["dcat:theme"] = [{"@value": g["name"], "@language": "ja"} for g in package["groups"]]
    if package["maintainer"] or package["maintainer_email"]:
        contact: dict[str, Any] = {"@type": "vcard:Organization"}
        if package["maintainer"]:
            contact["vcard:fn"] = package["maintainer"]
        if package["maintainer_email"]:
            contact["vcard:hasEmail"] = {"@id": "mailto:" + package["maintainer_email"]}
        node["dcat:contactPoint"] = contact
    return node


def dataset_document(package: dict[str, Any]) -> dict[str, Any]:
    return {"@context": CONTEXT, **dataset(package)}


def catalogue_document(base: str) -> dict[str, Any]:
    held = catalog.snapshot(base=base)
    org = catalog.organization()
    modified = max((e.package["metadata_modified"] or "" for e in held.entries), default="")
    node: dict[str, Any] = {
        "@context": CONTEXT,
        "@id": base.rstrip("/") + reverse("opendata_public:catalogue"),
        "@type": "dcat:Catalog",
        "dct:title": _texts(f"{org['title']} オープンデータカタログ", f"{org['title']} open data"),
        "dct:description": _texts(
            "市が公開するオープンデータの一覧です。", "The open datasets the city publishes."
        ),
        "dct:publisher": publisher(),
        "dct:language": {"@id": "http://publications.europa.eu/resource/authority/language/JPN"},
        "foaf:homepage": {"@id": base.rstrip("/") + reverse("opendata_public:catalogue")},
        "dcat:dataset": [dataset(e.package) for e in held.entries],
    }
    if modified:
        node["dct:modified"] = _datetime(modified)
    return node
