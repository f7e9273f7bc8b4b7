"""HQ issues 避難指示 for two areas on the console; residents see it on every page and on the
public page, and HQ lifts it for one area. Under the real CSP, with axe, on a phone too.

Screenshots go to $MACHI_SCREENSHOT_DIR when set, else to pytest's temporary folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser
expect = pytest.importorskip(
    "playwright.sync_api", reason="browser tests need the playwright package"
).expect

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    configured = os.environ.get("MACHI_SCREENSHOT_DIR")
    folder = Path(configured) if configured else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def areas(demo_city: Any) -> list[Any]:
    from machi.core.models import Area

    names = sorted(Area.objects.values_list("name", flat=True))
    assert len(names) >= 3, "the demo city has areas from its addresses"
    return list(Area.objects.filter(name__in=names[:2]).order_by("name"))


def test_hq_issues_residents_see_hq_lifts(
    new_context: Callable[..., Any],
    sign_in: Callable[[Any, str], None],
    assert_accessible: Callable[[Any], None],
    areas: list[Any],
    shots: Path,
) -> None:
    # bypass_csp only so that axe-core can be injected; every page still sends its real CSP.
    hq = new_context(bypass_csp=True).new_page()
    sign_in(hq, "hq")
    hq.goto("/console/disasters/evacuation/")
    assert_accessible(hq)
    hq.locator("input[name=level][value='4']").check()
    hq.locator("#id_hazard").select_option("flood")
    for area in areas:
        hq.locator("#id_areas").get_by_label(area.name, exact=True).check()
    hq.locator("#id_note").fill("荒川の水位上昇のため")
    hq.locator("section[aria-labelledby=issue-title] button[type=submit]").click()
    expect(hq.locator(".order-card")).to_have_count(1)
    expect(hq.locator(".order-card")).to_contain_text(areas[0].name)
    expect(hq.locator(".evacuation-banner")).to_be_visible()
    assert_accessible(hq)
    hq.screenshot(path=str(shots / "evacuation-console.png"), full_page=True)

    resident = new_context(viewport=PHONE, bypass_csp=True).new_page()
    resident.goto("/")
    expect(resident.locator(".evacuation-banner--4")).to_be_visible()
    resident.locator(".evacuation-banner a").click()
    expect(resident.locator("main")).to_contain_text(areas[1].name)
    expect(resident.locator("main")).to_contain_text("荒川の水位上昇のため")
    assert_accessible(resident)
    resident.screenshot(path=str(shots / "evacuation-public-phone.png"), full_page=True)

    card = hq.locator(".order-card")
    card.get_by_label(areas[0].name, exact=True).check()
    card.get_by_role("button", name="解除").click()
    expect(hq.locator(".order-card")).not_to_contain_text(areas[0].name)
    expect(hq.locator(".order-card")).to_contain_text(areas[1].name)

    feed = resident.request.get("/cap/feed.atom")
    assert feed.ok
    assert feed.text().count("<entry>") == 2
