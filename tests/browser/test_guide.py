"""The FAQ assistant as residents use it in Chromium: from the box at the foot of a portal
page with the keyboard only, the answer read out (aria-live) and their feedback taken; the
same without JavaScript; axe-core finds nothing serious; Japanese only."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import english_left

pytestmark = pytest.mark.browser


@pytest.fixture
def faq(demo_city: Any) -> Iterator[None]:
    from machi.guide import demo, services

    services.forget_index()
    demo.load_demo_guide()
    yield
    services.forget_index()


def test_a_resident_asks_from_the_home_page_with_the_keyboard(
    new_context: Callable[..., Any], faq: None, assert_accessible: Callable[[Any], None]
) -> None:
    from machi.guide.models import Question

    page = new_context(bypass_csp=True).new_page()  # bypass only to inject axe-core
    page.goto("/")
    box = page.get_by_role("textbox", name="質問")
    box.focus()
    page.keyboard.type("引っ越してきたので住所の手続きをしたい")
    page.keyboard.press("Enter")
    answer = page.locator(".guide-chat__answer")
    expect(answer).to_have_attribute("aria-live", "polite")
    expect(answer).to_contain_text("転入", timeout=15_000)
    assert page.url.endswith("/")  # stayed on the page: answered in place
    assert not english_left(
        page, allowed=frozenset({"HTTPS", "JAPAN", "LINE", "Wi-Fi", "Wi", "Fi"})
    )
    assert_accessible(page)
    page.get_by_role("button", name="解決しなかった").click()
    expect(answer).to_contain_text("ありがとうございました")
    asked = Question.objects.get()
    assert asked.feedback == "unresolved"


def test_without_javascript_the_box_opens_the_answer_page(
    new_context: Callable[..., Any], faq: None
) -> None:
    page = new_context(java_script_enabled=False).new_page()
    page.goto("/")
    page.get_by_role("textbox", name="質問").fill("粗大ごみを出したい")
    page.get_by_role("button", name="質問する").click()
    page.wait_for_url("**/guide/?q=*")
    expect(page.locator(".guide-best")).to_contain_text("粗大ごみ")
    page.get_by_role("button", name="解決した", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("お役に立ててよかった")
