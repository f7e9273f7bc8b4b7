"""The public shelter pages: who is open and how crowded (page, CSV), and self-registration.

Given a city whose typhoon response opened two shelters, a resident's phone sees which shelters
are open and how full, never who is in them; a household registers without an account, gets a
QR code, and sees only its own registration.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import pytest
from django.test import Client
from django.urls import include, path
from django.utils import timezone

from machi.config import urls as root_urls
from machi.core.models import Municipality
from machi.emergency.models import Disaster
from machi.shelters import services
from machi.shelters.models import Household, Opening, Person

# Until the root URLconf includes these pages, the tests add them in front of it.
urlpatterns = list(root_urls.urlpatterns)
if not any(getattr(p, "namespace", None) == "shelters_public" for p in urlpatterns):
    urlpatterns.insert(0, path("", include("machi.shelters.urls_public")))
handler404 = root_urls.handler404
handler403 = root_urls.handler403
handler500 = root_urls.handler500

pytestmark = pytest.mark.urls(__name__)

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)")


def assert_no_inline_script_or_style(page: str) -> None:
    assert not INLINE_SCRIPT.search(page)
    assert " style=" not in page
    assert "<style" not in page


def check_in(opening: Opening, disaster: Disaster, family: str, given: str) -> Person:
    household = services.household_register(
        members=[services.PersonInput(family_name=family, given_name=given)], disaster=disaster
    )
    person = household.members.get()
    services.checkin_create(
        checkin_id=uuid.uuid4(), person=person, disaster=disaster, opening=opening
    )
    return person


def form_data(*members: dict[str, Any], **household: str) -> dict[str, Any]:
    """What the registration form posts: the household, then each member's block."""
    data: dict[str, Any] = {
        "members-TOTAL_FORMS": str(len(members)),
        "members-INITIAL_FORMS": "0",
        "members-MIN_NUM_FORMS": "1",
        "members-MAX_NUM_FORMS": "10",
        "address": "",
        "phone": "",
        "pets": "",
        **household,
    }
    for index, member in enumerate(members):
        data.update({f"members-{index}-{name}": value for name, value in member.items()})
    return data


# --- Status page -----------------------------------------------------------------------------


def test_status_lists_open_shelters_with_crowding_and_no_personal_data(
    client: Client, typhoon: Disaster, open_shelters: list[Opening]
) -> None:
    full, roomy = open_shelters  # capacities 3 and 100
    for n in range(3):
        check_in(full, typhoon, "鳩ヶ谷", f"花子{n}")
    check_in(roomy, typhoon, "秘密", "太郎")

    response = client.get("/shelters/status/", **EN)
    page = response.content.decode()

    assert response.status_code == 200
    for opening in open_shelters:
        facility = opening.shelter.facility
        assert facility.name in page
        assert facility.address in page
        assert f"https://maps.gsi.go.jp/#17/{facility.latitude}/{facility.longitude}/" in page
    assert "crowding--full" in page
    assert "Full" in page
    assert "crowding--vacant" in page
    assert "Space available" in page
    # Who is there is nobody's business on a public page.
    for name in ("鳩ヶ谷", "花子", "秘密", "太郎"):
        assert name not in page
    # Open data, refreshed with and without JavaScript.
    assert 'href="/shelters/status.csv"' in page
    assert 'href="/api/v1/shelters/status"' in page
    assert 'hx-get="/shelters/status/"' in page
    assert 'hx-select="#status-list"' in page
    assert 'hx-trigger="every 30s"' in page
    assert '<noscript><meta http-equiv="refresh" content="60"></noscript>' in page
    assert_no_inline_script_or_style(page)


def test_status_can_show_only_shelters_with_space(
    client: Client, typhoon: Disaster, open_shelters: list[Opening]
) -> None:
    full, roomy = open_shelters
    services.opening_set_full(opening=full, full=True)

    page = client.get("/shelters/status/", {"vacant": "1"}, **EN).content.decode()

    assert roomy.shelter.facility.name in page
    assert full.shelter.facility.name not in page
    assert 'hx-get="/shelters/status/?vacant=1"' in page  # polling keeps the filter


def test_htmx_polls_get_only_the_list(
    client: Client, typhoon: Disaster, open_shelters: list[Opening]
) -> None:
    response = client.get("/shelters/status/", HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert page.count('id="status-list"') == 1
    assert "<html" not in page
    assert "HX-Request" in response["Vary"]


def test_automatic_updates_can_be_stopped(
    client: Client, typhoon: Disaster, open_shelters: list[Opening]
) -> None:
    page = client.get("/shelters/status/", {"auto": "0"}).content.decode()
    assert "hx-trigger" not in page
    assert 'http-equiv="refresh"' not in page
    assert 'href="/shelters/status/"' in page  # the link to turn them back on


def test_in_normal_times_the_status_page_says_so_and_links_the_designated_list(
    client: Client, municipality: Municipality
) -> None:
    response = client.get("/shelters/status/", **EN)
    page = response.content.decode()
    assert response.status_code == 200
    assert "there is no disaster response at the moment" in page
    assert 'href="/shelters/"' in page
    assert 'hx-get="/shelters/status/"' in page  # a declaration shows up on an open page
    assert_no_inline_script_or_style(page)


# --- CSV for open data -----------------------------------------------------------------------


def test_status_csv_is_open_data_with_bom_header_and_one_row_per_open_shelter(
    client: Client, typhoon: Disaster, open_shelters: list[Opening], municipality: Municipality
) -> None:
    services.opening_set_full(opening=open_shelters[0], full=True)

    response = client.get("/shelters/status.csv", HTTP_ACCEPT_LANGUAGE="en")
    body: bytes = response.content

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="112241_shelter_status.csv"'
    assert body.startswith(b"\xef\xbb\xbf")
    lines = body[3:].decode("utf-8").split("\r\n")
    assert lines[0] == (
        "全国地方公共団体コード,ID,名称,所在地_連結表記,緯度,経度,開設状況,混雑状況,更新日時"
    )
    rows = [line.split(",") for line in lines[1:] if line]
    assert len(rows) == 2
    by_name = {row[2]: row for row in rows}
    full = by_name[open_shelters[0].shelter.facility.name]
    roomy = by_name[open_shelters[1].shelter.facility.name]
    assert full[0] == "112241"
    assert full[1] == str(open_shelters[0].shelter_id)
    assert (full[4], full[5]) == ("35.817500", "139.677778")
    assert (full[6], full[7]) == ("開設", "満員")  # Japanese whatever the reader's language
    assert roomy[7] == "空きあり"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+09:00", full[8])


def test_status_csv_in_normal_times_is_the_header_alone(
    client: Client, municipality: Municipality
) -> None:
    lines = client.get("/shelters/status.csv").content[3:].decode().split("\r\n")
    assert lines[0].startswith("全国地方公共団体コード,")
    assert [line for line in lines[1:] if line] == []


# --- Self-registration -------------------------------------------------------------------------


def test_a_household_of_two_registers_and_gets_its_qr_code(
    client: Client, typhoon: Disaster
) -> None:
    first = client.get("/register/")
    assert first.status_code == 200
    assert "no-store" in first["Cache-Control"]
    assert 'name="members-0-family_name"' in first.content.decode()
    assert 'name="members-1-family_name"' not in first.content.decode()

    # Without JavaScript, "add another person" brings the form back with one more block.
    one = form_data({"family_name": "戸田", "given_name": "太郎"}, address="戸田市上戸田1-1-1")
    grown = client.post("/register/", {**one, "add_member": "1"})
    page = grown.content.decode()
    assert grown.status_code == 200
    assert 'name="members-1-family_name"' in page
    assert 'value="戸田"' in page  # what was typed stays
    assert 'value="戸田市上戸田1-1-1"' in page
    assert "error-summary" not in page  # the empty new block is not an error yet
    assert Household.objects.count() == 0

    data = form_data(
        {
            "family_name": "戸田",
            "given_name": "太郎",
            "family_name_kana": "とだ",
            "given_name_kana": "たろう",
            "birth_date": "1980-04-01",
            "sex": "male",
            "language": "ja",
            "consent": ["name", "whereabouts"],
        },
        {
            "family_name": "戸田",
            "given_name": "花子",
            "birth_date": "２０２０年５月６日",  # full-width, as a phone may type it
            "needs": ["infant"],
            "allergies": ["egg", "milk"],
        },
        address="戸田市上戸田1-1-1",
        phone="090-0000-0000",
        pets="小型犬1匹",
    )
    response = client.post("/register/", data)

    household = Household.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/register/{household.code}/"
    assert household.self_registered
    assert household.disaster == typhoon
    assert household.pets == "小型犬1匹"
    taro, hanako = household.members.order_by("created_at", "pk")
    assert (taro.family_name_kana, taro.given_name_kana) == ("トダ", "タロウ")
    assert taro.birth_date == dt.date(1980, 4, 1)
    assert {item for item, given in taro.consent.items() if given} == {"name", "whereabouts"}
    assert hanako.birth_date == dt.date(2020, 5, 6)
    assert (hanako.needs, hanako.allergies) == (["infant"], ["egg", "milk"])
    assert hanako.consent == dict.fromkeys(hanako.consent, False)

    card = client.get(response["Location"], **EN)
    page = card.content.decode()
    assert card.status_code == 200
    assert "no-store" in card["Cache-Control"]
    assert card["Referrer-Policy"] == "no-referrer"
    assert '<svg role="img"' in page
    assert household.code in page
    assert "戸田 太郎" in page
    assert "戸田 花子" in page
    assert "3 needs for care" in page  # a count, never what they are
    assert "Egg" not in page
    assert "Infant" not in page
    assert "1980" not in page
    assert "Registration complete." in page or "登録が完了しました。" in page
    assert_no_inline_script_or_style(page)


def test_blank_blocks_added_by_mistake_are_ignored(client: Client, typhoon: Disaster) -> None:
    data = form_data({"family_name": "戸田"}, {}, {"family_name": "蕨"}, {})
    data["members-INITIAL_FORMS"] = "3"  # blocks kept through "add" count as initial ones
    response = client.post("/register/", data)
    assert response.status_code == 302
    assert sorted(Person.objects.values_list("family_name", flat=True)) == ["戸田", "蕨"]


def test_a_block_with_something_typed_but_no_family_name_is_an_error(
    client: Client, typhoon: Disaster
) -> None:
    data = form_data({"family_name": "戸田"}, {"given_name": "花子"})
    response = client.post("/register/", data, **EN)
    assert response.status_code == 400
    assert "Person 2, Family name: Enter the family name." in response.content.decode()
    assert Household.objects.count() == 0


def test_the_first_person_is_required(client: Client, typhoon: Disaster) -> None:
    response = client.post("/register/", form_data({}), **EN)
    assert response.status_code == 400
    assert "Person 1, Family name: Enter the family name." in response.content.decode()


def test_a_person_can_be_removed_before_registering(client: Client, typhoon: Disaster) -> None:
    data = form_data({"family_name": "戸田"}, {"family_name": "間違"}, {"family_name": "蕨"})
    page = client.post("/register/", {**data, "remove_member": "1"}).content.decode()
    assert 'value="間違"' not in page
    assert re.search(r'name="members-1-family_name"[^>]*value="蕨"', page)
    assert 'name="members-2-family_name"' not in page


def test_an_invalid_member_is_named_in_the_error_summary_and_nothing_is_saved(
    client: Client, typhoon: Disaster
) -> None:
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    data = form_data(
        {"family_name": "戸田", "given_name": "太郎"},
        {"family_name": "戸田", "given_name": "未来", "birth_date": tomorrow.isoformat()},
    )
    response = client.post("/register/", data, **EN)
    page = response.content.decode()

    assert response.status_code == 400
    assert Household.objects.count() == 0
    assert Person.objects.count() == 0
    assert 'class="error-summary"' in page
    assert 'href="#id_members-1-birth_date"' in page
    assert "Person 2, Date of birth: The date of birth is in the future." in page
    assert 'id="id_members-1-birth_date_error"' in page  # the message beside the field too
    assert 'value="未来"' in page  # nothing typed is lost
    assert_no_inline_script_or_style(page)


def test_a_service_error_on_a_member_field_lands_on_that_field(
    client: Client, typhoon: Disaster, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(**kwargs: Any) -> Household:
        raise services.ShelterError("unknown needs: telepathy", field="members[1].needs")

    monkeypatch.setattr(services, "household_register", refuse)
    data = form_data({"family_name": "戸田"}, {"family_name": "戸田", "needs": ["illness"]})
    page = client.post("/register/", data, **EN).content.decode()
    assert 'href="#id_members-1-needs_0"' in page  # the first box of person 2's needs
    assert "Person 2, Needs care or support: Check this entry." in page
    assert "telepathy" not in page  # the service's words are for developers


def test_a_missing_family_name_is_caught_by_the_form(client: Client, typhoon: Disaster) -> None:
    response = client.post("/register/", form_data({"given_name": "太郎"}), **EN)
    assert response.status_code == 400
    assert 'href="#id_members-0-family_name"' in response.content.decode()
    assert "Enter the family name." in response.content.decode()


def test_enter_in_a_field_registers_rather_than_removes(client: Client, typhoon: Disaster) -> None:
    data = form_data({"family_name": "戸田"}, {"family_name": "蕨"})
    page = client.post("/register/", {**data, "add_member": "1"}).content.decode()
    form = page[page.index('<form class="register-form"') :]
    first_button = re.search(r"<button[^>]*>", form)
    assert first_button is not None
    assert "name=" not in first_button.group(0)  # the implicit submission is a plain submit


def test_registration_needs_a_csrf_token(typhoon: Disaster) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post("/register/", form_data({"family_name": "戸田"}))
    assert response.status_code == 403
    assert Household.objects.count() == 0


def test_registration_works_in_normal_times_too(client: Client, municipality: Municipality) -> None:
    response = client.post("/register/", form_data({"family_name": "戸田"}))
    assert response.status_code == 302
    assert Household.objects.get().disaster is None


# --- A household sees only its own registration -------------------------------------------------


def test_a_code_shows_only_its_own_household(client: Client, typhoon: Disaster) -> None:
    ours = services.household_register(
        members=[services.PersonInput(family_name="戸田", given_name="太郎")],
        disaster=typhoon,
        self_registered=True,
    )
    services.household_register(
        members=[services.PersonInput(family_name="蕨", given_name="次郎")],
        disaster=typhoon,
        self_registered=True,
    )
    page = client.get(f"/register/{ours.code}/").content.decode()
    assert "戸田 太郎" in page
    assert "蕨" not in page
    assert "次郎" not in page


def test_an_unknown_code_is_not_found(client: Client, typhoon: Disaster) -> None:
    assert client.get("/register/not-a-real-code/").status_code == 404


# --- Rate limit --------------------------------------------------------------------------------


def test_too_many_registrations_from_one_address_get_a_clear_429(
    client: Client, typhoon: Disaster, settings: Any
) -> None:
    settings.MACHI_REGISTER_RATE_LIMIT = 2
    for n in range(2):
        assert client.post("/register/", form_data({"family_name": f"戸田{n}"})).status_code == 302

    response = client.post("/register/", form_data({"family_name": "戸田3"}), **EN)

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "Too many registrations" in response.content.decode()
    assert Household.objects.count() == 2
    assert_no_inline_script_or_style(response.content.decode())
    # Another address is not held back.
    other = client.post("/register/", form_data({"family_name": "蕨"}), REMOTE_ADDR="192.0.2.9")
    assert other.status_code == 302


def test_before_any_shelter_opens_the_page_says_to_check_again(
    client: Client, typhoon: Disaster
) -> None:
    page = client.get("/shelters/status/", **EN).content.decode()  # openings still preparing
    assert "No shelter has opened yet." in page
    assert "shelter-card" not in page
