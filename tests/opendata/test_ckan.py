"""The CKAN Action API answers as CKAN does: the envelope, search syntax, errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from machi.core.models import Facility
from machi.opendata import services
from machi.opendata.models import Dataset, Resource


@pytest.fixture
def catalogue(city: list[Facility]) -> None:
    services.refresh()
    for n in range(30):
        dataset = Dataset.objects.create(
            name=f"aed-{n:02d}",
            title=f"AED設置箇所一覧 {n:02d}",
            notes="市内のAED（自動体外式除細動器）の設置場所。",
            tags=["AED", "医療"] if n % 2 else ["AED"],
            theme="健康・福祉",
            department="健康推進課",
        )
        Resource.objects.create(
            dataset=dataset, key="2025", name="2025年度", format="XLSX" if n == 7 else "CSV",
            url=f"https://www.city.toda.saitama.jp/aed{n}.csv",
        )  # fmt: skip
    Dataset.objects.create(name="hidden", title="非公開AED", published=False)


def call(action: str, **params: Any) -> tuple[int, dict[str, Any]]:
    response = Client().get(f"/api/3/action/{action}", params)
    return response.status_code, json.loads(response.content)


def test_package_list_and_show(catalogue: None) -> None:
    status, body = call("package_list")
    assert status == 200
    assert body["success"] is True
    assert body["help"].endswith("/api/3/action/help_show?name=package_list")
    assert "evacuation_space" in body["result"]
    assert "hidden" not in body["result"]
    assert body["result"] == sorted(body["result"])
    status, body = call("package_list", limit=5, offset=2)
    assert len(body["result"]) == 5
    status, body = call("package_show", id="evacuation_space")
    package = body["result"]
    assert package["name"] == "evacuation_space"
    assert package["title"] == "指定緊急避難場所一覧"
    assert package["organization"]["name"] == "112241"
    assert package["license_id"] == "CC-BY-4.0"
    resource = package["resources"][0]
    assert resource["format"] == "CSV"
    assert resource["url"].endswith("/download/112241_evacuation_space.csv")
    assert resource["last_modified"]
    assert resource["name"]
    assert package["resources"][1]["url"].endswith("/excel/112241_evacuation_space.csv")
    assert package["num_resources"] == 4  # current and old, each with its Excel twin
    by_id = call("package_show", id=package["id"])[1]["result"]
    assert by_id["name"] == "evacuation_space"
    status, body = call("resource_show", id=resource["id"])
    assert status == 200
    assert body["result"]["url"] == resource["url"]
    # The file the API names is there.
    path = resource["url"].split("testserver", 1)[-1]
    assert Client().get(path).status_code == 200


def test_errors_look_like_ckan(catalogue: None) -> None:
    status, body = call("package_show", id="nope")
    assert status == 404
    assert body["success"] is False
    assert body["error"] == {"__type": "Not Found Error", "message": "Not found"}
    status, body = call("package_show")
    assert status == 409
    assert body["error"]["__type"] == "Validation Error"
    assert body["error"]["id"] == ["Missing value"]
    status, body = call("package_show", id="hidden")
    assert status == 404
    status, body = call("package_search", rows="ten")
    assert status == 409
    assert "rows" in body["error"]
    status, body = call("package_search", sort="colour desc")
    assert status == 409
    assert "sort" in body["error"]
    status, body = call("package_search", q="nosuchfield:1")
    assert status == 409
    assert "q" in body["error"]
    status, body = call("no_such_action")
    assert status == 400
    assert body["error"]["__type"] == "Bad Request"
    assert "Action name not known" in body["error"]["message"]
    status, body = call("package_create")
    assert status == 403
    assert body["error"]["__type"] == "Authorization Error"


def test_package_search(catalogue: None) -> None:
    status, body = call("package_search")
    result = body["result"]
    assert status == 200
    assert result["count"] == 37
    assert len(result["results"]) == 10  # CKAN's default page
    assert {"count", "results", "facets", "search_facets", "sort"} <= set(result)
    assert call("package_search", q="避難")[1]["result"]["count"] >= 3
    found = call("package_search", q="AED 医療")[1]["result"]
    assert found["count"] == 15  # both words
    found = call("package_search", q="tags:医療 OR name:evacuation_space")[1]["result"]
    assert found["count"] == 16
    found = call("package_search", q="AED -tags:医療")[1]["result"]
    assert found["count"] == 15
    found = call("package_search", fq="res_format:XLSX")[1]["result"]
    assert [p["name"] for p in found["results"]] == ["aed-07"]
    found = call("package_search", fq='tags:"自治体標準オープンデータセット" organization:112241')
    assert found[1]["result"]["count"] == 4
    page = call("package_search", q="AED", sort="name asc", rows=5, start=5)[1]["result"]
    assert [p["name"] for p in page["results"]] == [f"aed-{n:02d}" for n in range(5, 10)]
    desc = call("package_search", q="AED", sort="name desc", rows=1)[1]["result"]
    assert desc["results"][0]["name"] == "aed-29"
    everything = call("package_search", rows=5000)[1]["result"]
    assert len(everything["results"]) == 37  # rows is capped at 1000, not refused
    facets = call("package_search", **{"facet.field": '["tags","res_format"]'})[1]["result"]
    assert facets["facets"]["tags"]["AED"] == 30
    items = facets["search_facets"]["res_format"]["items"]
    assert {"name": "XLSX", "display_name": "XLSX", "count": 1} in items
    # Full-width letters find half-width ones.
    assert call("package_search", q="ＡＥＤ")[1]["result"]["count"] == 30
    # The title is worth more than the description: the title match comes first.
    ranked = call("package_search", q="避難所")[1]["result"]["results"]
    assert ranked[0]["title"] in ("指定避難所一覧", "避難所開設状況")


def test_post_with_a_json_body_as_ckan_allows(catalogue: None) -> None:
    response = Client().post(
        "/api/3/action/package_search",
        data=json.dumps({"q": "AED", "rows": 2}),
        content_type="application/json",
    )
    body = json.loads(response.content)
    assert response.status_code == 200
    assert len(body["result"]["results"]) == 2
    bad = Client().post("/api/3/action/package_search", data="{", content_type="application/json")
    assert bad.status_code == 400
    assert json.loads(bad.content)["success"] is False


def test_the_other_actions(catalogue: None) -> None:
    assert "AED" in call("tag_list")[1]["result"]
    assert call("tag_list", query="医")[1]["result"] == ["医療"]
    orgs = call("organization_list", all_fields="true")[1]["result"]
    assert orgs[0]["name"] == "112241"
    assert orgs[0]["package_count"] == 37
    assert call("organization_show", id="112241")[1]["result"]["title"] == "埼玉県戸田市"
    assert "防災・安全" in call("group_list")[1]["result"]
    assert any(x["id"] == "CC-BY-4.0" for x in call("license_list")[1]["result"])
    assert call("status_show")[1]["result"]["ckan_version"]
    assert "q" in call("help_show", name="package_search")[1]["result"]
    listed = call("current_package_list_with_resources", limit=3)[1]["result"]
    assert len(listed) == 3
    assert "resources" in listed[0]


def test_the_catalogue_follows_changes(catalogue: None) -> None:
    assert call("package_show", id="aed-01")[0] == 200
    Dataset.objects.filter(name="aed-01").update(published=False)
    Dataset.objects.get(name="aed-02").save()  # a change the version query sees
    assert call("package_show", id="aed-01")[0] == 404
