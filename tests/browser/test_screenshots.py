"""Every main page at desktop and phone width: Japanese renders, nothing spills sideways.

Screenshots go to $MACHI_SCREENSHOT_DIR when it is set (for a person to look at, e.g.
``MACHI_SCREENSHOT_DIR=/tmp/shots pytest tests/browser``), else to pytest's temporary folder.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from machi.core.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser
expect = pytest.importorskip(
    "playwright.sync_api", reason="browser tests need the playwright package"
).expect

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "mobile": {"width": 390, "height": 844}}

# Wider than the viewport by more than this many CSS pixels counts as a sideways scroll.
OVERFLOW_SLACK = 1


@pytest.fixture
def shots_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("MACHI_SCREENSHOT_DIR")
    if configured:
        folder = Path(configured)
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return tmp_path_factory.mktemp("shots")


def check_page(page: Any, folder: Path, name: str) -> None:
    page.wait_for_load_state("load")
    page.evaluate("() => document.fonts.ready")
    page.screenshot(path=str(folder / f"{name}.png"))  # the first screen, as a person sees it
    page.screenshot(path=str(folder / f"{name}-full.png"), full_page=True)
    sizes = page.evaluate(
        "() => ({page: document.documentElement.scrollWidth, view: window.innerWidth})"
    )
    assert sizes["page"] <= sizes["view"] + OVERFLOW_SLACK, (
        f"{name}: the page is {sizes['page']} px wide in a {sizes['view']} px window "
        f"(it scrolls sideways) at {page.url}"
    )
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    fonts = fonts_drawing(page, "h1")
    assert fonts & japanese_fonts(), (
        f"{name}: the heading is drawn with {sorted(fonts)}, none of which has Japanese glyphs "
        "(apt-get install fonts-ipafont-gothic)"
    )


@functools.cache
def japanese_fonts() -> frozenset[str]:
    """Families fontconfig knows to cover Japanese (every name, e.g. IPAGothic and IPAゴシック)."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        pytest.skip("fc-list (fontconfig) is needed to check the Japanese font")
    listing = subprocess.run(  # noqa: S603 - a fixed command
        [fc_list, ":lang=ja", "family"], capture_output=True, text=True, check=True
    ).stdout
    return frozenset(name.strip() for line in listing.splitlines() for name in line.split(","))


def fonts_drawing(page: Any, selector: str) -> set[str]:
    """The system fonts Chromium actually used for the element's text (DevTools protocol)."""
    cdp = page.context.new_cdp_session(page)
    try:
        cdp.send("DOM.enable")
        cdp.send("CSS.enable")
        root = cdp.send("DOM.getDocument")["root"]["nodeId"]
        node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        used = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    finally:
        cdp.detach()
    return {font["familyName"] for font in used if font["glyphCount"] > 0}


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_main_pages_at_desktop_and_phone_width(
    new_context: Callable[..., Any],
    totp: Callable[[str], str],
    shots_dir: Path,
    viewport: str,
) -> None:
    page = new_context(viewport=VIEWPORTS[viewport]).new_page()

    page.goto("/")
    check_page(page, shots_dir, f"{viewport}-1-portal-home")
    page.goto("/shelters/")
    check_page(page, shots_dir, f"{viewport}-2-shelters")
    page.goto("/console/login/")
    check_page(page, shots_dir, f"{viewport}-3-login")

    page.get_by_label("ユーザー名").fill("hq")
    page.get_by_label("パスワード").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="次へ進む").click()
    expect(page).to_have_url(re.compile(r"/console/login/verify/$"))
    check_page(page, shots_dir, f"{viewport}-4-verify")

    page.get_by_label("認証アプリに表示される6桁のコード").fill(totp("hq"))
    page.get_by_role("button", name="ログイン", exact=True).click()
    expect(page).to_have_url(re.compile(r"/console/$"))
    check_page(page, shots_dir, f"{viewport}-5-console-home")
    page.get_by_role("button", name="ログアウト").click()

    page.goto("/console/login/?next=/console/audit/")
    page.get_by_label("ユーザー名").fill("auditor")
    page.get_by_label("パスワード").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="次へ進む").click()
    page.get_by_label("認証アプリに表示される6桁のコード").fill(totp("auditor"))
    page.get_by_role("button", name="ログイン", exact=True).click()
    expect(page).to_have_url(re.compile(r"/console/audit/$"))
    check_page(page, shots_dir, f"{viewport}-6-audit-log")

    # The keyboard focus is plain to see: the skip link comes first, and shows when focused.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="本文へ移動")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.screenshot(path=str(shots_dir / f"{viewport}-7-skip-link-focused.png"))
