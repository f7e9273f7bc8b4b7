"""Given a flooded house, a surveyor's survey decides its class by the table and keeps both."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from machi.core.models import User
from machi.core.roles import Role
from machi.emergency.models import Disaster
from machi.recovery import rules, services
from machi.recovery.models import House, ResurveyStatus, RuleSet, Survey

pytestmark = pytest.mark.django_db


@pytest.fixture
def surveyor(make_staff: Callable[..., User]) -> User:
    return make_staff(Role.FIELD, username="surveyor")


@pytest.fixture
def house() -> House:
    return services.house_register(address="埼玉県戸田市美女木1-2-3", structure="wooden", storeys=2)


def record(house: House, disaster: Disaster, user: User, **kwargs: Any) -> services.Recorded:
    values: dict[str, Any] = {
        "survey_id": uuid.uuid4(),
        "house": house,
        "disaster": disaster,
        "round": "first",
        "method": "flood_depth",
        "inputs": {"external_force": True, "depth_above_floor_m": "1.2"},
        "surveyed_on": timezone.localdate(),
        "surveyor": user,
    }
    return services.survey_record(**{**values, **kwargs})


def test_a_survey_keeps_its_inputs_and_the_table_that_decided(
    house: House, hagibis: Disaster, surveyor: User
) -> None:
    done = record(house, hagibis, surveyor)
    survey = done.survey
    assert done.created
    assert (survey.damage_class, survey.flood, survey.rule_set) == ("大規模半壊", "床上", "R3.3")
    assert survey.inputs["depth_above_floor_m"] == "1.2"
    assert survey.inputs["structure"] == "wooden"  # taken from the house
    assert "床上浸水" in survey.rule
    again = services.survey_record(
        survey_id=survey.pk,
        house=house,
        disaster=hagibis,
        round="first",
        method="flood_depth",
        inputs={"external_force": True, "depth_above_floor_m": "0.1"},
        surveyed_on=timezone.localdate(),
        surveyor=surveyor,
    )
    assert not again.created
    assert Survey.objects.count() == 1


def test_a_later_round_decides_and_a_resurvey_closes_the_request(
    house: House, hagibis: Disaster, surveyor: User, recovery_staff: User, settings: Any
) -> None:
    settings.MACHI_RECOVERY_RESURVEY_DAYS = 14
    record(house, hagibis, surveyor)
    request = services.resurvey_request(
        house=house, disaster=hagibis, reason="床上1.9mでした", requested_by=recovery_staff
    )
    assert request.due_by == timezone.localdate() + dt.timedelta(days=14)
    with pytest.raises(services.RecoveryError) as twice:
        services.resurvey_request(
            house=house, disaster=hagibis, reason="again", requested_by=recovery_staff
        )
    assert twice.value.field == "house_id"
    resurvey = record(
        house,
        hagibis,
        recovery_staff,
        round="resurvey",
        inputs={"external_force": True, "depth_above_floor_m": "1.9"},
    ).survey
    request.refresh_from_db()
    assert (request.status, request.survey) == (ResurveyStatus.DONE, resurvey)
    decided = services.damage_of(house=house, disaster=hagibis)
    assert decided is not None
    assert decided.damage_class == "全壊"


def test_inputs_no_table_covers_save_nothing(
    house: House, hagibis: Disaster, surveyor: User
) -> None:
    with pytest.raises(services.RecoveryError) as caught:
        record(house, hagibis, surveyor, inputs={"external_force": False, "depth_above_floor_m": 1})
    assert caught.value.field == "external_force"
    tall = services.house_register(address="戸田市下戸田", structure="wooden", storeys=3)
    with pytest.raises(services.RecoveryError) as storeys:
        record(tall, hagibis, surveyor)
    assert storeys.value.field == "storeys"
    assert not Survey.objects.exists()


def test_a_city_loads_its_own_table_and_decides_with_it(
    house: House, hagibis: Disaster, surveyor: User, tmp_path: Path
) -> None:
    city = json.loads(json.dumps(rules.shipped()["damage:R3.3"]))
    city["name"] = "TODA-2026"
    city["source"] = "戸田市 住家被害認定 運用要領（テスト用）"
    city["methods"]["floor_area_ratio"]["bands"].append(
        {"min": "0.30", "max": "0.50", "class": "中規模半壊"}
    )
    path = tmp_path / "toda.json"
    path.write_text(json.dumps(city, ensure_ascii=False), encoding="utf-8")
    out = io.StringIO()
    call_command("recovery_rules", str(path), stdout=out)
    assert "loaded damage TODA-2026" in out.getvalue()
    survey = record(
        house,
        hagibis,
        surveyor,
        method="floor_area_ratio",
        inputs={"floor_area_ratio": "0.35"},
        rule_set="TODA-2026",
    ).survey
    assert (survey.damage_class, survey.rule_set) == ("中規模半壊", "TODA-2026")
    shipped = dict(city, name="R3.3")
    path.write_text(json.dumps(shipped, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(CommandError, match="ships with Machi"):
        call_command("recovery_rules", str(path))
    broken = dict(city, name="BAD", source="")
    path.write_text(json.dumps(broken, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(CommandError, match="source"):
        call_command("recovery_rules", str(path))
    assert list(RuleSet.objects.values_list("name", flat=True)) == ["TODA-2026"]


def test_the_api_records_surveys_and_refuses_who_may_not(
    api_client_for: Callable[[User], Client],
    hagibis: Disaster,
    surveyor: User,
    counter: User,
) -> None:
    client = api_client_for(surveyor)
    house_id = str(uuid.uuid4())
    made = client.post(
        "/api/v1/recovery/houses",
        {"id": house_id, "address": "戸田市美女木4-5-6", "structure": "wooden", "storeys": 2},
        content_type="application/json",
    )
    assert made.status_code == 201, made.content
    survey = {
        "id": str(uuid.uuid4()),
        "house_id": house_id,
        "disaster_id": hagibis.pk,
        "round": "first",
        "method": "flood_depth",
        "inputs": {"external_force": True, "depth_above_floor_m": 0.5},
        "surveyed_on": timezone.localdate().isoformat(),
    }
    first = client.post("/api/v1/recovery/surveys", survey, content_type="application/json")
    assert first.status_code == 201, first.content
    assert first.json()["damage_class"] == "中規模半壊"
    replay = client.post("/api/v1/recovery/surveys", survey, content_type="application/json")
    assert replay.status_code == 200
    bad = client.post(
        "/api/v1/recovery/surveys",
        {**survey, "id": str(uuid.uuid4()), "inputs": {"external_force": True}},
        content_type="application/json",
    )
    assert bad.status_code == 422
    assert "depth_above_floor_m" in bad.content.decode()
    listed = client.get(f"/api/v1/recovery/houses/{house_id}/surveys?disaster_id={hagibis.pk}")
    assert [s["damage_class"] for s in listed.json()] == ["中規模半壊"]
    refused = api_client_for(counter).post(
        "/api/v1/recovery/surveys", survey, content_type="application/json"
    )
    assert refused.status_code == 403


def test_survey_photos_are_checked_by_their_bytes_and_served_to_staff_only(
    api_client_for: Callable[[User], Client],
    hagibis: Disaster,
    surveyor: User,
    counter: User,
    house: House,
    settings: Any,
    tmp_path: Path,
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.MEDIA_ROOT = tmp_path / "media"
    survey = record(house, hagibis, surveyor).survey
    client = api_client_for(surveyor)
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 200
    photo_id = str(uuid.uuid4())
    sent = client.post(
        f"/api/v1/recovery/surveys/{survey.pk}/photos",
        {"file": SimpleUploadedFile("../../etc/house.jpg", jpeg), "id": photo_id},
    )
    assert sent.status_code == 201, sent.content
    again = client.post(
        f"/api/v1/recovery/surveys/{survey.pk}/photos",
        {"file": SimpleUploadedFile("house.jpg", jpeg), "id": photo_id},
    )
    assert again.status_code == 200
    fake = client.post(
        f"/api/v1/recovery/surveys/{survey.pk}/photos",
        {"file": SimpleUploadedFile("house.jpg", b"<script>alert(1)</script>")},
    )
    assert fake.status_code == 422
    assert "file" in fake.content.decode()
    served = client.get(sent.json()["url"])
    assert served.status_code == 200
    assert served["Content-Type"] == "image/jpeg"
    assert b"".join(served.streaming_content) == jpeg
    assert api_client_for(counter).get(sent.json()["url"]).status_code == 403
