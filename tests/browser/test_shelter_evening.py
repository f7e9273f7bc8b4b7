"""An evening at a shelter, through the pages: HQ declares and opens a shelter, a resident
registers on a phone, shelter staff check the household in by its code, HQ sees the count.

Every page on the way passes axe-core without serious or critical problems.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

pytestmark = pytest.mark.browser
expect = pytest.importorskip(
    "playwright.sync_api", reason="browser tests need the playwright package"
).expect

SHELTER = "戸田東小学校"  # one of the two schools the demo's shelter staff work at
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def shelter_registry(demo_city: Any) -> None:
    from machi.shelters.demo import load_demo_shelters

    load_demo_shelters()


def test_an_evening_from_declaration_to_check_in(
    new_context: Callable[..., Any],
    shelter_registry: None,
    sign_in: Callable[[Any, str], None],
    assert_accessible: Callable[[Any], None],
) -> None:
    # HQ declares the typhoon: the shelters that suit floods are proposed (開設準備)
    hq = new_context(bypass_csp=True).new_page()
    sign_in(hq, "hq")
    hq.goto("/console/disasters/")
    hq.get_by_label("災害名").fill("令和元年東日本台風")
    hq.get_by_label("洪水", exact=True).check()
    hq.get_by_role("button", name="開始する").click()
    expect(hq.get_by_role("heading", level=1)).to_have_text("令和元年東日本台風")
    expect(hq.locator(".phase-banner")).to_contain_text("令和元年東日本台風")

    # …and opens the school from the dashboard
    hq.goto("/console/shelters/dashboard/")
    assert_accessible(hq)
    hq.get_by_role("button", name=f"開設する {SHELTER}").click()
    row = hq.get_by_role("row").filter(has_text=SHELTER)
    expect(row).to_contain_text("開設")

    # A resident registers the household on a phone and gets a QR code
    phone = new_context(viewport=PHONE, bypass_csp=True).new_page()
    phone.goto("/register/")
    assert_accessible(phone)
    phone.locator("[name=members-0-family_name]").fill("試験")
    phone.get_by_role("button", name="登録する").click()
    expect(phone).to_have_url(re.compile(r"/register/[^/]+/$"))
    expect(phone.locator("svg")).to_be_visible()
    code = phone.get_by_test_id("registration-code").locator("code").inner_text()
    assert_accessible(phone)

    # The shelter's staff scan it (a scanner types the code and Enter)
    staff = new_context(bypass_csp=True).new_page()
    sign_in(staff, "shelter")
    staff.goto("/console/shelters/")
    staff.get_by_role("link", name=SHELTER).click()
    assert_accessible(staff)
    field = staff.get_by_label(re.compile("登録番号"))
    field.fill(code)
    field.press("Enter")
    expect(staff.locator(".messages")).to_contain_text("試験")
    expect(staff.get_by_role("row").filter(has_text="試験")).to_have_count(1)

    # HQ's dashboard counts the person; the public page shows the shelter, without names
    # HQ screens share one computation of the board for two seconds (ADR 0009), so the reload
    # may show the board of a moment ago; the page's own refresh (every 5 s) brings the count.
    hq.reload()
    expect(hq.get_by_role("row").filter(has_text=SHELTER)).to_contain_text("1 /", timeout=15_000)
    phone.goto("/shelters/status/")
    expect(phone.get_by_role("heading", name=SHELTER)).to_be_visible()
    expect(phone.get_by_text("試験")).to_have_count(0)
    assert_accessible(phone)
