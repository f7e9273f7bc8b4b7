"""Check-in and check-out: counted once, replay-safe, flagged when a person is in two places."""

import uuid
from typing import Any

import pytest
from django.test import Client

from machi.core.models import User
from machi.emergency.models import Disaster
from machi.shelters import services
from machi.shelters.models import Checkin, CheckinEvent, Opening, OpeningStatus, Person
from tests.core.test_api import bearer


def register(family: str = "戸田", given: str = "太郎", **kw: Any) -> Person:
    household = services.household_register(
        members=[services.PersonInput(family_name=family, given_name=given, **kw)], disaster=None
    )
    return household.members.get()


def test_two_hundred_people_check_in_and_occupancy_counts_each_once(
    typhoon: Disaster, open_shelters: list[Opening]
) -> None:
    opening = open_shelters[1]  # capacity 100
    people = [register(given=f"{n}") for n in range(120)]
    for person in people:
        services.checkin_create(
            checkin_id=uuid.uuid4(), person=person, disaster=typhoon, opening=opening
        )
    services.checkin_create(
        checkin_id=uuid.uuid4(), person=people[0], disaster=typhoon, opening=opening
    )  # the same person again at the same shelter: nothing new
    opening.refresh_from_db()
    assert opening.occupancy == 120
    assert opening.status == OpeningStatus.FULL  # automatic at capacity
    assert services.opening_recount(opening=opening) == 120


def test_full_reverts_when_people_leave(typhoon: Disaster, open_shelters: list[Opening]) -> None:
    opening = open_shelters[0]  # capacity 3
    stays = [
        services.checkin_create(
            checkin_id=uuid.uuid4(),
            person=register(given=str(n)),
            disaster=typhoon,
            opening=opening,
        ).checkin
        for n in range(3)
    ]
    opening.refresh_from_db()
    assert opening.status == OpeningStatus.FULL
    services.checkout(checkin=stays[0])
    services.checkout(checkin=stays[0])  # twice: counted once
    opening.refresh_from_db()
    assert (opening.occupancy, opening.status) == (2, OpeningStatus.OPEN)
    kinds = list(CheckinEvent.objects.filter(checkin=stays[0]).values_list("kind", flat=True))
    assert kinds == ["in", "out"]


def test_the_same_person_at_two_shelters_is_flagged(
    typhoon: Disaster, open_shelters: list[Opening]
) -> None:
    person = register()
    first = services.checkin_create(
        checkin_id=uuid.uuid4(), person=person, disaster=typhoon, opening=open_shelters[0]
    )
    second = services.checkin_create(
        checkin_id=uuid.uuid4(), person=person, disaster=typhoon, opening=open_shelters[1]
    )
    first.checkin.refresh_from_db()
    second.checkin.refresh_from_db()
    assert first.checkin.conflict
    assert second.checkin.conflict
    assert second.checkin.stay_type == "shelter"


def test_transfer_moves_the_person_with_one_history(
    typhoon: Disaster, open_shelters: list[Opening]
) -> None:
    person = register()
    stay = services.checkin_create(
        checkin_id=uuid.uuid4(), person=person, disaster=typhoon, opening=open_shelters[0]
    ).checkin
    moved = services.transfer(checkin=stay, to_opening=open_shelters[1], new_id=uuid.uuid4())
    assert moved.checkin.opening == open_shelters[1]
    assert not moved.checkin.conflict
    counts = dict(Opening.objects.filter(disaster=typhoon).values_list("pk", "occupancy"))
    assert counts[open_shelters[0].pk] == 0
    assert counts[open_shelters[1].pk] == 1
    assert list(stay.events.values_list("kind", flat=True)) == ["in", "out", "transfer"]


def test_a_preparing_shelter_takes_no_one(typhoon: Disaster, shelters: list[Any]) -> None:
    opening = Opening.objects.get(disaster=typhoon, shelter=shelters[0])
    assert opening.status == OpeningStatus.PREPARING
    with pytest.raises(services.ShelterError, match="not open"):
        services.checkin_create(
            checkin_id=uuid.uuid4(), person=register(), disaster=typhoon, opening=opening
        )


def test_people_staying_in_cars_are_counted_without_a_shelter(typhoon: Disaster) -> None:
    result = services.checkin_create(
        checkin_id=uuid.uuid4(), person=register(), disaster=typhoon, opening=None, stay_type="car"
    )
    assert result.checkin.opening is None
    with pytest.raises(services.ShelterError, match="needs the shelter"):
        services.checkin_create(
            checkin_id=uuid.uuid4(), person=register(), disaster=typhoon, opening=None
        )


def test_registration_is_all_or_nothing_and_names_the_field(typhoon: Disaster) -> None:
    with pytest.raises(services.ShelterError) as info:
        services.household_register(
            members=[
                services.PersonInput(family_name="戸田"),
                services.PersonInput(family_name="戸田", needs=["telepathy"]),
            ],
            disaster=typhoon,
        )
    assert info.value.field == "members[1].needs"
    assert not Person.objects.exists()


def test_kana_is_stored_as_katakana_and_searchable(hq: User) -> None:
    from machi.shelters import selectors

    person = register(family_name_kana="とだ", given_name_kana="たろう")
    assert (person.family_name_kana, person.given_name_kana) == ("トダ", "タロウ")
    assert selectors.persons_search(hq, query="トダタ") == [person]
    assert selectors.persons_search(hq, query="ﾄﾀﾞ") == [person]


# --- through the API ---------------------------------------------------------------------------


def post_checkin(client: Client, user: User, **payload: Any) -> Any:
    return client.post("/api/v1/checkins", payload, content_type="application/json", **bearer(user))


def test_api_checkin_is_idempotent_by_client_id(
    client: Client, hq: User, typhoon: Disaster, open_shelters: list[Opening]
) -> None:
    shelter_id = open_shelters[1].shelter_id
    key = str(uuid.uuid4())
    person = {"family_name": "戸田", "given_name": "花子", "birth_date": "1950-04-01"}
    first = post_checkin(client, hq, id=key, shelter_id=shelter_id, person=person)
    assert first.status_code == 201, first.content
    replay = post_checkin(client, hq, id=key, shelter_id=shelter_id, person=person)
    assert replay.status_code == 200
    assert replay.json() == first.json()
    assert Checkin.objects.count() == 1
    assert Person.objects.count() == 1
    out = client.post(f"/api/v1/checkins/{key}/checkout", **bearer(hq))
    assert out.status_code == 200
    assert out.json()["checked_out_at"] is not None


def test_api_household_checkin_by_qr_code(
    client: Client, hq: User, typhoon: Disaster, open_shelters: list[Opening]
) -> None:
    household = services.household_register(
        members=[
            services.PersonInput(family_name="戸田"),
            services.PersonInput(family_name="戸田"),
        ],
        disaster=None,
        self_registered=True,
    )
    key = str(uuid.uuid4())
    shelter_id = open_shelters[1].shelter_id
    response = post_checkin(
        client, hq, id=key, shelter_id=shelter_id, household_code=household.code
    )
    assert response.status_code == 201
    assert len(response.json()["checkins"]) == 2
    again = post_checkin(client, hq, id=key, shelter_id=shelter_id, household_code=household.code)
    assert again.status_code == 200
    assert Checkin.objects.count() == 2


def test_api_errors_name_the_field(
    client: Client, hq: User, typhoon: Disaster, open_shelters: list[Opening]
) -> None:
    key = str(uuid.uuid4())
    both = post_checkin(client, hq, id=key, shelter_id=open_shelters[0].shelter_id)
    assert both.status_code == 422
    assert both.json()["errors"][0]["field"] == "body.payload.person_id"
    unknown = post_checkin(client, hq, id=key, shelter_id=999, person={"family_name": "x"})
    assert unknown.json()["errors"][0]["field"] == "body.payload.shelter_id"
    bad_id = post_checkin(client, hq, id="not-a-uuid", person={"family_name": "x"})
    assert bad_id.json()["errors"][0]["field"] == "body.payload.id"


def test_shelter_staff_cannot_check_in_at_or_read_another_shelter(
    client: Client, make_staff: Any, typhoon: Disaster, open_shelters: list[Opening]
) -> None:
    mine, theirs = open_shelters[0], open_shelters[1]
    staff = make_staff("shelter_staff", facilities=[mine.shelter.facility])
    denied = post_checkin(
        client,
        staff,
        id=str(uuid.uuid4()),
        shelter_id=theirs.shelter_id,
        person={"family_name": "x"},
    )
    assert denied.status_code == 403
    stay = services.checkin_create(
        checkin_id=uuid.uuid4(), person=register(), disaster=typhoon, opening=theirs
    ).checkin
    assert client.post(f"/api/v1/checkins/{stay.pk}/checkout", **bearer(staff)).status_code == 403
    ok = post_checkin(
        client, staff, id=str(uuid.uuid4()), shelter_id=mine.shelter_id, person={"family_name": "y"}
    )
    assert ok.status_code == 201


def test_shelter_list_and_public_status(
    client: Client, hq: User, typhoon: Disaster, open_shelters: list[Opening]
) -> None:
    listing = client.get("/api/v1/shelters", **bearer(hq)).json()
    assert sorted(s["status"] for s in listing) == ["not_open", "open", "open"]
    status = client.get("/api/v1/shelters/status").json()
    assert len(status) == 2
    assert set(status[0]) == {
        "shelter_id", "name", "address", "latitude", "longitude", "status", "crowding",
        "crowding_label", "updated_at",
    }  # fmt: skip


def test_open_and_close_through_the_api(
    client: Client, hq: User, typhoon: Disaster, shelters: list[Any]
) -> None:
    url = f"/api/v1/shelters/{shelters[0].pk}"
    opened = client.post(
        url + "/open", {"disaster_id": typhoon.pk}, content_type="application/json", **bearer(hq)
    )
    assert opened.json()["status"] == "open"
    closed = client.post(
        url + "/close", {"disaster_id": typhoon.pk}, content_type="application/json", **bearer(hq)
    )
    assert closed.json()["status"] == "closed"


def test_a_shelter_check_in_replaces_a_stay_in_a_car(
    typhoon: Disaster, open_shelters: list[Opening]
) -> None:
    person = register()
    car = services.checkin_create(
        checkin_id=uuid.uuid4(), person=person, disaster=typhoon, opening=None, stay_type="car"
    ).checkin
    services.checkin_create(
        checkin_id=uuid.uuid4(), person=person, disaster=typhoon, opening=open_shelters[1]
    )
    car.refresh_from_db()
    assert car.checked_out_at is not None
    assert Checkin.objects.filter(person=person, checked_out_at__isnull=True).count() == 1


def test_a_car_stay_while_at_a_shelter_is_flagged(
    typhoon: Disaster, open_shelters: list[Opening]
) -> None:
    person = register()
    services.checkin_create(
        checkin_id=uuid.uuid4(), person=person, disaster=typhoon, opening=open_shelters[1]
    )
    car = services.checkin_create(
        checkin_id=uuid.uuid4(), person=person, disaster=typhoon, opening=None, stay_type="car"
    ).checkin
    assert car.conflict
    assert Checkin.objects.filter(person=person, conflict=True).count() == 2


def test_a_full_marked_by_hand_stays_full_when_someone_leaves(
    typhoon: Disaster, open_shelters: list[Opening]
) -> None:
    opening = open_shelters[0]  # capacity 3
    stays = [
        services.checkin_create(
            checkin_id=uuid.uuid4(),
            person=register(given=str(n)),
            disaster=typhoon,
            opening=opening,
        ).checkin
        for n in range(3)
    ]
    services.checkout(checkin=stays[0])
    opening.refresh_from_db()
    assert opening.status == OpeningStatus.OPEN
    services.opening_set_full(opening=opening, full=True)
    services.checkout(checkin=stays[1])
    opening.refresh_from_db()
    assert opening.status == OpeningStatus.FULL


def test_supply_categories_are_checked_by_the_service(
    typhoon: Disaster, open_shelters: list[Opening]
) -> None:
    with pytest.raises(services.ShelterError, match="category"):
        services.supply_request(opening=open_shelters[0], category="nonsense", item="x", quantity=1)


def test_the_evacuee_list_api_is_for_hq_and_that_shelter_only(
    client: Client, hq: User, make_staff: Any, typhoon: Disaster, open_shelters: list[Opening]
) -> None:
    from machi.core.models import AuditEvent

    mine, theirs = open_shelters
    services.checkin_create(
        checkin_id=uuid.uuid4(),
        person=register("山田", needs=["dialysis"]),
        disaster=typhoon,
        opening=theirs,
    )
    other_staff = make_staff("shelter_staff", facilities=[mine.shelter.facility])
    url = f"/api/v1/shelters/{theirs.shelter_id}/evacuees"
    assert client.get(url, **bearer(other_staff)).status_code == 403
    listed = client.get(url, **bearer(hq))
    assert listed.status_code == 200
    assert [(p["family_name"], p["needs"]) for p in listed.json()] == [("山田", ["dialysis"])]
    assert (
        AuditEvent.objects.filter(
            actor_username="hq", object_type="shelters.person", action="read"
        ).count()
        == 1
    )


def test_presence_by_day_and_night(typhoon: Disaster, open_shelters: list[Opening]) -> None:
    import datetime as dt

    from django.utils import timezone

    from machi.shelters import selectors

    opening = open_shelters[1]
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    at = timezone.make_aware(dt.datetime.combine(yesterday, dt.time(9)))
    opening.opened_at = at
    opening.save()
    stayed = services.checkin_create(
        checkin_id=uuid.uuid4(), person=register("昼"), disaster=typhoon, opening=opening, at=at
    ).checkin
    services.checkout(checkin=stayed, at=at + dt.timedelta(hours=10))  # left at 19:00
    services.checkin_create(
        checkin_id=uuid.uuid4(), person=register("夜"), disaster=typhoon, opening=opening,
        at=at + dt.timedelta(hours=12),
    )  # fmt: skip
    first = selectors.presence_by_day_night(opening)[0]
    assert (first.day, first.noon, first.midnight) == (yesterday, 1, 1)


def test_transfer_through_the_api_is_replay_safe(
    client: Client, hq: User, typhoon: Disaster, open_shelters: list[Opening]
) -> None:
    stay = services.checkin_create(
        checkin_id=uuid.uuid4(), person=register(), disaster=typhoon, opening=open_shelters[0]
    ).checkin
    body = {"id": str(uuid.uuid4()), "shelter_id": open_shelters[1].shelter_id}
    url = f"/api/v1/checkins/{stay.pk}/transfer"
    first = client.post(url, body, content_type="application/json", **bearer(hq))
    assert first.status_code == 201
    assert first.json()["shelter_id"] == open_shelters[1].shelter_id
    again = client.post(url, body, content_type="application/json", **bearer(hq))
    assert again.status_code == 200
    assert Checkin.objects.filter(person=stay.person).count() == 2


@pytest.mark.django_db
def test_the_histories_are_append_only_in_the_database(
    typhoon: Disaster, open_shelters: list[Opening]
) -> None:
    from django.db import DatabaseError, connection, transaction

    from machi.core import append_only

    services.checkin_create(
        checkin_id=uuid.uuid4(), person=register(), disaster=typhoon, opening=open_shelters[0]
    )
    with connection.cursor() as cursor:
        for table in ("shelters_openingevent", "shelters_checkinevent"):
            for sql in append_only.statements(connection.vendor, table):
                cursor.execute(sql)
            changes = (f"UPDATE {table} SET at = at", f"DELETE FROM {table}")  # noqa: S608
            for change in changes:
                with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
                    cursor.execute(change)
