"""HQ keeps the chronology during a typhoon: adds a line, finds it, filters by kind, and the
list keeps itself up to date (every 10 seconds, with the filter kept).

The page passes axe-core without serious or critical problems, runs under the real
Content-Security-Policy, and fits a phone. Screenshots go to $MACHI_SCREENSHOT_DIR when set
(``MACHI_SCREENSHOT_DIR=/tmp/shots``), else to pytest's temporary folder.
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

PHONE = {"width": 390, "height": 844}
TYPHOON = "令和元年東日本台風"


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    configured = os.environ.get("MACHI_SCREENSHOT_DIR")
    folder = Path(configured) if configured else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def typhoon(demo_city: Any) -> Any:
    """A declared typhoon, with a few lines already in its chronology."""
    import datetime as dt

    from django.utils import timezone

    from machi.core.models import User
    from machi.emergency import services

    hq = User.objects.get(username="hq")
    disaster = services.disaster_declare(
        name=TYPHOON,
        hazards=["flood"],
        declared_by=hq,
        started_at=timezone.now() - dt.timedelta(hours=30),
    )
    lines = [
        ("weather", "大雨警報（浸水害）発表", 29, False),
        ("shelter", "戸田東小学校 避難所開設（収容 120 名）", 27, False),
        ("weather", "荒川 氾濫危険水位に到達", 4, True),
        ("incident", "新曽 土砂崩れ 市道通行止め", 2, False),
    ]
    for kind, text, hours_ago, important in lines:
        services.chronology_record(
            kind=kind,
            text=text,
            disaster=disaster,
            important=important,
            at=timezone.now() - dt.timedelta(hours=hours_ago),
            actor="hq",
            department="危機管理防災課",
        )
    return disaster


def test_hq_adds_a_line_finds_it_and_filters_by_kind(
    new_context: Callable[..., Any],
    typhoon: Any,
    sign_in: Callable[[Any, str], None],
    assert_accessible: Callable[[Any], None],
    shots: Path,
) -> None:
    # HQ signs in (under the app's real CSP) and opens the chronology of the current typhoon
    context = new_context()
    page = context.new_page()
    sign_in(page, "hq")
    page.goto("/console/chronology/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.locator("#id_disaster")).to_have_value(str(typhoon.pk))
    lines = page.locator(".chronology__line")
    expect(page.locator(".chronology")).to_contain_text("新曽 土砂崩れ")

    # …and adds an important line; the department is filled in from the profile
    expect(page.locator("#id_entry_department")).to_have_value("危機管理防災課")
    page.locator("#id_entry_text").fill("上戸田1丁目 道路冠水のため通行止め")
    page.locator("#id_entry_important").check()
    page.locator(".chronology-entry button[type=submit]").click()
    expect(page.locator(".messages")).to_be_visible()
    expect(lines.first).to_contain_text("上戸田1丁目 道路冠水のため通行止め")
    expect(lines.first).to_contain_text("hq")
    expect(lines.first).to_contain_text("危機管理防災課")
    expect(lines.first).to_have_class(re.compile("chronology__line--important"))
    expect(lines.first.locator(".kind--note")).to_be_visible()

    # Screenshots of the timeline, on a desktop and on a phone
    page.evaluate("() => document.fonts.ready")
    page.screenshot(path=str(shots / "chronology-desktop.png"))
    page.screenshot(path=str(shots / "chronology-desktop-full.png"), full_page=True)
    phone_context = new_context(viewport=PHONE)
    phone_context.add_cookies(context.cookies())
    phone = phone_context.new_page()
    phone.goto(f"/console/chronology/?disaster={typhoon.pk}")
    expect(phone.locator(".chronology__line").first).to_contain_text("道路冠水")
    phone.evaluate("() => document.fonts.ready")
    phone.screenshot(path=str(shots / "chronology-phone.png"))
    phone.screenshot(path=str(shots / "chronology-phone-full.png"), full_page=True)
    widths = phone.evaluate(
        "() => ({page: document.documentElement.scrollWidth, view: window.innerWidth})"
    )
    assert widths["page"] <= widths["view"] + 1, f"the phone page scrolls sideways: {widths}"

    # HQ filters by kind: weather only
    page.locator(".chronology-filters summary").click()
    page.locator("input[name=kind][value=weather]").check()
    page.locator(".chronology-filters button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"kind=weather"))
    expect(lines).to_have_count(2)
    expect(lines.first).to_contain_text("荒川 氾濫危険水位に到達")
    expect(page.locator(".chronology .kind--note")).to_have_count(0)
    expect(page.locator(".chronology-filters")).to_have_attribute("open", "")
    page.screenshot(path=str(shots / "chronology-filtered.png"), full_page=True)

    # New lines arrive while HQ watches: the list refreshes itself and keeps the filter
    from machi.emergency import services

    services.chronology_record(
        kind="weather", text="記録的短時間大雨情報", disaster=typhoon, actor="jma"
    )
    services.chronology_record(kind="note", text="本部会議（第3回）開催", disaster=typhoon)
    expect(lines.first).to_contain_text("記録的短時間大雨情報", timeout=15_000)
    expect(lines).to_have_count(3)
    expect(page.get_by_text("本部会議（第3回）開催")).to_have_count(0)
    expect(page).to_have_url(re.compile(r"kind=weather"))

    # The page has no serious accessibility problems (axe needs a context that lets it in)
    axe_context = new_context(bypass_csp=True)
    axe_context.add_cookies(context.cookies())
    checked = axe_context.new_page()
    checked.goto(f"/console/chronology/?disaster={typhoon.pk}&kind=weather&important=on")
    expect(checked.locator(".chronology-filters")).to_have_attribute("open", "")
    assert_accessible(checked)
    # …and none with a mistake in the form either
    checked.goto(f"/console/chronology/?disaster={typhoon.pk}")
    checked.locator(".chronology-entry button[type=submit]").click()
    expect(checked.locator(".error-summary")).to_be_focused()
    assert_accessible(checked)
