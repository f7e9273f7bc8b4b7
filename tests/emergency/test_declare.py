"""HQ declares a disaster; the responders answer after commit, once, with their outcome."""

from typing import Any

import pytest
from django.test import Client

from machi.core.hazards import Hazard
from machi.core.models import User
from machi.emergency import responders, services
from machi.emergency.models import Disaster, ResponderRun, ResponderStatus
from machi.shelters.models import Opening, OpeningStatus

SHELTERS = "machi.shelters.responders.respond"


def test_declaring_proposes_the_shelters_suited_to_the_hazards(typhoon: Disaster) -> None:
    run = ResponderRun.objects.get(disaster=typhoon, event="declared", responder=SHELTERS)
    assert run.status == ResponderStatus.SUCCEEDED
    assert "awaiting HQ" in run.summary
    statuses = dict(
        Opening.objects.filter(disaster=typhoon).values_list("shelter__facility__name", "status")
    )
    # The flood shelter and the one with no hazard data are proposed; the tsunami-only one not.
    assert len(statuses) == 2
    assert set(statuses.values()) == {OpeningStatus.PREPARING}


def test_a_city_may_open_every_suitable_shelter_at_once(
    hq: User, shelters: list[Any], settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.MACHI_SHELTERS_OPEN_ON_DECLARE = True
    with django_capture_on_commit_callbacks(execute=True):
        disaster = services.disaster_declare(name="大雨", hazards=[Hazard.FLOOD], declared_by=hq)
    assert set(Opening.objects.filter(disaster=disaster).values_list("status", flat=True)) == {
        OpeningStatus.OPEN
    }


def test_responders_run_only_after_commit_and_only_once(
    hq: User, shelters: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        disaster = services.disaster_declare(name="地震", hazards=["earthquake"], declared_by=hq)
    assert ResponderRun.objects.get(disaster=disaster, responder=SHELTERS).status == (
        ResponderStatus.QUEUED
    )
    assert not Opening.objects.filter(disaster=disaster).exists()
    for callback in callbacks:
        callback()
    run = ResponderRun.objects.get(disaster=disaster, responder=SHELTERS)
    count = Opening.objects.filter(disaster=disaster).count()
    responders.execute(run.pk)  # a retry or duplicate delivery
    assert Opening.objects.filter(disaster=disaster).count() == count


def test_a_failing_responder_records_why(
    hq: User, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.MACHI_RESPONDERS = ["tests.emergency.test_declare.broken"]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        disaster = services.disaster_declare(name="x", hazards=["flood"], declared_by=hq)
    run = ResponderRun.objects.get(disaster=disaster)
    responders.execute(run.pk)
    run.refresh_from_db()
    assert run.status == ResponderStatus.FAILED
    assert run.summary == "RuntimeError: the Wi-Fi controller is down"
    assert run.attempts == 1
    enqueued = [c for c in callbacks if getattr(c, "func", None) is responders.run_responder]
    assert len(enqueued) == 1


def broken(disaster: Disaster, event: str) -> responders.Outcome:
    raise RuntimeError("the Wi-Fi controller is down")


def test_ending_closes_the_openings(
    hq: User, typhoon: Disaster, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        services.disaster_end(disaster=typhoon, ended_by=hq)
    assert set(Opening.objects.filter(disaster=typhoon).values_list("status", flat=True)) == {
        OpeningStatus.CLOSED
    }
    with pytest.raises(services.DisasterError, match="already ended"):
        services.disaster_end(disaster=typhoon, ended_by=hq)


def test_declaration_needs_a_name_and_a_hazard(hq: User) -> None:
    with pytest.raises(services.DisasterError, match="name"):
        services.disaster_declare(name=" ", hazards=["flood"], declared_by=hq)
    with pytest.raises(services.DisasterError, match="hazard"):
        services.disaster_declare(name="x", hazards=[], declared_by=hq)
    with pytest.raises(ValueError, match="meteor"):
        services.disaster_declare(name="x", hazards=["meteor"], declared_by=hq)


def test_the_phase_shows_on_every_page_and_in_the_api(
    client: Client, typhoon: Disaster, municipality: Any
) -> None:
    page = client.get("/").content.decode()
    assert "令和元年台風第19号" in page
    assert "phase-banner" in page
    body = client.get("/api/v1/disasters/current").json()
    assert body["phase"] == "disaster"
    assert body["disaster"]["name"] == "令和元年台風第19号"


def test_normal_times_have_no_banner(client: Client, municipality: Any) -> None:
    assert "phase-banner" not in client.get("/").content.decode()
    assert client.get("/api/v1/disasters/current").json() == {"phase": "normal", "disaster": None}


def test_declaring_through_the_api(
    client: Client, hq: User, counter: User, shelters: list[Any]
) -> None:
    from tests.core.test_api import bearer

    payload = {"name": "台風", "hazards": ["flood"]}
    denied = client.post(
        "/api/v1/disasters", payload, content_type="application/json", **bearer(counter)
    )
    assert denied.status_code == 403
    bad = client.post(
        "/api/v1/disasters",
        {"name": "台風", "hazards": ["meteor"]},
        content_type="application/json",
        **bearer(hq),
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "body.payload.hazards.0"
    response = client.post(
        "/api/v1/disasters", payload, content_type="application/json", **bearer(hq)
    )
    assert response.status_code == 201
    disaster_id = response.json()["id"]
    ended = client.post(f"/api/v1/disasters/{disaster_id}/end", **bearer(hq))
    assert ended.status_code == 200
    assert ended.json()["active"] is False
    again = client.post(f"/api/v1/disasters/{disaster_id}/end", **bearer(hq))
    assert again.status_code == 409
    assert Disaster.objects.count() == 1


def test_the_chronology_tells_the_declaration_the_openings_and_the_responders(
    hq: User, shelters: list[Any], settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from machi.emergency.models import ChronologyEntry, ChronologyKind

    settings.MACHI_SHELTERS_OPEN_ON_DECLARE = True
    with django_capture_on_commit_callbacks(execute=True):
        disaster = services.disaster_declare(name="大雨", hazards=[Hazard.FLOOD], declared_by=hq)
    lines = ChronologyEntry.objects.filter(disaster=disaster)
    kinds = set(lines.values_list("kind", flat=True))
    assert {ChronologyKind.DISASTER, ChronologyKind.SHELTER, ChronologyKind.RESPONDER} <= kinds
    assert lines.filter(kind=ChronologyKind.SHELTER, text__contains="開設").count() == 2
    assert lines.get(kind=ChronologyKind.DISASTER).text.startswith("災害対策本部設置: 大雨")
