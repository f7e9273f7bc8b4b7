"""DCAT-AP JSON-LD reads as RDF with the terms DCAT-AP asks for; the pages show each dataset."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client
from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, RDF

from machi.core.models import Facility, User
from machi.core.roles import Role
from machi.opendata import services

SPDX = Namespace("http://spdx.org/rdf/terms#")


def graph_of(body: bytes) -> Graph:
    return Graph().parse(data=body.decode("utf-8"), format="json-ld")


def test_dataset_jsonld_is_dcat_ap(city: list[Facility]) -> None:
    services.refresh()
    response = Client().get("/opendata/dataset/evacuation_space.jsonld")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/ld+json")
    graph = graph_of(response.content)
    datasets = list(graph.subjects(RDF.type, DCAT.Dataset))
    assert len(datasets) == 1
    dataset = datasets[0]
    assert graph.value(dataset, DCTERMS.identifier) == Literal("evacuation_space")
    titles = {(str(t), t.language) for t in graph.objects(dataset, DCTERMS.title)}
    assert ("指定緊急避難場所一覧", "ja") in titles
    assert ("Designated emergency evacuation sites", "en") in titles
    assert graph.value(dataset, DCTERMS.description) is not None
    assert graph.value(dataset, DCTERMS.modified) is not None
    assert graph.value(dataset, DCTERMS.publisher) is not None
    assert URIRef("https://creativecommons.org/licenses/by/4.0/") in set(
        graph.objects(dataset, DCTERMS.license)
    )
    assert Literal("防災", lang="ja") in set(graph.objects(dataset, DCAT.keyword))
    distributions = list(graph.objects(dataset, DCAT.distribution))
    assert len(distributions) == 4
    urls = {str(graph.value(d, DCAT.downloadURL)) for d in distributions}
    assert any(u.endswith("/download/112241_evacuation_space.csv") for u in urls)
    first = next(
        d for d in distributions if str(d).endswith("/download/112241_evacuation_space.csv")
    )
    assert graph.value(first, DCAT.mediaType) == URIRef(
        "https://www.iana.org/assignments/media-types/text/csv"
    )
    assert graph.value(first, DCAT.byteSize) is not None
    checksum = graph.value(first, SPDX.checksum)
    assert graph.value(checksum, SPDX.checksumValue) is not None


def test_catalogue_jsonld_lists_every_published_dataset(city: list[Facility]) -> None:
    services.refresh()
    graph = graph_of(Client().get("/opendata/catalog.jsonld").content)
    catalogues = list(graph.subjects(RDF.type, DCAT.Catalog))
    assert len(catalogues) == 1
    listed = set(graph.objects(catalogues[0], DCAT.dataset))
    assert len(listed) == 7
    assert Client().get("/opendata/dataset/nope.jsonld").status_code == 404


def test_public_pages(city: list[Facility]) -> None:
    services.refresh()
    client = Client()
    page = client.get("/opendata/").content.decode()
    assert "Designated emergency evacuation sites" in page  # English titles in English
    found = client.get("/opendata/", {"q": "Wi-Fi"}).content.decode()
    assert "Public Wi-Fi access points" in found
    assert "Designated shelters" not in found
    tagged = client.get("/opendata/", {"tag": "避難所"}).content.decode()
    assert "Designated shelters" in tagged
    assert "Public facilities" not in tagged
    detail = client.get("/opendata/dataset/evacuation_space/").content.decode()
    assert "112241_evacuation_space.csv" in detail
    assert "戸田第一小学校" in detail  # the preview
    assert "CSV for Excel" in detail
    assert client.get("/opendata/dataset/nope/").status_code == 404


def test_staff_edit_a_dataset_and_register_one(
    city: list[Facility], client_for: Any, make_staff: Any
) -> None:
    services.refresh()
    dx: User = make_staff(Role.DX)
    client = client_for(dx)
    response = client.post(
        "/console/opendata/new/",
        {"name": "aed", "title": "AED設置箇所一覧", "license_id": "CC-BY-4.0",
         "frequency": "annual", "tags_text": "AED、医療", "published": "on"},
    )  # fmt: skip
    assert response.status_code == 302
    response = client.post(
        "/console/opendata/aed/files/",
        {"key": "2025", "name": "2025年度", "format": "csv", "url": "https://example.jp/aed.csv"},
    )
    assert response.status_code == 302
    body = json.loads(Client().get("/api/3/action/package_show", {"id": "aed"}).content)
    assert body["result"]["tags"][1]["name"] == "医療"
    assert body["result"]["resources"][0]["url"] == "https://example.jp/aed.csv"
    assert body["result"]["resources"][0]["format"] == "CSV"
    bad = client.post("/console/opendata/aed/files/", {"key": "Bad Key", "name": "", "url": "x"})
    assert bad.status_code == 200
    assert "error-summary" in bad.content.decode()
    # Machi's own datasets keep their name.
    client.post(
        "/console/opendata/evacuation_space/",
        {"name": "renamed", "title": "避難場所", "license_id": "CC-BY-4.0",
         "frequency": "irregular", "published": "on"},
    )  # fmt: skip
    assert (
        json.loads(Client().get("/api/3/action/package_show", {"id": "evacuation_space"}).content)[
            "result"
        ]["title"]
        == "避難場所"
    )
    hq = client_for(make_staff(Role.HQ, username="hq2"))
    assert hq.get("/console/opendata/").status_code == 200
    assert hq.post("/console/opendata/generate/").status_code == 403
    assert hq.post("/console/opendata/new/", {"name": "x"}).status_code == 403


def test_check_a_file(city: list[Facility], client_for: Any, make_staff: Any) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = client_for(make_staff(Role.DX))
    data = "NO,名称\n1,x\n".encode("cp932")
    response = client.post(
        "/console/opendata/check/",
        {"layout": "evacuation_space:old", "file": SimpleUploadedFile("a.csv", data)},
    )
    assert response.status_code == 200
    assert "error" in response.content.decode()
