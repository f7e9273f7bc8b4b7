"""The offline shelter console: what a tablet recorded while the server was out of reach
arrives later, maybe twice, maybe in pieces, and is recorded once, at the time it happened.

Given a city with two open shelters and their staff, when a device sends its operations (and
sends them again because the answer was lost), then every person, stay and check-out exists
once; a person also present elsewhere, or a stay ended elsewhere meanwhile, is a conflict
for HQ, never settled silently; what cannot be recorded is answered as such, not dropped.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from machi.core.models import User
from machi.emergency.models import ChronologyEntry, Disaster
from machi.shelters import offline, selectors, services
from machi.shelters.models import Checkin, CheckinEvent, Household, Opening, Person

SYNC = "/api/v1/openings/{}/offline-sync"


# --- The city ----------------------------------------------------------------------------------


@pytest.fixture
def here(open_shelters: list[Opening]) -> Opening:
    """The shelter the device is at, opened six hours ago."""
    opened = timezone.now() - dt.timedelta(hours=6)
    Opening.objects.filter(pk=open_shelters[0].pk).update(opened_at=opened)
    return Opening.objects.select_related("shelter", "disaster").get(pk=open_shelters[0].pk)


@pytest.fixture
def elsewhere(open_shelters: list[Opening]) -> Opening:
    return open_shelters[1]


@pytest.fixture
def staff(shelter_staff: User) -> User:
    return shelter_staff  # works at the first facility: the first shelter


@pytest.fixture
def send(client_for: Callable[[User], Client], staff: User) -> Callable[..., Any]:
    client = client_for(staff)

    def post(opening: Opening, *operations: dict[str, Any], status: int = 200) -> Any:
        response = client.post(
            SYNC.format(opening.pk),
            {"operations": list(operations)},
            content_type="application/json",
        )
        assert response.status_code == status, response.content
        return response.json()

    return post


def minutes_ago(n: int) -> str:
    return (timezone.now() - dt.timedelta(minutes=n)).isoformat()


def register(
    family: str, given: str = "", *, at: str | None = None, **person: Any
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "kind": "register",
        "checkin_id": str(uuid.uuid4()),
        "at": at or minutes_ago(30),
        "person": {"family_name": family, "given_name": given, **person},
        "device": "tablet-1",
    }


def on_stay(kind: str, checkin_id: str, *, at: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "kind": kind,
        "checkin_id": checkin_id,
        "at": at or minutes_ago(10),
        **extra,
    }


def outcomes(answer: Any) -> list[tuple[str, bool, str]]:
    return [(o["status"], o["replayed"], o["conflict"]) for o in answer["outcomes"]]


def present_stay(opening: Opening, family: str = "戸田", **kw: Any) -> Checkin:
    household = services.household_register(
        members=[services.PersonInput(family_name=family, **kw)], disaster=opening.disaster
    )
    return services.checkin_create(
        checkin_id=uuid.uuid4(),
        person=household.members.get(),
        disaster=opening.disaster,
        opening=opening,
    ).checkin


# --- Nothing lost, nothing twice ---------------------------------------------------------------


def test_an_evening_offline_is_recorded_once_however_often_it_is_sent(
    here: Opening, send: Callable[..., Any]
) -> None:
    first, second = register("避難", "一郎", needs=["illness"]), register("避難", "花子")
    leaves = on_stay("checkout", first["checkin_id"], at=minutes_ago(5))
    noted = on_stay("needs", second["checkin_id"], needs_added=["pregnancy"])
    batch = [first, second, leaves, noted]

    answer = send(here, *batch)
    assert outcomes(answer) == [("done", False, "")] * 4
    # The answer was lost on the way: the device sends everything again, twice.
    for _ in range(2):
        assert outcomes(send(here, *batch)) == [("done", True, "")] * 4

    people = Person.objects.filter(family_name="避難")
    assert sorted(p.given_name for p in people) == ["一郎", "花子"]  # each once
    stays = Checkin.objects.filter(person__in=people)
    assert {str(s.pk) for s in stays} == {first["checkin_id"], second["checkin_id"]}
    left = stays.get(pk=first["checkin_id"])
    # The times are the device's: when the person came and left, not when the server heard.
    assert left.checked_in_at == dt.datetime.fromisoformat(first["at"])
    assert left.checked_out_at == dt.datetime.fromisoformat(leaves["at"])
    assert left.device == "offline:tablet-1"
    assert CheckinEvent.objects.filter(checkin=left).count() == 2  # in, out: once each
    assert people.get(given_name="花子").needs == ["pregnancy"]
    here.refresh_from_db()
    assert here.occupancy == 1


def test_the_existing_api_registers_a_person_once_when_a_check_in_is_replayed(
    here: Opening, client_for: Callable[[User], Client], staff: User
) -> None:
    """POST /api/v1/checkins with a new person, sent twice: one person, one stay."""
    client = client_for(staff)
    payload = {
        "id": str(uuid.uuid4()),
        "shelter_id": here.shelter_id,
        "disaster_id": here.disaster_id,
        "person": {"family_name": "再送"},
    }
    first = client.post("/api/v1/checkins", payload, content_type="application/json")
    again = client.post("/api/v1/checkins", payload, content_type="application/json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert Person.objects.filter(family_name="再送").count() == 1
    assert Checkin.objects.filter(person__family_name="再送").count() == 1


def test_a_device_clock_cannot_write_the_future_or_before_the_opening(
    here: Opening, send: Callable[..., Any]
) -> None:
    early = register("早い", at=(here.opened_at - dt.timedelta(days=2)).isoformat())  # type: ignore[operator]
    future = register("未来", at=(timezone.now() + dt.timedelta(hours=3)).isoformat())
    before_arrival = on_stay(
        "checkout", future["checkin_id"], at=(timezone.now() - dt.timedelta(days=1)).isoformat()
    )
    before = timezone.now()
    send(here, early, future, before_arrival)
    after = timezone.now()

    assert Checkin.objects.get(pk=early["checkin_id"]).checked_in_at == here.opened_at
    stay = Checkin.objects.get(pk=future["checkin_id"])
    assert before <= stay.checked_in_at <= after
    assert stay.checked_out_at == stay.checked_in_at  # never before the arrival


def test_a_household_registered_on_a_phone_is_checked_in_offline_by_its_code(
    here: Opening, send: Callable[..., Any]
) -> None:
    household = services.household_register(
        members=[
            services.PersonInput(family_name="戸田"),
            services.PersonInput(family_name="戸田"),
        ],
        disaster=None,
        self_registered=True,
    )
    scanned = on_stay(
        "checkin_code", str(uuid.uuid4()), code=f"https://city.example/r/{household.code}/"
    )

    assert outcomes(send(here, scanned)) == [("done", False, "")]
    assert outcomes(send(here, scanned)) == [("done", True, "")]  # replayed: nothing new
    stays = Checkin.objects.filter(person__household=household)
    assert stays.count() == 2
    assert {s.source for s in stays} == {"qr"}
    here.refresh_from_db()
    assert here.occupancy == 2


# --- Conflicts go to HQ ---------------------------------------------------------------------


def test_a_person_checked_in_offline_while_present_elsewhere_is_flagged_for_hq(
    here: Opening, elsewhere: Opening, send: Callable[..., Any], typhoon: Disaster
) -> None:
    there = present_stay(elsewhere, "二重")
    code = Household.objects.get(members=there.person).code
    scanned = on_stay("checkin_code", str(uuid.uuid4()), code=code)

    answer = send(here, scanned)
    assert outcomes(answer) == [("done", False, "two_shelters")]
    assert outcomes(send(here, scanned)) == [("done", True, "two_shelters")]

    assert Checkin.objects.filter(person=there.person, conflict=True).count() == 2
    assert selectors.hq_dashboard(typhoon).conflicts == 2
    lines = ChronologyEntry.objects.filter(important=True, text__contains="他の避難所にも滞在中")
    assert lines.count() == 1  # told once, not at the replay
    assert "二重" not in lines.get().text  # no names in the chronology


def test_a_check_out_of_a_stay_ended_elsewhere_meanwhile_goes_to_hq(
    here: Opening, elsewhere: Opening, send: Callable[..., Any], hq: User
) -> None:
    stay = present_stay(here, "移動")
    # While the shelter is offline, HQ moves the person to the other shelter …
    services.transfer(checkin=stay, to_opening=elsewhere, new_id=uuid.uuid4())
    ended = Checkin.objects.get(pk=stay.pk).checked_out_at
    # … and the shelter's tablet, which saw the person leave, records a check-out.
    leaves = on_stay("checkout", str(stay.pk), at=minutes_ago(1))

    assert outcomes(send(here, leaves)) == [("done", False, "already_ended")]
    assert outcomes(send(here, leaves)) == [("done", False, "already_ended")]

    stay.refresh_from_db()
    assert stay.checked_out_at == ended  # the first end stands
    assert stay.conflict  # and the stay is marked for HQ
    lines = ChronologyEntry.objects.filter(important=True, text__contains="他で退所済み")
    assert lines.count() == 1
    assert lines.get().object_id == str(stay.pk)
    assert CheckinEvent.objects.filter(checkin=stay, kind="out").count() == 1


def test_needs_noted_offline_keep_what_others_recorded_meanwhile(
    here: Opening, send: Callable[..., Any]
) -> None:
    stay = present_stay(here, "配慮", needs=["illness"])
    # Meanwhile, at the usual desk, someone notes an infant.
    services.person_update(
        person=stay.person,
        data=services.PersonInput(family_name="配慮", needs=["illness", "infant"]),
    )
    noted = on_stay("needs", str(stay.pk), needs_added=["dialysis"], needs_removed=["illness"])

    assert outcomes(send(here, noted)) == [("done", False, "")]
    assert outcomes(send(here, noted)) == [("done", True, "")]
    stay.person.refresh_from_db()
    assert stay.person.needs == ["dialysis", "infant"]
    assert Checkin.objects.get(pk=stay.pk).needs_care


# --- What cannot be recorded is said, not dropped -----------------------------------------------


def test_what_cannot_be_recorded_is_answered_per_operation(
    here: Opening, elsewhere: Opening, send: Callable[..., Any]
) -> None:
    blank = register("　 ")  # a full-width space: no family name once normalised
    nobody = on_stay("checkout", str(uuid.uuid4()))
    not_here = on_stay("checkout", str(present_stay(elsewhere, "他所").pk))
    unknown_code = on_stay("checkin_code", str(uuid.uuid4()), code="no-such-code")
    fine = register("記録")

    answer = send(here, blank, nobody, not_here, unknown_code, fine)
    statuses = [(o["status"], o["field"]) for o in answer["outcomes"]]
    assert statuses == [
        ("failed", "members[0].family_name"),
        ("failed", "checkin_id"),
        ("failed", "checkin_id"),
        ("failed", "code"),
        ("done", ""),
    ]
    assert all(o["message"] for o in answer["outcomes"][:4])
    assert Person.objects.filter(family_name="記録").count() == 1


def test_a_closed_shelter_refuses_new_arrivals_but_takes_departures(
    here: Opening, send: Callable[..., Any]
) -> None:
    stay = present_stay(here, "閉鎖")
    services.opening_close(opening=here)
    answer = send(here, register("遅着"), on_stay("checkout", str(stay.pk)))
    assert [o["status"] for o in answer["outcomes"]] == ["failed", "done"]
    assert "not open" in answer["outcomes"][0]["message"]


def test_an_operation_that_must_wait_holds_back_the_later_ones_on_its_stay(
    here: Opening, send: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = offline._register

    def flaky(opening: Opening, operation: offline.Operation) -> offline.Outcome:
        if operation.person is not None and operation.person.family_name == "不調":
            raise RuntimeError("the database went away")
        return real(opening, operation)

    monkeypatch.setattr(offline, "_register", flaky)
    troubled = register("不調")
    leaves = on_stay("checkout", troubled["checkin_id"])
    other = register("順調")
    answer = send(here, troubled, leaves, other)
    assert [o["status"] for o in answer["outcomes"]] == ["retry", "retry", "done"]
    assert not Person.objects.filter(family_name="不調").exists()

    monkeypatch.setattr(offline, "_register", real)
    assert [o["status"] for o in send(here, troubled, leaves)["outcomes"]] == ["done", "done"]
    assert Checkin.objects.get(pk=troubled["checkin_id"]).checked_out_at is not None


def test_a_malformed_operation_is_named_by_its_index(
    here: Opening, send: Callable[..., Any]
) -> None:
    odd = {**register("形式"), "kind": "teleport"}
    answer = send(here, register("正常"), odd, status=422)
    assert any(e["field"].startswith("body.payload.operations.1.kind") for e in answer["errors"])
    assert not Person.objects.filter(family_name="正常").exists()  # nothing of the batch


# --- Who may send -----------------------------------------------------------------------------


def test_only_the_shelters_own_staff_may_send_and_the_session_needs_its_csrf_token(
    here: Opening,
    elsewhere: Opening,
    staff: User,
    client_for: Callable[[User], Client],
    counter: User,
) -> None:
    body = {"operations": [register("権限")]}
    anonymous = Client().post(SYNC.format(here.pk), body, content_type="application/json")
    assert anonymous.status_code == 401
    other_shelter = client_for(staff).post(
        SYNC.format(elsewhere.pk), body, content_type="application/json"
    )
    assert other_shelter.status_code == 403
    no_role = client_for(counter).post(SYNC.format(here.pk), body, content_type="application/json")
    assert no_role.status_code == 403

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(staff)
    without_token = strict.post(SYNC.format(here.pk), body, content_type="application/json")
    assert without_token.status_code == 403
    strict.get(f"/console/shelters/offline/{here.pk}/")  # sets the CSRF cookie
    token = strict.cookies["csrftoken"].value
    with_token = strict.post(
        SYNC.format(here.pk), body, content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert with_token.status_code == 200
    assert Person.objects.filter(family_name="権限").count() == 1


# --- The pages ---------------------------------------------------------------------------------


def test_the_console_is_a_shell_for_the_shelters_staff_only(
    here: Opening,
    elsewhere: Opening,
    staff: User,
    client_for: Callable[[User], Client],
) -> None:
    signed_out = Client().get(f"/console/shelters/offline/{here.pk}/")
    assert signed_out.status_code == 302
    client = client_for(staff)
    page = client.get(f"/console/shelters/offline/{here.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="offline-config"' in html
    assert SYNC.format(here.pk) in html
    assert f"/api/v1/shelters/{here.shelter_id}/evacuees?disaster_id={here.disaster_id}" in html
    assert "<script>" not in html  # the CSP allows no inline script: settings are JSON data
    assert client.get(f"/console/shelters/offline/{elsewhere.pk}/").status_code == 403
    index = client.get("/console/shelters/offline/")
    assert f"/console/shelters/offline/{here.pk}/" in index.content.decode()
    assert f"/console/shelters/offline/{elsewhere.pk}/" not in index.content.decode()


def test_the_service_worker_is_served_inside_its_scope_with_its_version(client: Client) -> None:
    response = client.get("/console/shelters/offline/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert response["Service-Worker-Allowed"] == "/console/shelters/offline/"
    assert response["Cache-Control"] == "no-cache"
    body = response.content.decode()
    assert body.startswith("self.MACHI_OFFLINE = {")
    assert "/static/shelters/offline/offline.js" in body
    assert 'addEventListener("fetch"' in body

    manifest = client.get("/console/shelters/offline/manifest.webmanifest")
    assert manifest["Content-Type"] == "application/manifest+json"
    assert manifest.json()["start_url"] == "/console/shelters/offline/"


def test_device_names_are_kept_short_and_marked(db: None) -> None:
    assert offline.device_name("tablet-1") == "offline:tablet-1"
    assert offline.device_name("") == "offline"
    assert offline.device_name("<script>" + "x" * 100) == "offline:script" + "x" * 42
