"""The offline shelter console in headless Chromium: the network is cut, the shelter's staff
go on working, the page is reloaded and reopened while offline, the network comes back and
everything reaches the server once.

Given 戸田東小学校 open for a typhoon, with one person already present and a household that
registered on a phone, when the tablet goes offline and staff register two people, check the
household in by its code, check two people out and note a need, then reload the page, open it
again in a new tab, and come back online: the records are sent by themselves, each exists
once in the database (0 lost, 0 duplicated), and the offline banner clears.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.browser
expect = pytest.importorskip(
    "playwright.sync_api", reason="browser tests need the playwright package"
).expect

SHELTER = "戸田東小学校"  # the demo's shelter staff work here and at 戸田第一小学校
OTHER = "戸田第一小学校"
SYNC_WAIT_MS = 30_000


@dataclass
class Evening:
    opening: Any
    other: Any
    present: Any  # a stay at SHELTER before the network goes
    code: str  # a household registered on a phone, not yet anywhere
    members: int


def _stay(opening: Any, family: str, given: str) -> Any:
    from machi.shelters import services

    household = services.household_register(
        members=[services.PersonInput(family_name=family, given_name=given)],
        disaster=opening.disaster,
    )
    return services.checkin_create(
        checkin_id=uuid.uuid4(),
        person=household.members.get(),
        disaster=opening.disaster,
        opening=opening,
    ).checkin


@pytest.fixture
def evening(demo_city: Any) -> Evening:
    from machi.core.hazards import Hazard
    from machi.core.models import User
    from machi.emergency import services as emergency_services
    from machi.shelters import services
    from machi.shelters.demo import load_demo_shelters
    from machi.shelters.models import Shelter

    load_demo_shelters()
    disaster = emergency_services.disaster_declare(
        name="令和元年東日本台風",
        hazards=[Hazard.FLOOD],
        declared_by=User.objects.get(username="hq"),
    )
    opening = services.opening_open(
        shelter=Shelter.objects.get(facility__name=SHELTER), disaster=disaster
    )
    other = services.opening_open(
        shelter=Shelter.objects.get(facility__name=OTHER), disaster=disaster
    )
    household = services.household_register(
        members=[
            services.PersonInput(family_name="戸田", given_name="一家"),
            services.PersonInput(family_name="戸田", given_name="二葉"),
        ],
        disaster=None,
        self_registered=True,
    )
    return Evening(opening, other, _stay(opening, "在所", "太郎"), household.code, 2)


def open_console(page: Any, opening: Any) -> str:
    url = f"/console/shelters/offline/{opening.pk}/"
    page.goto(url)
    # Ready: the service worker keeps the page, the roster is on the device.
    expect(page.get_by_test_id("offline-console")).to_have_attribute(
        "data-ready", "true", timeout=20_000
    )
    return url


def roster_row(page: Any, name: str) -> Any:
    return page.locator("#roster-body tr").filter(has_text=name)


def register(page: Any, family: str, given: str, needs: tuple[str, ...] = ()) -> None:
    form = page.get_by_test_id("register-form")
    form.locator("[name=family_name]").fill(family)
    form.locator("[name=given_name]").fill(given)
    for need in needs:
        form.locator(f"input[name=needs][value={need}]").check()
    form.locator("button[type=submit]").click()
    expect(roster_row(page, f"{family} {given}")).to_have_count(1)


def test_an_evening_offline_is_kept_across_reloads_and_sent_once(
    new_context: Callable[..., Any],
    evening: Evening,
    sign_in: Callable[[Any, str], None],
) -> None:
    from machi.shelters.models import Checkin, Person

    context = new_context()
    page = context.new_page()
    sign_in(page, "shelter")
    url = open_console(page, evening.opening)
    status = page.get_by_test_id("sync-status")
    expect(roster_row(page, "在所 太郎")).to_have_count(1)  # the roster, kept for offline

    # The network goes.
    context.set_offline(True)
    expect(status).to_have_attribute("data-state", "offline")
    expect(page.get_by_test_id("sync-state")).to_contain_text("オフライン")

    register(page, "避難", "一郎", needs=("illness",))
    register(page, "避難", "花子")
    page.get_by_test_id("code-form").locator("[name=code]").fill(evening.code)
    page.get_by_test_id("code-form").locator("button[type=submit]").click()
    roster_row(page, "避難 一郎").locator("[data-action=checkout]").click()
    roster_row(page, "在所 太郎").locator("[data-action=checkout]").click()
    roster_row(page, "避難 花子").locator("[data-action=needs]").click()
    dialog = page.locator("#needs-dialog")
    dialog.locator("input[value=pregnancy]").check()
    dialog.locator("button[value=save]").click()
    made_offline = 6  # 2 registrations, 1 check-in by code, 2 check-outs, 1 need
    expect(page.get_by_test_id("waiting-count")).to_have_text(str(made_offline))
    expect(roster_row(page, "避難 一郎")).to_have_count(0)
    expect(roster_row(page, "在所 太郎")).to_have_count(0)
    assert Person.objects.filter(family_name="避難").count() == 0  # nothing reached the server

    # Reloaded while offline: the service worker serves the page, IndexedDB the records.
    response = page.reload()
    assert response is not None
    assert response.from_service_worker
    expect(page.get_by_test_id("waiting-count")).to_have_text(str(made_offline))
    expect(status).to_have_attribute("data-state", "offline")
    hanako_row = roster_row(page, "避難 花子")
    expect(hanako_row.locator(".tag")).to_have_count(1)  # the need, drawn from the queue
    expect(hanako_row.locator(".badge--pending")).to_have_count(1)

    # Closed and opened again in a new tab, still offline.
    page.close()
    page = context.new_page()
    response = page.goto(url)
    assert response is not None
    assert response.from_service_worker
    expect(page.get_by_test_id("waiting-count")).to_have_text(str(made_offline))
    status = page.get_by_test_id("sync-status")

    # The network returns: the records go by themselves.
    context.set_offline(False)
    expect(page.get_by_test_id("waiting-count")).to_have_text("0", timeout=SYNC_WAIT_MS)
    expect(status).to_have_attribute("data-state", "online", timeout=SYNC_WAIT_MS)
    expect(page.get_by_test_id("sync-state")).not_to_contain_text("オフライン")
    expect(page.get_by_test_id("attention")).to_be_hidden()
    hanako_row = roster_row(page, "避難 花子")
    expect(hanako_row.locator(".badge--pending")).to_have_count(0)  # from the server now
    expect(hanako_row.locator(".tag")).to_have_count(1)

    # In the database: exactly what was made offline, each once.
    ichiro = Person.objects.filter(family_name="避難", given_name="一郎")
    hanako = Person.objects.filter(family_name="避難", given_name="花子")
    assert (ichiro.count(), hanako.count()) == (1, 1)
    assert ichiro.get().needs == ["illness"]
    assert hanako.get().needs == ["pregnancy"]
    ichiro_stays = Checkin.objects.filter(person__in=ichiro)
    hanako_stays = Checkin.objects.filter(person__in=hanako)
    assert ichiro_stays.count() == 1
    assert ichiro_stays.get().checked_out_at is not None
    assert hanako_stays.count() == 1
    assert hanako_stays.get().checked_out_at is None
    household_stays = Checkin.objects.filter(person__household__code=evening.code)
    assert household_stays.count() == evening.members
    evening.present.refresh_from_db()
    assert evening.present.checked_out_at is not None
    assert all(s.device.startswith("offline:") for s in [*ichiro_stays, *hanako_stays])

    # The figure: what was made offline, what reached the server, lost, duplicated.
    found = {
        "registration 一郎": ichiro.count(),
        "registration 花子": hanako.count(),
        "check-in by code": int(household_stays.count() == evening.members),
        "check-out 一郎": ichiro_stays.filter(checked_out_at__isnull=False).count(),
        "check-out 在所": int(evening.present.checked_out_at is not None),
        "need 花子": int(hanako.get().needs == ["pregnancy"]),
    }
    synced = sum(1 for n in found.values() if n >= 1)
    lost = sum(1 for n in found.values() if n == 0)
    duplicated = sum(n - 1 for n in found.values() if n > 1) + (
        Checkin.objects.filter(opening=evening.opening).count() - (1 + 2 + evening.members)
    )
    print(
        f"\noffline evening: {made_offline} records made offline, {synced} synced, "
        f"{lost} lost, {duplicated} duplicated"
    )
    assert (synced, lost, duplicated) == (made_offline, 0, 0)
    evening.opening.refresh_from_db()
    assert evening.opening.occupancy == 1 + evening.members  # 花子 and the household


def test_conflicts_made_offline_are_shown_and_reach_hq(
    new_context: Callable[..., Any],
    evening: Evening,
    sign_in: Callable[[Any, str], None],
) -> None:
    from machi.emergency.models import ChronologyEntry
    from machi.shelters import services
    from machi.shelters.models import Checkin, Household

    moved = _stay(evening.opening, "移動", "次郎")
    elsewhere = services.checkin_household(
        checkin_id=uuid.uuid4(),
        household=Household.objects.get(code=evening.code),
        disaster=evening.other.disaster,
        opening=evening.other,
    )
    context = new_context()
    page = context.new_page()
    sign_in(page, "shelter")
    open_console(page, evening.opening)

    context.set_offline(True)
    expect(page.get_by_test_id("sync-status")).to_have_attribute("data-state", "offline")
    # The tablet sees 移動 次郎 leave, and checks in the household already at 戸田第一小学校 …
    roster_row(page, "移動 次郎").locator("[data-action=checkout]").click()
    page.get_by_test_id("code-form").locator("[name=code]").fill(evening.code)
    page.get_by_test_id("code-form").locator("button[type=submit]").click()
    expect(page.get_by_test_id("waiting-count")).to_have_text("2")
    # … while HQ, online, moves 移動 次郎 to the other shelter.
    services.transfer(checkin=moved, to_opening=evening.other, new_id=uuid.uuid4())
    ended = Checkin.objects.get(pk=moved.pk).checked_out_at

    context.set_offline(False)
    expect(page.get_by_test_id("waiting-count")).to_have_text("0", timeout=SYNC_WAIT_MS)
    attention = page.get_by_test_id("attention")
    expect(attention).to_be_visible()
    expect(attention.locator("[data-kind=already_ended]")).to_contain_text("移動 次郎")
    expect(attention.locator("[data-kind=two_shelters]")).to_have_count(1)

    moved.refresh_from_db()
    assert moved.checked_out_at == ended  # the first end stands; HQ decides
    assert moved.conflict
    stays = Checkin.objects.filter(person__household__code=evening.code)
    assert stays.filter(conflict=True).count() == 2 * evening.members
    assert all(r.checkin.pk in {s.pk for s in stays} for r in elsewhere)

    # Dismissed on the tablet once dealt with; HQ sees both on its dashboard.
    attention.locator("[data-kind=already_ended] [data-action=dismiss]").click()
    expect(attention.locator("[data-kind=already_ended]")).to_have_count(0)
    lines = ChronologyEntry.objects.filter(important=True, text__contains="オフライン同期")
    assert lines.count() == 2
    hq = new_context().new_page()
    sign_in(hq, "hq")
    hq.goto("/console/shelters/dashboard/")
    expect(hq.locator("#dashboard")).to_contain_text("他で退所済み")
    expect(hq.locator("#dashboard")).to_contain_text("他の避難所にも滞在中")
    row = hq.get_by_role("row").filter(has_text=SHELTER)
    expect(row.locator("td").nth(4)).to_have_text(str(evening.members))


def test_the_console_is_accessible_says_what_is_wrong_and_waits_for_a_new_sign_in(
    new_context: Callable[..., Any],
    evening: Evening,
    sign_in: Callable[[Any, str], None],
    assert_accessible: Callable[[Any], None],
    settings: Any,
) -> None:
    from django.test import Client

    from machi.core.models import User
    from machi.shelters.models import Person

    context = new_context(bypass_csp=True)  # axe-core is injected as an inline script
    page = context.new_page()
    sign_in(page, "shelter")
    url = open_console(page, evening.opening)
    assert_accessible(page)

    # A registration without a family name: the field says so, the summary takes the focus.
    form = page.get_by_test_id("register-form")
    form.locator("[name=given_name]").fill("名無")
    form.locator("button[type=submit]").click()
    family = form.locator("[name=family_name]")
    expect(family).to_have_attribute("aria-invalid", "true")
    expect(form.locator(".error-summary")).to_be_focused()
    expect(page.locator(f"#{family.get_attribute('id')}_error")).to_be_visible()
    assert_accessible(page)
    expect(page.get_by_test_id("waiting-count")).to_have_text("0")

    # Offline, the session ends (the browser was restarted): the record waits for a sign-in.
    context.set_offline(True)
    expect(page.get_by_test_id("sync-status")).to_have_attribute("data-state", "offline")
    family.fill("再認証")
    form.locator("button[type=submit]").click()
    expect(family).not_to_have_attribute("aria-invalid", "true")
    expect(page.get_by_test_id("waiting-count")).to_have_text("1")
    assert_accessible(page)
    context.clear_cookies()
    context.set_offline(False)
    expect(page.get_by_test_id("sync-status")).to_have_attribute(
        "data-state", "auth", timeout=SYNC_WAIT_MS
    )
    expect(page.get_by_test_id("sign-in")).to_be_visible()
    expect(page.get_by_test_id("waiting-count")).to_have_text("1")  # kept
    assert not Person.objects.filter(family_name="再認証").exists()

    # Signed in again (each TOTP code works once: the session is made as the sign-in would).
    # Playwright cannot add a __Host- cookie (it always gives a Domain), so from here the
    # server reads a plain-named session cookie; the first one is simply no longer read.
    settings.SESSION_COOKIE_NAME = "sessionid"
    client = Client()
    client.force_login(User.objects.get(username="shelter"))
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    host = urlsplit(page.url).hostname
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session, "domain": host, "path": "/"}]
    )
    page.goto(url)
    expect(page.get_by_test_id("waiting-count")).to_have_text("0", timeout=SYNC_WAIT_MS)
    expect(page.get_by_test_id("sync-status")).to_have_attribute("data-state", "online")
    assert Person.objects.filter(family_name="再認証").count() == 1


def test_a_server_out_of_reach_is_told_apart_from_a_network_cut(
    new_context: Callable[..., Any],
    evening: Evening,
    sign_in: Callable[[Any, str], None],
) -> None:
    """The tablet's Wi-Fi works but the city's data centre does not answer (Toda's case)."""
    from machi.shelters.models import Person

    context = new_context()
    page = context.new_page()
    sign_in(page, "shelter")
    open_console(page, evening.opening)
    context.route("**/api/v1/**", lambda route: route.abort())
    register(page, "不達", "一")
    status = page.get_by_test_id("sync-status")
    expect(status).to_have_attribute("data-state", "unreachable")
    expect(page.get_by_test_id("sync-state")).to_contain_text("オフライン")
    expect(page.get_by_test_id("waiting-count")).to_have_text("1")

    context.unroute("**/api/v1/**")
    page.get_by_test_id("sync-now").click()
    expect(page.get_by_test_id("waiting-count")).to_have_text("0")
    expect(status).to_have_attribute("data-state", "online")
    assert Person.objects.filter(family_name="不達").count() == 1
