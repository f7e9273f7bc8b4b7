"""Pages in Japanese first, in English on request, working without JavaScript."""

import re

from django.test import Client

from machi.core.models import Facility, Municipality, User


def test_portal_home_is_japanese_by_default(client: Client, municipality: Municipality) -> None:
    response = client.get("/")
    page = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="ja">' in page
    assert '<span lang="ja">戸田市</span> デジタル市役所' in page
    assert 'href="#main"' in page  # skip link
    assert '<main id="main"' in page


def test_the_language_switch_is_a_plain_form(client: Client, municipality: Municipality) -> None:
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert response.status_code == 302
    page = client.get("/").content.decode()
    assert '<html lang="en">' in page
    assert "Toda" in page or "digital city hall" in page
    client.post("/i18n/setlang/", {"language": "ja", "next": "/"})
    assert '<html lang="ja">' in client.get("/").content.decode()


def test_shelter_list_shows_public_data_with_credit(
    client: Client, facilities: list[Facility]
) -> None:
    page = client.get("/shelters/").content.decode()
    for facility in facilities:
        assert facility.name in page
    assert "出典：国土地理院" in page


def test_no_page_has_inline_script_or_style(
    client: Client, hq: User, facilities: list[Facility]
) -> None:
    client.force_login(hq)
    for url in ("/", "/shelters/", "/console/", "/console/facilities/", "/console/login/"):
        page = client.get(url).content.decode()
        # External scripts only; JSON data blocks (json_script) are not executed.
        assert not re.search(r'<script(?![^>]*\b(src=|type="application/json"))', page), url
        assert " style=" not in page, url
        assert "<style" not in page, url


def test_console_facility_search(client: Client, hq: User, facilities: list[Facility]) -> None:
    client.force_login(hq)
    response = client.get("/console/facilities/", {"q": facilities[1].name})
    assert [f.pk for f in response.context["page"]] == [facilities[1].pk]


def test_unknown_pages_get_a_friendly_404(client: Client, db: None) -> None:
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "ページが見つかりません" in response.content.decode()
