"""A member of a department reports flooding from a phone; HQ sees it on the list and the map.

The phone form is filled as a person would: the location button, a tap on the map, a photo
from the camera roll. The pages run under the app's real Content-Security-Policy (the
``new_context`` fixture fails the test on any violation) and pass axe-core.

Screenshots go to $MACHI_SCREENSHOT_DIR when it is set (``MACHI_SCREENSHOT_DIR=/tmp/shots``).
"""

from __future__ import annotations

import io
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
TODA_CITY_HALL = {"latitude": 35.8175, "longitude": 139.677778}
TITLE = "道路冠水 50cm 通行止め"


@pytest.fixture
def shots_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("MACHI_SCREENSHOT_DIR")
    if configured:
        folder = Path(configured)
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return tmp_path_factory.mktemp("shots")


@pytest.fixture
def field_user(demo_city: Any) -> Any:
    """The demo's member of 道路公園課 with the field role, with the demo's departments."""
    from machi.core.models import User
    from machi.emergency.services_field import load_demo_field

    load_demo_field(demo_city.municipality)
    return User.objects.get(username="field")


def photo() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (40, 90, 160)).save(buffer, format="JPEG")
    return buffer.getvalue()


def accessible_copy(
    context: Any, new_context: Callable[..., Any], path: str, **options: Any
) -> Any:
    """The same signed-in session in a context that lets axe-core in (CSP bypassed there only)."""
    page = new_context(storage_state=context.storage_state(), bypass_csp=True, **options).new_page()
    page.goto(path)
    return page


def test_a_field_report_from_a_phone_reaches_hq(
    new_context: Callable[..., Any],
    field_user: Any,
    sign_in: Callable[[Any, str], None],
    assert_accessible: Callable[[Any], None],
    shots_dir: Path,
) -> None:
    # 現場 六郎 of 道路公園課 is out on his phone and signs in
    phone_context = new_context(
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        geolocation=TODA_CITY_HALL,
        permissions=["geolocation"],
    )
    phone = phone_context.new_page()
    sign_in(phone, "field")
    phone.goto("/console/incidents/new/")
    expect(phone.get_by_role("heading", level=1)).to_be_visible()
    client_id = phone.locator("input[name=id]").input_value()
    assert re.fullmatch(r"[0-9a-f-]{36}", client_id)

    # He says what he sees
    phone.locator("#id_category").select_option("flooding")
    phone.locator("label[for=id_severity_2]").click()  # 3: high
    expect(phone.locator("#id_severity_2")).to_be_checked()
    phone.locator("#id_title").fill(TITLE)
    phone.locator("#id_description").fill("車は通れません。歩行者は迂回中。")

    # …where he stands: the location button fills the point…
    locate = phone.locator("[data-locate]")
    expect(locate).to_be_visible()
    locate.click()
    expect(phone.locator("#id_latitude")).to_have_value("35.8175")
    expect(phone.locator("#id_longitude")).to_have_value("139.677778")
    expect(phone.locator("[data-locate-status]")).not_to_be_empty()

    # …and a tap on the map moves it to the flooded corner
    picker = phone.locator("#incident-picker")
    expect(picker).to_be_visible()
    picker.scroll_into_view_if_needed()
    box = picker.bounding_box()
    assert box is not None
    picker.click(position={"x": box["width"] * 0.7, "y": box["height"] * 0.3})
    expect(phone.locator("#id_latitude")).not_to_have_value("35.8175")
    latitude = float(phone.locator("#id_latitude").input_value())
    longitude = float(phone.locator("#id_longitude").input_value())
    assert latitude > TODA_CITY_HALL["latitude"]  # up the screen is north
    assert longitude > TODA_CITY_HALL["longitude"]  # right is east
    expect(phone.locator(".map-marker--picked")).to_have_count(1)
    phone.locator("#id_address").fill("上戸田1丁目 交差点")

    # A photo from the camera roll, previewed before sending
    phone.locator("#id_photos").set_input_files(
        [{"name": "IMG_0042.jpg", "mimeType": "image/jpeg", "buffer": photo()}]
    )
    preview = phone.locator("[data-photo-preview] img")
    expect(preview).to_have_count(1)
    expect(preview).to_have_attribute("alt", "IMG_0042.jpg")

    phone.evaluate("() => document.fonts.ready")
    phone.screenshot(path=str(shots_dir / "incident-form-phone.png"), full_page=True)
    width = phone.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, f"the form scrolls sideways on a phone ({width}px)"

    axe_form = accessible_copy(
        phone_context, new_context, "/console/incidents/new/", viewport=PHONE
    )
    expect(axe_form.locator("#incident-picker")).to_be_visible()
    assert_accessible(axe_form)

    # He sends it, and sees his report with its photo and its first line of history
    phone.locator("form[data-incident-form] button[type=submit]").click()
    expect(phone).to_have_url(re.compile(rf"/console/incidents/{client_id}/$"))
    expect(phone.get_by_role("heading", level=1)).to_have_text(TITLE)
    shown = phone.locator(".photo-grid img")
    expect(shown).to_have_count(1)
    shown.scroll_into_view_if_needed()
    phone.wait_for_function("() => document.querySelector('.photo-grid img').naturalWidth > 0")
    # The chronology's line names no title or street address (every role reads it).
    expect(phone.locator(".history")).to_contain_text("被害報告: 浸水（重大）")
    expect(phone.locator(".history")).not_to_contain_text("交差点")
    phone.screenshot(path=str(shots_dir / "incident-page-phone.png"), full_page=True)
    assert_accessible(accessible_copy(phone_context, new_context, phone.url, viewport=PHONE))

    # At HQ, the report is on the list and on the map, coloured as high severity
    hq_context = new_context()
    hq = hq_context.new_page()
    sign_in(hq, "hq")
    hq.goto("/console/incidents/")
    row = hq.get_by_role("row").filter(has_text=TITLE)
    expect(row).to_have_count(1)
    expect(row.locator(".severity--3")).to_be_visible()
    expect(hq.locator("path.map-marker--severity-3")).to_have_count(1)
    expect(hq.get_by_role("link", name=re.compile("CSV"))).to_be_visible()

    # A second report arrives while HQ watches: the list and the map refresh themselves
    from machi.emergency.services_field import incident_report

    incident_report(
        incident_id=__import__("uuid").uuid4(),
        category="landslide",
        severity=4,
        title="裏山の崩落",
        latitude="35.8100",
        longitude="139.6700",
        reported_by=field_user,
    )
    expect(hq.get_by_role("row").filter(has_text="裏山の崩落")).to_have_count(1, timeout=25_000)
    expect(hq.locator("path.map-marker--severity-4")).to_have_count(1)
    hq.evaluate("() => document.fonts.ready")
    hq.screenshot(path=str(shots_dir / "incidents-hq.png"), full_page=True)
    assert_accessible(accessible_copy(hq_context, new_context, "/console/incidents/"))

    # The popup of a marker leads to the report
    hq.locator("path.map-marker--severity-3").click(force=True)
    hq.locator(".leaflet-popup").get_by_role("link", name=TITLE).click()
    expect(hq).to_have_url(re.compile(rf"/console/incidents/{client_id}/$"))


def test_hq_turns_a_report_into_a_task_and_the_department_works_on_it(
    new_context: Callable[..., Any],
    field_user: Any,
    sign_in: Callable[[Any, str], None],
    assert_accessible: Callable[[Any], None],
    shots_dir: Path,
) -> None:
    import uuid

    from machi.emergency.services_field import incident_report

    incident = incident_report(
        incident_id=uuid.uuid4(),
        category="road",
        severity=3,
        title="倒木で通行止め",
        address="新曽南3丁目",
        reported_by=field_user,
    ).incident

    # HQ reads the report and asks 道路公園課 to clear the road by a due time
    hq_context = new_context()
    hq = hq_context.new_page()
    sign_in(hq, "hq")
    hq.goto(f"/console/incidents/{incident.pk}/")
    hq.locator("details.register summary").click()
    hq.locator("#id_to_department").select_option(label="道路公園課")
    hq.locator("#id_due_at").fill("2020-01-01T18:00")  # long past: overdue at once
    hq.locator("details.register form button[type=submit]").click()
    expect(hq).to_have_url(re.compile(r"/console/tasks/\d+/$"))
    expect(hq.get_by_role("heading", level=1)).to_have_text("倒木で通行止め")
    expect(hq.locator(".history")).to_contain_text(
        "依頼: 危機管理課 → 道路公園課 — 倒木で通行止め（期限 01/01 18:00）"
    )
    assert_accessible(accessible_copy(hq_context, new_context, hq.url))

    # 道路公園課's member sees it among his tasks, late, and starts on it
    phone_context = new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    phone = phone_context.new_page()
    sign_in(phone, "field")
    phone.goto("/console/tasks/")
    row = phone.locator("tr.row--alert").filter(has_text="倒木で通行止め")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("01/01 18:00")
    phone.screenshot(path=str(shots_dir / "tasks-phone.png"), full_page=True)
    assert_accessible(
        accessible_copy(phone_context, new_context, "/console/tasks/", viewport=PHONE)
    )
    row.get_by_role("link", name="倒木で通行止め").click()
    phone.locator("form.status-form button[value=in_progress]").click()
    expect(phone.locator(".history")).to_contain_text("対応中: 道路公園課 — 倒木で通行止め")
    phone.screenshot(path=str(shots_dir / "task-phone.png"), full_page=True)
