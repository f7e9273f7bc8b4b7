"""Holes found in review, each closed and kept closed."""

import uuid
from typing import Any

import pytest
from django.test import Client

from machi.core.models import AuditEvent, User
from machi.emergency.models import Disaster
from machi.shelters import services
from machi.shelters.models import Checkin, Opening, OpeningStatus, Person
from tests.core.test_api import bearer
from tests.shelters.test_checkin import register


def staff_at(make_staff: Any, opening: Opening) -> User:
    return make_staff("shelter_staff", facilities=[opening.shelter.facility])


def test_staff_cannot_pull_another_shelters_evacuee_in_by_id(
    client: Client, make_staff: Any, typhoon: Disaster, open_shelters: list[Opening]
) -> None:
    mine, theirs = open_shelters
    person = register("他所", needs=["dialysis"])
    services.checkin_create(
        checkin_id=uuid.uuid4(), person=person, disaster=typhoon, opening=theirs
    )
    staff = staff_at(make_staff, mine)
    client.force_login(staff)
    page = client.post(f"/console/shelters/openings/{mine.pk}/people/{person.pk}/checkin/")
    assert page.status_code == 403
    api = client.post(
        "/api/v1/checkins",
        {"id": str(uuid.uuid4()), "shelter_id": mine.shelter_id, "person_id": str(person.pk)},
        content_type="application/json",
        **bearer(staff),
    )
    assert api.status_code == 403
    car = client.post(
        "/api/v1/checkins",
        {"id": str(uuid.uuid4()), "stay_type": "car", "person_id": str(person.pk)},
        content_type="application/json",
        **bearer(staff),
    )
    assert car.status_code == 403
    assert Checkin.objects.filter(person=person).count() == 1


def test_a_refused_check_in_leaves_no_new_person_behind(
    client: Client, hq: User, typhoon: Disaster, open_shelters: list[Opening]
) -> None:
    body = {"id": str(uuid.uuid4()), "person": {"family_name": "孤立"}, "stay_type": "shelter"}
    for _ in range(3):
        response = client.post(
            "/api/v1/checkins", body, content_type="application/json", **bearer(hq)
        )
        assert response.status_code == 422
    assert not Person.objects.filter(family_name="孤立").exists()


def test_the_audit_log_names_people_by_id_only(
    typhoon: Disaster, open_shelters: list[Opening]
) -> None:
    stay = services.checkin_create(
        checkin_id=uuid.uuid4(),
        person=register("遠藤", "花子"),
        disaster=typhoon,
        opening=open_shelters[1],
    ).checkin
    event = AuditEvent.objects.get(object_type="shelters.checkin", object_id=str(stay.pk))
    assert event.object_repr == ""
    assert "遠藤" not in str(AuditEvent.objects.values_list("object_repr", flat=True))


def test_what_the_responders_did_is_for_hq(
    client: Client, hq: User, counter: User, typhoon: Disaster
) -> None:
    assert client.get("/api/v1/disasters/current").json()["disaster"]["responses"] == []
    assert client.get("/api/v1/disasters", **bearer(counter)).json()[0]["responses"] == []
    assert client.get("/api/v1/disasters", **bearer(hq)).json()[0]["responses"] != []


def test_a_full_shelter_frees_up_even_after_stale_copies(
    typhoon: Disaster, open_shelters: list[Opening]
) -> None:
    opening = open_shelters[0]  # capacity 3
    stale = Opening.objects.get(pk=opening.pk)  # another process's copy: OPEN
    stays = [
        services.checkin_create(
            checkin_id=uuid.uuid4(), person=register(given=str(n)), disaster=typhoon, opening=stale
        ).checkin
        for n in range(3)
    ]
    services.checkout(checkin=stays[0])
    services.checkin_create(
        checkin_id=uuid.uuid4(), person=register(given="x"), disaster=typhoon, opening=stale
    )
    services.checkout(checkin=stays[1])
    opening.refresh_from_db()
    assert (opening.occupancy, opening.status) == (2, OpeningStatus.OPEN)


def test_two_transfers_of_one_stay_leave_one_open_stay(
    typhoon: Disaster, shelters: list[Any], open_shelters: list[Opening]
) -> None:
    third = services.opening_open(shelter=shelters[2], disaster=typhoon)
    stay = services.checkin_create(
        checkin_id=uuid.uuid4(), person=register(), disaster=typhoon, opening=open_shelters[0]
    ).checkin
    old_copy = Checkin.objects.get(pk=stay.pk)
    services.transfer(checkin=stay, to_opening=open_shelters[1], new_id=uuid.uuid4())
    with pytest.raises(services.ShelterError, match="already ended"):
        services.transfer(checkin=old_copy, to_opening=third, new_id=uuid.uuid4())
    assert Checkin.objects.filter(person=stay.person, checked_out_at__isnull=True).count() == 1


def test_supply_advance_does_not_redirect_off_site(
    client: Client, hq: User, typhoon: Disaster, open_shelters: list[Opening]
) -> None:
    request = services.supply_request(
        opening=open_shelters[0], category="water", item="水", quantity=1
    )
    client.force_login(hq)
    response = client.post(
        f"/console/shelters/supplies/{request.pk}/advance/",
        {"status": "approved", "next_url": "https://evil.example/"},
    )
    assert response["Location"] == "/console/shelters/supplies/"


def test_odd_numbers_in_urls_are_not_errors(client: Client, hq: User, typhoon: Disaster) -> None:
    client.force_login(hq)
    for url in (
        "/console/shelters/dashboard/?disaster=²",
        "/console/shelters/?disaster=99999999999999999999",
    ):
        assert client.get(url).status_code in {200, 302}


def test_staff_stop_finding_people_who_moved_to_another_shelter(
    make_staff: Any, typhoon: Disaster, open_shelters: list[Opening]
) -> None:
    from machi.shelters import selectors

    mine, theirs = open_shelters
    staff = staff_at(make_staff, mine)
    person = register("移動", family_name_kana="いどう")
    stay = services.checkin_create(
        checkin_id=uuid.uuid4(), person=person, disaster=typhoon, opening=mine
    ).checkin
    assert selectors.persons_search(staff, query="イドウ") == [person]
    services.transfer(checkin=stay, to_opening=theirs, new_id=uuid.uuid4())
    assert selectors.persons_search(staff, query="イドウ") == []


def test_a_shelter_cannot_open_for_a_disaster_that_ended(
    hq: User, typhoon: Disaster, shelters: list[Any]
) -> None:
    Disaster.objects.filter(pk=typhoon.pk).update(ended_at=typhoon.started_at)
    with pytest.raises(services.ShelterError, match="ended"):
        services.opening_open(shelter=shelters[0], disaster=typhoon)  # a stale copy: active
