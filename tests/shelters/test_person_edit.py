"""Staff correct a person at their shelter; the 要配慮 counts follow; others' people are refused."""

import uuid
from typing import Any

from django.test import Client

from machi.core.models import AuditEvent
from machi.emergency.models import Disaster
from machi.shelters import selectors, services
from machi.shelters.models import Checkin, Opening
from tests.shelters.test_checkin import register
from tests.shelters.test_pages import staff_at


def test_a_need_found_at_the_shelter_reaches_hqs_counts(
    client: Client, make_staff: Any, typhoon: Disaster, open_shelters: list[Opening]
) -> None:
    mine = open_shelters[0]
    person = register("山田")
    services.checkin_create(checkin_id=uuid.uuid4(), person=person, disaster=typhoon, opening=mine)
    assert selectors.hq_dashboard(typhoon).needs == 0
    client.force_login(staff_at(make_staff, mine))
    url = f"/console/shelters/openings/{mine.pk}/people/{person.pk}/edit/"
    assert client.get(url).status_code == 200
    response = client.post(
        url,
        {"family_name": "山田", "given_name": "花子", "needs": ["dialysis"], "allergies": ["egg"]},
    )
    assert response.status_code == 302, response.content.decode()
    person.refresh_from_db()
    assert person.given_name == "花子"
    assert person.needs == ["dialysis"]
    assert Checkin.objects.get(person=person).needs_care is True
    assert selectors.hq_dashboard(typhoon).needs == 1
    event = AuditEvent.objects.filter(object_id=str(person.pk), action="update").get()
    assert set(event.detail["fields"]) >= {"given_name", "needs", "allergies"}
    assert "dialysis" not in str(event.detail)  # which fields, never their health values


def test_a_bad_field_is_named_and_nothing_changes(
    client: Client, make_staff: Any, typhoon: Disaster, open_shelters: list[Opening]
) -> None:
    mine = open_shelters[0]
    person = register("佐藤")
    services.checkin_create(checkin_id=uuid.uuid4(), person=person, disaster=typhoon, opening=mine)
    client.force_login(staff_at(make_staff, mine))
    response = client.post(
        f"/console/shelters/openings/{mine.pk}/people/{person.pk}/edit/",
        {"family_name": "", "needs": ["not-a-need"]},
    )
    assert response.status_code == 400
    person.refresh_from_db()
    assert person.family_name == "佐藤"


def test_staff_cannot_edit_someone_at_another_shelter(
    client: Client, make_staff: Any, typhoon: Disaster, open_shelters: list[Opening]
) -> None:
    mine, theirs = open_shelters
    person = register("鈴木")
    services.checkin_create(
        checkin_id=uuid.uuid4(), person=person, disaster=typhoon, opening=theirs
    )
    client.force_login(staff_at(make_staff, mine))
    for url in (
        f"/console/shelters/openings/{mine.pk}/people/{person.pk}/edit/",
        f"/console/shelters/openings/{theirs.pk}/people/{person.pk}/edit/",
    ):
        assert client.get(url).status_code == 403, url
        assert client.post(url, {"family_name": "x"}).status_code == 403, url
    person.refresh_from_db()
    assert person.family_name == "鈴木"
