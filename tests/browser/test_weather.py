"""HQ watches JMA's warnings for 戸田市 and declares a disaster from a suggestion.

A 大雨特別警報 for the city has been received (JMA's sample of 2011 for 奈良市, with the city
changed to 戸田市) and the city's rule suggests a declaration. HQ opens the weather page, sees
the warning with its level, sees a new 竜巻注意情報 arrive without reloading (htmx, every 15
seconds), and declares. The page runs under the real Content-Security-Policy and passes
axe-core. Screenshots go to $MACHI_SCREENSHOT_DIR when set (``MACHI_SCREENSHOT_DIR=/tmp/shots``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser
expect = pytest.importorskip(
    "playwright.sync_api", reason="browser tests need the playwright package"
).expect

DATA = Path(__file__).resolve().parent.parent / "emergency" / "data" / "jma"
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    configured = os.environ.get("MACHI_SCREENSHOT_DIR")
    folder = Path(configured) if configured else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def special_warning_for_toda() -> bytes:
    """JMA's 大雨特別警報 sample (奈良県, 2011-09-03), with 奈良市 turned into 戸田市."""
    from lxml import etree

    root = etree.fromstring((DATA / "15_08_01_130412_VPWW53.xml").read_bytes())
    for area in root.iter("{*}Area"):
        code = area.find("{*}Code")
        if code is not None and code.text == "2920100":
            code.text = "1122400"
            area.find("{*}Name").text = "戸田市"
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


@pytest.fixture
def warned(demo_city: Any) -> Any:
    """The demo city (戸田市) under a 大雨特別警報, with a rule that suggests a declaration."""
    from machi.emergency import services_weather

    services_weather.rule_create(
        name="大雨特別警報で本部設置", kind_codes=["33"], hazard="landslide", action="suggest"
    )
    entry = services_weather.jma_ingest(
        special_warning_for_toda(), entry_id="urn:toda:1", link="15_08_01_130412_VPWW53.xml"
    )
    assert entry.status == "stored"
    return entry


def test_hq_sees_the_warning_arrive_and_declares_from_the_suggestion(
    warned: Any,
    new_context: Callable[..., Any],
    sign_in: Callable[[Any, str], None],
    shots: Path,
) -> None:
    from machi.emergency import services_weather

    page = new_context().new_page()
    sign_in(page, "hq")

    # When HQ opens the weather page,
    page.goto("/console/weather/")
    warnings = page.locator("#weather-warnings")
    toda = warnings.locator(".wx-area", has_text="戸田市")
    # then the city's warnings are grouped under its name, highest level first, with a badge.
    expect(toda.get_by_role("heading", level=3)).to_contain_text("戸田市")
    kinds = toda.locator(".wx-kind__name")
    expect(kinds.first).to_have_text("大雨特別警報")
    expect(toda.locator(".wx-kind").first.locator(".wx-level--5")).to_be_visible()
    expect(kinds).to_have_text(["大雨特別警報", "洪水注意報", "雷注意報", "強風注意報"])
    # The suggestion of the city's rule is there, with its two buttons.
    suggestion = page.locator(".wx-suggestion")
    expect(suggestion).to_contain_text("戸田市 大雨特別警報（レベル5）")
    expect(suggestion).to_contain_text("大雨特別警報で本部設置")
    page.screenshot(path=str(shots / "weather-desktop.png"))
    page.screenshot(path=str(shots / "weather-desktop-full.png"), full_page=True)

    # When JMA's 竜巻注意情報 for the city arrives while the page is open,
    services_weather.jma_ingest(
        (DATA / "19_08_03_250630_VPHW50.xml").read_bytes(),
        entry_id="urn:toda:2",
        link="19_08_03_250630_VPHW50.xml",
    )
    # then it appears within the next refresh (every 15 seconds), without reloading.
    tornado = toda.locator(".wx-kind", has_text="竜巻注意情報")
    expect(tornado).to_be_visible(timeout=20_000)
    expect(tornado.locator(".wx-level--none")).to_be_visible()

    phone = new_context(viewport=PHONE).new_page()
    phone.context.add_cookies(page.context.cookies())
    phone.goto("/console/weather/")
    expect(phone.locator(".wx-suggestion")).to_be_visible()
    phone.screenshot(path=str(shots / "weather-phone-full.png"), full_page=True)

    # When HQ follows the suggestion,
    page.locator(".wx-suggestion form[action$='/declare/'] button").click()

    # then the disaster is declared with the warning's name and hazard, and HQ lands on it.
    expect(page).to_have_url(re.compile(r"/console/disasters/\d+/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("2011年9月3日 大雨特別警報（戸田市）")
    page.screenshot(path=str(shots / "weather-declared.png"), full_page=True)
    page.goto("/console/weather/")
    expect(page.locator(".wx-suggestion")).to_have_count(0)


def test_the_weather_pages_have_no_serious_accessibility_problems(
    warned: Any,
    axe_page: Any,
    sign_in: Callable[[Any, str], None],
    assert_accessible: Callable[[Any], None],
    shots: Path,
) -> None:
    from machi.emergency import services_weather

    services_weather.alert_receive(
        (DATA.parent / "cap" / "thunderstorm.cap").read_bytes(), received_by="hq"
    )
    sign_in(axe_page, "hq")

    axe_page.goto("/console/weather/")
    expect(axe_page.locator(".wx-suggestion")).to_be_visible()
    assert_accessible(axe_page)

    # The upload refused (no file) shows the error summary, which must be accessible too.
    axe_page.locator("form[action$='/upload/'] button[type=submit]").click()
    expect(axe_page.locator(".error-summary")).to_be_visible()
    assert_accessible(axe_page)

    axe_page.goto("/console/weather/rules/")
    expect(axe_page.get_by_role("heading", level=1)).to_be_visible()
    assert_accessible(axe_page)
    axe_page.screenshot(path=str(shots / "weather-rules.png"), full_page=True)

    axe_page.goto("/console/weather/")
    axe_page.locator("#wx-alerts-caption").scroll_into_view_if_needed()
    axe_page.get_by_role("link", name="SEVERE THUNDERSTORM WARNING").click()
    expect(axe_page).to_have_url(re.compile(r"/console/weather/alerts/\d+/$"))
    assert_accessible(axe_page)
    axe_page.screenshot(path=str(shots / "weather-alert.png"), full_page=True)
