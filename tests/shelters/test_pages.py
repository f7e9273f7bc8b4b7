"""Shelter staff work at their own desk; HQ sees every shelter; every roster view is logged."""

import uuid
from typing import Any

from django.test import Client

from machi.core.models import AuditEvent, User
from machi.emergency.models import Disaster
from machi.shelters import services
from machi.shelters.models import Checkin, Opening, OpeningStatus, SupplyRequest
from tests.shelters.test_checkin import register


def staff_at(make_staff: Any, opening: Opening) -> User:
    return make_staff("shelter_staff", facilities=[opening.shelter.facility])


def test_shelter_staff_see_only_their_shelter(
    client: Client, make_staff: Any, typhoon: Disaster, open_shelters: list[Opening]
) -> None:
    mine, theirs = open_shelters
    services.checkin_create(
        checkin_id=uuid.uuid4(), person=register("遠藤"), disaster=typhoon, opening=theirs
    )
    client.force_login(staff_at(make_staff, mine))
    index = client.get("/console/shelters/").content.decode()
    assert str(mine.shelter) in index
    assert str(theirs.shelter) not in index
    for url in (
        f"/console/shelters/openings/{theirs.pk}/",
        f"/console/shelters/openings/{theirs.pk}/roster.csv",
        f"/console/shelters/openings/{theirs.pk}/roster.pdf",
        "/console/shelters/dashboard/",
        "/console/shelters/anpi.csv",
    ):
        assert client.get(url).status_code == 403, url
    assert (
        client.post(
            f"/console/shelters/openings/{theirs.pk}/status/", {"status": "closed"}
        ).status_code
        == 403
    )


def test_a_qr_code_checks_the_household_in_and_the_roster_view_is_logged(
    client: Client, make_staff: Any, typhoon: Disaster, open_shelters: list[Opening]
) -> None:
    mine = open_shelters[1]
    staff = staff_at(make_staff, mine)
    household = services.household_register(
        members=[
            services.PersonInput(family_name="戸田", given_name="一郎"),
            services.PersonInput(family_name="戸田", given_name="二郎"),
        ],
        disaster=typhoon,
        self_registered=True,
    )
    client.force_login(staff)
    response = client.post(
        f"/console/shelters/openings/{mine.pk}/checkin/",
        {"code": f"https://city.example/register/{household.code}/"},
        follow=True,
    )
    page = response.content.decode()
    assert "戸田 一郎" in page
    assert "戸田 二郎" in page
    mine.refresh_from_db()
    assert mine.occupancy == 2
    event = AuditEvent.objects.filter(
        actor_username=staff.username, action="read", object_type="shelters.opening"
    ).last()
    assert event is not None
    assert event.detail["roster"] == 2


def test_staff_search_then_check_in_and_out(
    client: Client, make_staff: Any, typhoon: Disaster, open_shelters: list[Opening]
) -> None:
    mine = open_shelters[1]
    person = register("山田", "花子", family_name_kana="やまだ", given_name_kana="はなこ")
    client.force_login(staff_at(make_staff, mine))
    found = client.get(f"/console/shelters/openings/{mine.pk}/", {"q": "ヤマダ"})
    assert found.context["results"] == [person]
    client.post(f"/console/shelters/openings/{mine.pk}/people/{person.pk}/checkin/")
    stay = Checkin.objects.get(person=person)
    client.post(f"/console/shelters/openings/{mine.pk}/checkins/{stay.pk}/checkout/")
    stay.refresh_from_db()
    assert stay.checked_out_at is not None


def test_quick_registration_from_the_desk(
    client: Client, make_staff: Any, typhoon: Disaster, open_shelters: list[Opening]
) -> None:
    mine = open_shelters[1]
    client.force_login(staff_at(make_staff, mine))
    client.post(
        f"/console/shelters/openings/{mine.pk}/register/",
        {"family_name": "佐藤", "given_name": "一", "needs": ["dialysis"], "stay_type": "shelter"},
    )
    stay = Checkin.objects.get(opening=mine)
    assert stay.person.needs == ["dialysis"]
    bad = client.post(
        f"/console/shelters/openings/{mine.pk}/register/",
        {"family_name": "", "stay_type": "shelter"},
        follow=True,
    )
    assert (
        "could not be registered" in bad.content.decode()
        or "登録できません" in bad.content.decode()
    )


def test_hq_dashboard_counts_and_opens_proposed_shelters(
    client: Client,
    hq: User,
    typhoon: Disaster,
    shelters: list[Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    client.force_login(hq)
    response = client.get("/console/shelters/dashboard/")
    assert response.status_code == 200
    board = response.context["board"]
    assert {row.opening.status for row in board.rows} == {OpeningStatus.PREPARING}
    preparing = board.rows[0].opening
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            f"/console/shelters/openings/{preparing.pk}/status/",
            {"status": "open", "next": "dashboard"},
        )
    preparing.refresh_from_db()
    assert preparing.status == OpeningStatus.OPEN
    # The shared two-second dashboard is refreshed by the change, not served stale.
    after = client.get("/console/shelters/dashboard/").context["board"]
    assert {r.opening.pk: r.opening.status for r in after.rows}[preparing.pk] == "open"
    partial = client.get("/console/shelters/dashboard/", HTTP_HX_REQUEST="true")
    assert partial.content.decode().lstrip().startswith('<div id="dashboard"')


def test_supply_requests_go_from_requested_to_delivered(
    client: Client, hq: User, make_staff: Any, typhoon: Disaster, open_shelters: list[Opening]
) -> None:
    mine = open_shelters[1]
    client.force_login(staff_at(make_staff, mine))
    client.post(
        f"/console/shelters/openings/{mine.pk}/supplies/",
        {"category": "water", "item": "2Lペットボトル", "quantity": 48, "unit": "本"},
    )
    request = SupplyRequest.objects.get()
    assert (
        client.post(
            f"/console/shelters/supplies/{request.pk}/advance/", {"status": "approved"}
        ).status_code
        == 403
    )
    client.force_login(hq)
    client.post(f"/console/shelters/supplies/{request.pk}/advance/", {"status": "delivered"})
    request.refresh_from_db()
    assert request.status == "requested"  # no skipping a step
    client.post(f"/console/shelters/supplies/{request.pk}/advance/", {"status": "approved"})
    client.post(f"/console/shelters/supplies/{request.pk}/advance/", {"status": "delivered"})
    request.refresh_from_db()
    assert request.status == "delivered"


def test_roster_exports_are_excel_ready_printable_and_logged(
    client: Client, make_staff: Any, typhoon: Disaster, open_shelters: list[Opening]
) -> None:
    mine = open_shelters[1]
    services.checkin_create(
        checkin_id=uuid.uuid4(),
        person=register("戸田", "花子", needs=["infant"]),
        disaster=typhoon,
        opening=mine,
    )
    staff = staff_at(make_staff, mine)
    client.force_login(staff)
    csv = client.get(f"/console/shelters/openings/{mine.pk}/roster.csv")
    assert csv.content.startswith(b"\xef\xbb\xbf")
    assert "戸田,花子" in csv.content.decode("utf-8-sig")
    pdf = client.get(f"/console/shelters/openings/{mine.pk}/roster.pdf")
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert (
        AuditEvent.objects.filter(
            actor_username=staff.username, action="export", object_type="shelters.person"
        ).count()
        == 2
    )


def test_anpi_list_shows_only_consented_items(
    client: Client, counter: User, typhoon: Disaster, open_shelters: list[Opening]
) -> None:
    consenting = register(
        "公開", "可", consent={"name": True, "whereabouts": True}, birth_date=None
    )
    private = register("非公開", "者")
    for person in (consenting, private):
        services.checkin_create(
            checkin_id=uuid.uuid4(), person=person, disaster=typhoon, opening=open_shelters[1]
        )
    client.force_login(counter)
    text = client.get("/console/shelters/anpi.csv").content.decode("utf-8-sig")
    assert "公開 可" in text
    assert str(open_shelters[1].shelter) in text
    assert "非公開" not in text


def test_staff_move_a_person_to_another_shelter(
    client: Client, make_staff: Any, typhoon: Disaster, open_shelters: list[Opening]
) -> None:
    mine, other = open_shelters
    stay = services.checkin_create(
        checkin_id=uuid.uuid4(), person=register("移動"), disaster=typhoon, opening=mine
    ).checkin
    client.force_login(staff_at(make_staff, mine))
    url = f"/console/shelters/openings/{mine.pk}/checkins/{stay.pk}/transfer/"
    page = client.get(url)
    assert str(other.shelter) in page.content.decode()
    assert client.post(url, {"to": "0"}).status_code == 400
    response = client.post(url, {"to": str(other.pk)})
    assert response.status_code == 302
    assert Checkin.objects.get(person=stay.person, checked_out_at__isnull=True).opening == other
