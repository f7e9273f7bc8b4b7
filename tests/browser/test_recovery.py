"""Victim support through the pages: recovery staff enter a household by hand with its house,
survey the house on a phone (a mistake first, shown beside its input), and take the 罹災証明書
from the application through review to the issued PDF; the bulk issuance and rule-table pages
too. Every page passes axe-core without serious or critical problems and runs under the real
Content-Security-Policy; the survey pages fit a phone. Screenshots go to $MACHI_SCREENSHOT_DIR
(``recovery-*.png``) when it is set, else to pytest's temporary folder."""

from __future__ import annotations

import datetime as dt
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
DESKTOP = {"width": 1280, "height": 800}
TYPHOON = "令和7年台風第15号"


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    configured = os.environ.get("MACHI_SCREENSHOT_DIR")
    folder = Path(configured) if configured else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def recovery_city(demo_city: Any, settings: Any, tmp_path: Path) -> Any:
    """The demo city in a typhoon, with a member of the victim support office (被災者支援担当)
    whose authenticator is set up as the demo's accounts are."""
    from django.utils import timezone

    from machi.core import services
    from machi.core.demo import DEMO_PASSWORD
    from machi.core.models import TotpDevice, User
    from machi.core.roles import Role
    from machi.emergency import services as emergency_services

    settings.MEDIA_ROOT = tmp_path / "media"
    user = services.staff_create(
        username="recovery",
        password=DEMO_PASSWORD,
        display_name="支援 八重",
        department="福祉総務課",
        roles=[Role.RECOVERY],
    )
    device = services.totp_start(user=user)
    TotpDevice.objects.filter(pk=device.pk).update(confirmed_at=user.date_joined)
    emergency_services.disaster_declare(
        name=TYPHOON,
        hazards=["flood"],
        declared_by=User.objects.get(username="hq"),
        started_at=timezone.now() - dt.timedelta(days=3),
    )
    return demo_city


def shoot(page: Any, path: Path) -> None:
    page.evaluate("() => document.fonts.ready")
    page.screenshot(path=str(path), full_page=True)


def fits(page: Any, width: int) -> None:
    scroll = page.evaluate("() => document.documentElement.scrollWidth")
    assert scroll <= width + 1, f"{page.url} is {scroll} px wide in a {width} px window"


def test_recovery_staff_from_a_new_household_to_the_issued_certificate(
    new_context: Callable[..., Any],
    recovery_city: Any,
    sign_in: Callable[[Any, str], None],
    assert_accessible: Callable[[Any], None],
    shots: Path,
) -> None:
    from machi.recovery.models import Certificate, GrantApplication, LedgerHousehold, Survey

    page = new_context(bypass_csp=True).new_page()
    sign_in(page, "recovery")
    page.goto("/console/recovery/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("被災者台帳")
    expect(page.locator("#id_disaster")).to_have_value(re.compile(r"\d+"))
    expect(page.locator("#id_disaster option:checked")).to_contain_text(TYPHOON)
    assert_accessible(page)
    shoot(page, shots / "recovery-ledger-empty-desktop.png")

    # A household by hand (visitors from out of town), with the house they rent here.
    page.locator("main .toolbar a").first.click()
    page.wait_for_url("**/console/recovery/households/new/?disaster=*")
    assert_accessible(page)
    page.locator("#id_head_name").fill("旅行 太郎")
    page.locator("#id_address").fill("戸田市上戸田2-21-1 戸田東小学校（避難所）")
    page.locator("#id_members-0-name").fill("旅行 太郎")
    page.locator("#id_members-0-name_kana").fill("リョコウ タロウ")
    page.locator("#id_members-0-birth_date").fill("1975-04-01")
    page.locator("#id_members-0-relationship").fill("世帯主")
    page.locator("#id_members-1-name").fill("旅行 花子")
    page.locator("#id_members-1-relationship").fill("妻")
    page.locator("#id_house_address").fill("埼玉県戸田市美女木3-5-8")
    page.locator("#id_house_structure").select_option("wooden")
    page.locator("#id_house_storeys").fill("2")
    shoot(page, shots / "recovery-household-new-desktop.png")
    page.locator("form.household-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/console/recovery/households/\d+/$"))
    household = LedgerHousehold.objects.get()
    assert household.house is not None
    assert [m.name for m in household.members.order_by("pk")] == ["旅行 太郎", "旅行 花子"]
    expect(page.get_by_role("heading", level=1)).to_contain_text("旅行 太郎")
    expect(page.locator("main .messages, body .messages")).to_have_count(1)
    expect(page.locator("#members-title + .table-wrap")).to_contain_text("リョコウ タロウ")
    assert_accessible(page)
    shoot(page, shots / "recovery-household-desktop.png")

    # The survey, on a phone in front of the house: a mistake first, then the decision.
    page.set_viewport_size(PHONE)
    page.locator(f"a[href^='/console/recovery/surveys/new/?house={household.house_id}']").click()
    page.wait_for_url("**/console/recovery/surveys/new/?house=*")
    expect(page.locator("main")).to_contain_text("埼玉県戸田市美女木3-5-8")
    assert_accessible(page)
    fits(page, PHONE["width"])
    page.locator("input[name=method][value=flood_depth]").check()
    expect(page.locator(".method-inputs[data-method=loss_ratio]")).to_be_hidden()
    expect(page.locator(".method-inputs[data-method=flood_depth]")).to_be_visible()
    shoot(page, shots / "recovery-survey-phone.png")
    page.locator("input[name=external_force][value=no]").check()
    page.locator("#id_depth_above_floor_m").fill("1.2")
    page.locator("button.survey-form__submit").click()
    summary = page.locator(".error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    expect(page.locator("#id_external_force_error")).to_be_visible()
    expect(summary.locator("a[href='#id_external_force_0']")).to_have_count(1)
    assert not Survey.objects.exists()
    assert_accessible(page)
    fits(page, PHONE["width"])
    shoot(page, shots / "recovery-survey-error-phone.png")
    page.locator("input[name=external_force][value=yes]").check()
    expect(page.locator("#id_depth_above_floor_m")).to_have_value("1.2")
    page.locator("button.survey-form__submit").click()
    page.wait_for_url(re.compile(r"/console/recovery/surveys/[0-9a-f-]{36}/$"))
    expect(page.locator(".decision__class")).to_have_text("大規模半壊")
    expect(page.locator(".decision")).to_contain_text("R3.3")
    expect(page.locator(".decision")).to_contain_text("床上浸水 1.0 m以上1.8 m未満")
    assert Survey.objects.get().damage_class == "大規模半壊"
    assert_accessible(page)
    fits(page, PHONE["width"])
    shoot(page, shots / "recovery-survey-result-phone.png")

    # Back at the desk: the application, the review, the certificate.
    page.set_viewport_size(DESKTOP)
    page.locator(f"main a[href='/console/recovery/households/{household.pk}/']").click()
    page.wait_for_url(f"**/console/recovery/households/{household.pk}/")
    certificate_block = page.locator("#certificate")
    expect(certificate_block.locator("#id_application-applicant_name")).to_have_value("旅行 太郎")
    with page.expect_navigation():
        certificate_block.locator("button[type=submit]").click()
    application_id = household.certificate_applications.get().pk
    review = f"form[action='/console/recovery/applications/{application_id}/review/'] button"
    with page.expect_navigation():
        certificate_block.locator(review).click()
    issue = certificate_block.locator(
        f"form[action='/console/recovery/applications/{application_id}/issue/'] button"
    )
    expect(issue).to_be_visible()
    assert_accessible(page)
    with page.expect_navigation():
        issue.click()
    expect(page).to_have_url(
        re.compile(rf"/console/recovery/households/{household.pk}/#certificate$")
    )
    certificate = Certificate.objects.get()
    expect(page.locator(".messages")).to_contain_text(certificate.number)
    link = page.locator("#certificate-pdf")
    expect(link).to_have_attribute("href", f"/api/v1/recovery/certificates/{certificate.pk}/pdf")
    pdf = page.request.get(link.get_attribute("href"))
    assert pdf.status == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF")
    assert_accessible(page)
    shoot(page, shots / "recovery-household-issued-desktop.png")

    # The base grant: its amount from the grant table, then approved.
    grants = page.locator("#grants")
    expect(grants.locator("input[name='grant-part'][value=base]")).to_be_checked()
    expect(grants.locator("#id_grant-household_size")).to_have_value("2")
    with page.expect_navigation():
        grants.locator("form[action$='/grants/'] button[type=submit]").click()
    expect(page.locator(".messages")).to_contain_text("500,000")
    expect(grants.locator("tbody tr")).to_contain_text("500,000")
    with page.expect_navigation():
        grants.locator("form[action*='/status/'] button").first.click()
    assert GrantApplication.objects.get().status == "approved"
    assert_accessible(page)
    shoot(page, shots / "recovery-household-grant-desktop.png")

    # The ledger now shows the household with its class and certificate.
    page.goto("/console/recovery/")
    row = page.locator("tbody tr").filter(has_text="旅行 太郎")
    expect(row).to_contain_text("大規模半壊")
    assert_accessible(page)
    shoot(page, shots / "recovery-ledger-desktop.png")

    for path, name in (
        ("/console/recovery/certificates/", "bulk"),
        ("/console/recovery/rules/", "rules"),
    ):
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        assert_accessible(page)
        shoot(page, shots / f"recovery-{name}-desktop.png")


def test_the_counter_finds_a_household_and_receives_its_application(
    new_context: Callable[..., Any],
    recovery_city: Any,
    sign_in: Callable[[Any, str], None],
    assert_accessible: Callable[[Any], None],
    shots: Path,
) -> None:
    from machi.emergency import selectors as emergency_selectors
    from machi.recovery import ledger
    from machi.recovery.models import CertificateApplication

    disaster = emergency_selectors.disaster_current()
    assert disaster is not None
    household = ledger.household_by_hand(
        disaster=disaster,
        head_name="窓口 来子",
        address="戸田市新曽南3-1-1",
        members=[ledger.PersonInput(name="窓口 来子", birth_date=dt.date(1960, 1, 2))],
        house=None,
        by=None,
    )
    page = new_context(bypass_csp=True).new_page()
    sign_in(page, "counter")
    page.goto("/console/recovery/")
    expect(page.locator("main table")).to_have_count(0)  # nobody listed before a search
    assert_accessible(page)
    page.locator("#id_q").fill("窓口")
    with page.expect_navigation():
        page.locator("form.disaster-filter button[type=submit]").click()
    row = page.locator("tbody tr").filter(has_text="窓口 来子")
    expect(row).to_have_count(1)
    assert_accessible(page)
    shoot(page, shots / "recovery-counter-search-desktop.png")
    with page.expect_navigation():
        row.get_by_role("link").click()
    expect(page.locator("main")).not_to_contain_text("1960")  # no more of the ledger than needed
    expect(page.locator("#members-title")).to_have_count(0)
    with page.expect_navigation():
        page.locator("#certificate button[type=submit]").click()
    application = CertificateApplication.objects.get(household=household)
    assert application.applicant_name == "窓口 来子"
    expect(page.locator("#certificate .status")).to_have_class(re.compile("status--applied"))
    expect(page.locator(f"form[action*='/applications/{application.pk}/']")).to_have_count(0)
    assert_accessible(page)
    shoot(page, shots / "recovery-counter-received-desktop.png")
