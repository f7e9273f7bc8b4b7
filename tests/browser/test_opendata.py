"""Open data in Chromium: a resident finds a dataset from the home page and downloads its file;
a developer's page names the API; the DX office makes the files again and reads a report.
axe-core finds nothing serious; the pages are Japanese only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import english_left

pytestmark = pytest.mark.browser

ALLOWED = frozenset(
    {"CSV", "UTF", "UTF-", "Excel", "Wi-Fi", "Wi", "Fi", "FAQ", "LAN", "CKAN", "API", "DCAT",
     "DCAT-AP", "AP", "JSON", "LD", "JSON-LD", "URL", "BOM", "CC", "BY", "JAPAN"}
)  # fmt: skip


@pytest.fixture
def published(demo_city: Any) -> None:
    from machi.opendata import catalog, services

    catalog.forget()
    services.refresh(force=True)


def test_a_resident_finds_and_downloads_a_dataset(
    new_context: Callable[..., Any], published: None, assert_accessible: Callable[[Any], None]
) -> None:
    page = new_context(bypass_csp=True).new_page()  # bypass only to inject axe-core
    page.goto("/")
    page.get_by_role("link", name="オープンデータ").first.click()
    page.wait_for_url("**/opendata/")
    assert_accessible(page)
    page.get_by_label("データセットを検索").fill("指定緊急避難場所")
    page.get_by_role("button", name="検索", exact=True).click()
    expect(page.get_by_role("heading", level=2, name="データセット1件")).to_be_visible()
    page.get_by_role("link", name="指定緊急避難場所一覧").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("指定緊急避難場所一覧")
    # The preview shows the data as published: its column names are the standard's.
    assert not english_left(page, allowed=ALLOWED, skip=".od-preview"), english_left(
        page, allowed=ALLOWED, skip=".od-preview"
    )
    assert_accessible(page)
    with page.expect_download() as info:
        page.get_by_role("link", name="CSV（UTF-8） 現行版", exact=True).click()
    download = info.value
    assert download.suggested_filename == "112241_evacuation_space.csv"
    first_line = download.path().read_text(encoding="utf-8").splitlines()[0]
    assert first_line.startswith("全国地方公共団体コード,ID,名称,名称_カナ")


def test_the_dx_office_makes_the_files_again_and_reads_a_report(
    new_context: Callable[..., Any],
    published: None,
    sign_in: Callable[[Any, str], None],
    assert_accessible: Callable[[Any], None],
) -> None:
    page = new_context(bypass_csp=True).new_page()
    sign_in(page, "dx")
    page.get_by_role("link", name="オープンデータ").first.click()
    page.wait_for_url("**/console/opendata/")
    assert_accessible(page)
    page.get_by_role("button", name="すべてのファイルを今すぐ作成・検査する").click()
    expect(page.get_by_text("件のファイルを検査し、公開しました")).to_be_visible()
    page.get_by_role("link", name="エラーなし").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("検査結果")
    assert not english_left(page, allowed=ALLOWED)
    assert_accessible(page)
