"""A member of staff at the disaster headquarters signs in, works in two languages, signs out.

Also: the pages pass axe-core without serious or critical problems, mistakes are announced
where a screen-reader user will hear them, and everything works with JavaScript turned off.
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


def test_hq_signs_in_in_two_steps_switches_language_and_signs_out(
    page: Any, totp: Callable[[str], str]
) -> None:
    # Given a resident-facing home page in Japanese (the city's default language)
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "ja")

    # When 本部 太郎 follows 職員の方, the console sends him to sign in first
    page.get_by_role("link", name="職員の方").click()
    expect(page).to_have_url(re.compile(r"/console/login/\?next=/console/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("職員ログイン")
    page.get_by_label("ユーザー名").fill("hq")
    page.get_by_label("パスワード").fill("machi-demo-pass")
    page.get_by_role("button", name="次へ進む").click()

    # Step 2: the code from his authenticator app
    expect(page).to_have_url(re.compile(r"/console/login/verify/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("2段階認証")
    page.get_by_label("認証アプリに表示される6桁のコード").fill(totp("hq"))
    page.get_by_role("button", name="ログイン", exact=True).click()

    # Then he is on the console home, greeted by name, with his role shown
    expect(page).to_have_url(re.compile(r"/console/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("本部 太郎さん、お疲れさまです")
    roles = page.get_by_role("region", name="あなたの役割")
    expect(roles.get_by_role("listitem")).to_have_text(["災害対策本部"])
    expect(page.get_by_role("navigation", name="メインメニュー")).to_contain_text("職員トップ")
    expect(page).to_have_title(re.compile("職員トップ"))

    # When he switches to English with the header button
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page).to_have_url(re.compile(r"/console/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, 本部 太郎")
    expect(page.get_by_role("region", name="Your roles").get_by_role("listitem")).to_have_text(
        ["Disaster headquarters"]
    )
    expect(page.get_by_role("button", name="English")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_role("button", name="日本語")).to_have_attribute("aria-pressed", "false")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    # And back to Japanese
    page.get_by_role("button", name="日本語").click()
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.get_by_role("heading", level=1)).to_have_text("本部 太郎さん、お疲れさまです")
    expect(page.get_by_role("button", name="日本語")).to_have_attribute("aria-pressed", "true")

    # When he signs out, he is back on the portal and the console is closed to him
    page.get_by_role("button", name="ログアウト").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("link", name="職員の方")).to_be_visible()
    page.goto("/console/")
    expect(page).to_have_url(re.compile(r"/console/login/\?next=/console/$"))


# --- Accessibility (axe-core: WCAG 2.x A/AA and best practices) ------------------------------


@pytest.mark.parametrize(
    ("path", "language", "username"),
    [
        pytest.param("/", "ja", None, id="portal-home-ja"),
        pytest.param("/", "en", None, id="portal-home-en"),
        pytest.param("/shelters/", "ja", None, id="shelters-ja"),
        pytest.param("/console/login/", "ja", None, id="login-ja"),
        pytest.param("/console/", "ja", "hq", id="console-home-ja"),
        pytest.param("/console/", "en", "hq", id="console-home-en"),
        pytest.param("/console/audit/", "ja", "auditor", id="audit-log-ja"),
        pytest.param("/console/facilities/", "ja", "shelter", id="facilities-ja"),
    ],
)
def test_pages_have_no_serious_accessibility_problems(
    axe_page: Any,
    sign_in: Callable[[Any, str], None],
    assert_accessible: Callable[[Any], None],
    path: str,
    language: str,
    username: str | None,
) -> None:
    if username:
        sign_in(axe_page, username)
    axe_page.goto(path)
    if language != "ja":
        axe_page.get_by_role("button", name="English").click()
    expect(axe_page.locator("html")).to_have_attribute("lang", language)
    assert_accessible(axe_page)


def test_sign_in_steps_with_errors_have_no_serious_accessibility_problems(
    axe_page: Any, wrong_totp: Callable[[str], str], assert_accessible: Callable[[Any], None]
) -> None:
    axe_page.goto("/console/login/")
    axe_page.get_by_role("button", name="次へ進む").click()
    expect(axe_page.locator(".error-summary")).to_be_visible()
    assert_accessible(axe_page)

    axe_page.get_by_label("ユーザー名").fill("counter")
    axe_page.get_by_label("パスワード").fill("machi-demo-pass")
    axe_page.get_by_role("button", name="次へ進む").click()
    expect(axe_page).to_have_url(re.compile(r"/console/login/verify/$"))
    assert_accessible(axe_page)

    axe_page.get_by_label("認証アプリに表示される6桁のコード").fill(wrong_totp("counter"))
    axe_page.get_by_role("button", name="ログイン", exact=True).click()
    expect(axe_page.locator(".error-summary")).to_be_visible()
    assert_accessible(axe_page)


# --- Mistakes ---------------------------------------------------------------------------------


def test_wrong_password_is_announced_in_the_error_summary(page: Any) -> None:
    page.goto("/console/login/")
    page.get_by_label("ユーザー名").fill("hq")
    page.get_by_label("パスワード").fill("not-the-password")
    page.get_by_role("button", name="次へ進む").click()

    summary = page.get_by_role("alert")
    expect(summary).to_be_visible()
    expect(summary.get_by_role("heading", level=2)).to_have_text("入力内容を確認してください")
    expect(summary).to_contain_text("ユーザー名またはパスワードが正しくありません。")
    # The summary takes the focus, so a screen reader reads it first.
    expect(summary).to_be_focused()
    expect(page).to_have_url(re.compile(r"/console/login/"))
    # The user name is kept; the password is not sent back.
    expect(page.get_by_label("ユーザー名")).to_have_value("hq")
    expect(page.get_by_label("パスワード")).to_have_value("")


def test_missing_fields_are_linked_from_the_error_summary(page: Any) -> None:
    page.goto("/console/login/")
    page.get_by_role("button", name="次へ進む").click()

    summary = page.get_by_role("alert")
    expect(summary).to_be_focused()
    links = summary.get_by_role("link")
    expect(links).to_have_count(2)
    expect(links.first).to_contain_text("ユーザー名")
    username = page.get_by_label("ユーザー名")
    expect(username).to_have_attribute("aria-invalid", "true")
    # The field's own message is tied to the input, not only shown beside it.
    expect(username).to_have_accessible_description(re.compile(r"\S"))

    links.first.click()
    expect(page).to_have_url(re.compile(r"#id_username$"))
    expect(username).to_be_focused()


def test_wrong_code_is_shown_on_the_code_field(
    page: Any, totp: Callable[[str], str], wrong_totp: Callable[[str], str]
) -> None:
    page.goto("/console/login/")
    page.get_by_label("ユーザー名").fill("hq")
    page.get_by_label("パスワード").fill("machi-demo-pass")
    page.get_by_role("button", name="次へ進む").click()
    expect(page).to_have_url(re.compile(r"/console/login/verify/$"))

    code = page.get_by_label("認証アプリに表示される6桁のコード")
    code.fill(wrong_totp("hq"))
    page.get_by_role("button", name="ログイン", exact=True).click()

    expect(page).to_have_url(re.compile(r"/console/login/verify/$"))
    message = "コードが正しくないか、すでに使用されています。"
    expect(page.locator(".field--error .field-error")).to_contain_text(message)
    expect(code).to_have_attribute("aria-invalid", "true")
    expect(code).to_have_accessible_description(re.compile(message))
    expect(page.get_by_role("alert").get_by_role("link")).to_contain_text(message)

    # A second try with the right code still gets in.
    code.fill(totp("hq"))
    page.get_by_role("button", name="ログイン", exact=True).click()
    expect(page).to_have_url(re.compile(r"/console/$"))


# --- Without JavaScript -----------------------------------------------------------------------


def test_everything_works_without_javascript(
    new_context: Callable[..., Any], totp: Callable[[str], str]
) -> None:
    page = new_context(java_script_enabled=False).new_page()
    page.goto("/")
    assert page.evaluate("() => typeof window.htmx") == "undefined", "scripts still ran"
    page.get_by_role("link", name="職員の方").click()
    page.get_by_label("ユーザー名").fill("shelter")
    page.get_by_label("パスワード").fill("machi-demo-pass")
    page.get_by_role("button", name="次へ進む").click()
    page.get_by_label("認証アプリに表示される6桁のコード").fill(totp("shelter"))
    page.get_by_role("button", name="ログイン", exact=True).click()

    expect(page).to_have_url(re.compile(r"/console/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("避難所 花子さん、お疲れさまです")
    expect(page.get_by_role("region", name="あなたの役割")).to_contain_text("避難所職員")
    expect(page.get_by_role("region", name="あなたの役割")).to_contain_text("戸田東小学校")

    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_role("link", name="Facilities").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Facilities")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/$"))
