"""Browser tests: the system Chromium driven by Playwright against pytest-django's live server.

Nothing is downloaded: Playwright starts ``/usr/bin/chromium`` (``apt-get install chromium
fonts-ipafont-gothic``), never a browser of its own. Each test gets the demo city (戸田市 with one
staff account per role) in a fresh database and a fresh browser context, so cookies and sessions
never leak from one test to the next.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE_JS = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1280, "height": 800}
# A resident's browser in Japan: Django's LocaleMiddleware reads Accept-Language.
JA_LOCALE = "ja-JP"
TIMEOUT_MS = 10_000
ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"


# --- The browser ------------------------------------------------------------------------------


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One headless Chromium for all the browser tests.

    ``launch()`` gives the browser a fresh temporary profile of its own (Playwright refuses a
    ``--user-data-dir`` argument and deletes the profile when the browser closes); every test
    then opens its own incognito-like context on it.

    Package scope, not session: while Playwright's sync API is started, an asyncio loop counts
    as running in this thread, and Django refuses ORM calls from it (SynchronousOnlyOperation)
    unless DJANGO_ALLOW_ASYNC_UNSAFE is set. The fixtures and helpers here do use the ORM, so
    the variable is set, but only while the browser lives: the rest of the suite runs after
    it with Django's check intact.
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests need the playwright package: pip install -e '.[dev]'")
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        pytest.skip(
            f"browser tests need the system Chromium at {CHROMIUM} and a Japanese font: "
            "apt-get install chromium fonts-ipafont-gothic (never `playwright install`)"
        )
    previous = os.environ.get(ASYNC_UNSAFE)
    os.environ[ASYNC_UNSAFE] = "true"
    playwright = sync_playwright().start()
    try:
        try:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        except Exception as exc:
            pytest.skip(f"could not start {CHROMIUM}: {exc}")
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop(ASYNC_UNSAFE, None)
        else:
            os.environ[ASYNC_UNSAFE] = previous


# --- The city ---------------------------------------------------------------------------------


@pytest.fixture
def demo_city(transactional_db: None) -> Any:
    """戸田市 with staff hq/shelter/counter/wifi/auditor/admin (password DEMO_PASSWORD)."""
    from machi.core.demo import load_demo_city

    return load_demo_city()


@pytest.fixture
def new_context(browser: Any, live_server: Any, demo_city: Any) -> Iterator[Callable[..., Any]]:
    """Open browser contexts on the live server; all are closed after the test.

    Every context watches for what a person would not see but must not happen: a response
    of 500 or more, an uncaught script error, or anything the Content-Security-Policy blocked
    (inline styles or scripts). Any of these fails the test when it ends.
    """
    contexts: list[Any] = []
    problems: list[str] = []

    def on_console(message: Any) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            problems.append(f"CSP: {message.text} ({message.location.get('url')})")

    def on_response(response: Any) -> None:
        if response.status >= 500:
            problems.append(f"HTTP {response.status}: {response.request.method} {response.url}")

    def open_context(**options: Any) -> Any:
        settings = {"base_url": live_server.url, "locale": JA_LOCALE, "viewport": DESKTOP}
        settings.update(options)
        context = browser.new_context(**settings)
        context.set_default_timeout(TIMEOUT_MS)
        context.on("console", on_console)
        context.on("weberror", lambda error: problems.append(f"script error: {error.error}"))
        context.on("response", on_response)
        contexts.append(context)
        return context

    yield open_context
    for context in contexts:
        context.close()
    if problems:
        pytest.fail("the browser saw problems:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture
def page(new_context: Callable[..., Any]) -> Any:
    """A desktop page in a Japanese browser, signed out, under the app's real CSP."""
    return new_context().new_page()


@pytest.fixture
def axe_page(new_context: Callable[..., Any]) -> Any:
    """Like ``page``, but the CSP lets the injected axe-core script in (``bypass_csp``).

    The app forbids inline scripts, and Playwright injects axe as one; only these contexts
    relax that, so every other test still runs under the policy the app sends.
    """
    return new_context(bypass_csp=True).new_page()


# --- Helpers (as fixtures, so test modules need not import this file) --------------------------


def totp_now(username: str) -> str:
    """The current code of a demo user's authenticator app."""
    import pyotp

    from machi.core.models import TotpDevice

    secret = TotpDevice.objects.get(user__username=username).secret
    return pyotp.TOTP(secret).now()


def wrong_code_for(username: str) -> str:
    """A well-formed code the server will surely refuse: none of the steps it accepts now."""
    import pyotp

    from machi.core.models import TotpDevice

    totp = pyotp.TOTP(TotpDevice.objects.get(user__username=username).secret)
    now = time.time()
    accepted = {totp.at(now + offset * totp.interval) for offset in (-2, -1, 0, 1, 2)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in accepted)


def sign_in_with(page: Any, username: str) -> None:
    """Both steps of the staff sign-in, through the forms, as a person would.

    The server accepts each 30-second code only once per user: within one test, sign in each
    user at most once (or use another user).
    """
    from machi.core.demo import DEMO_PASSWORD

    page.goto("/console/login/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(DEMO_PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/console/login/verify/")
    page.locator("#id_code").fill(totp_now(username))
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/console/")


@pytest.fixture
def totp() -> Callable[[str], str]:
    """``totp("hq")``: the code hq's authenticator app shows now."""
    return totp_now


@pytest.fixture
def wrong_totp() -> Callable[[str], str]:
    """``wrong_totp("hq")``: six digits that are not a code hq's app could show now."""
    return wrong_code_for


@pytest.fixture
def sign_in() -> Callable[[Any, str], None]:
    """``sign_in(page, "hq")``: password, then TOTP; ends on the console home."""
    return sign_in_with


def axe_violations(
    page: Any, *, impacts: tuple[str, ...] = ("serious", "critical")
) -> list[dict[str, Any]]:
    """Inject axe-core into the page and return its violations of the given impacts."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # Needs a context opened with bypass_csp=True (the ``axe_page`` fixture).
        page.add_script_tag(path=str(AXE_JS))
    violations: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [v for v in violations if v.get("impact") in impacts]


def format_violations(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(
            f"[{violation['impact']}] {violation['id']}: {violation['help']} "
            f"({violation['helpUrl']})"
        )
        for node in violation["nodes"][:5]:
            lines.append(f"    at {' > '.join(map(str, node['target']))}")
            summary = (node.get("failureSummary") or "").strip().replace("\n", "\n       ")
            if summary:
                lines.append(f"       {summary}")
        if len(violation["nodes"]) > 5:
            lines.append(f"    … and {len(violation['nodes']) - 5} more")
    return "\n".join(lines)


def check_accessible(page: Any) -> None:
    violations = axe_violations(page)
    if violations:
        lang = page.evaluate("() => document.documentElement.lang")
        pytest.fail(
            f"axe-core found serious or critical problems on {page.url} (lang={lang}):\n"
            + format_violations(violations),
            pytrace=False,
        )


@pytest.fixture
def axe() -> Callable[..., list[dict[str, Any]]]:
    """``axe(page)``: the serious and critical axe-core violations on the page as it is now."""
    return axe_violations


@pytest.fixture
def assert_accessible() -> Callable[[Any], None]:
    """``assert_accessible(page)``: fails listing every serious or critical axe violation."""
    return check_accessible


def english_left(
    page: Any, *, allowed: frozenset[str] = frozenset(), skip: str = "", strip: str = ""
) -> list[str]:
    """Latin words in the visible text of the page's main part, outside what is meant to be
    English (``lang="en"``), URLs, e-mail addresses, code and form inputs. ``allowed``: names
    of things a Japanese page may show; ``skip``: more selectors; ``strip``: a regex of more
    text to ignore (placeholders, reference numbers)."""
    selectors = ", ".join(
        part for part in ('[lang="en"], textarea, select, code, pre, noscript', skip) if part
    )
    text = page.evaluate(
        """(skip) => {
            const walker = document.createTreeWalker(document.querySelector("main"),
                NodeFilter.SHOW_TEXT);
            const parts = [];
            for (let node = walker.nextNode(); node; node = walker.nextNode()) {
                const parent = node.parentElement;
                if (parent.closest(skip) || !parent.checkVisibility()) continue;
                parts.push(node.textContent);
            }
            return parts.join(" ");
        }""",
        selectors,
    )
    text = re.sub(r"https?://\S+|\S+@\S+" + (f"|{strip}" if strip else ""), " ", text)
    words = re.findall(r"[A-Za-z][A-Za-z'-]{2,}", text)
    return sorted({word for word in words if word not in allowed})
