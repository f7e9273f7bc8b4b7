"""Procedures as data: answers checked against the form, a reference, out-of-hours counted,
and a status history that only moves as the transitions map allows and is never rewritten."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from machi.core.models import User
from machi.core.roles import Role
from machi.procedures import catalogue, services
from machi.procedures.models import Application, Procedure, Status

pytestmark = pytest.mark.django_db

JST = dt.timezone(dt.timedelta(hours=9))


@pytest.fixture
def procedures(db: Any) -> dict[str, Procedure]:
    return {p.slug: p for p in catalogue.catalogue_load()}


@pytest.fixture
def counter_staff(make_staff: Callable[..., User]) -> User:
    return make_staff(Role.COUNTER, username="madoguchi")


def submit(procedure: Procedure, **kwargs: Any) -> Application:
    values: dict[str, Any] = {
        "applicant": services.Applicant(name="戸田 太郎", email="taro@example.jp"),
        "answers": {"copies": 2, "scope": "household", "purpose": "勤務先に提出"},
        "delivery": "mail",
        "channel": "online",
    }
    return services.application_submit(procedure=procedure, **{**values, **kwargs})


def test_an_application_gets_a_reference_a_due_date_and_its_first_status(
    procedures: dict[str, Procedure],
) -> None:
    friday_evening = dt.datetime(2026, 11, 27, 19, 30, tzinfo=JST)
    application = submit(procedures["juminhyo"], at=friday_evening)
    assert len(application.reference) == 14
    assert set(application.reference.replace("-", "")) <= set(services.REFERENCE_ALPHABET)
    assert application.out_of_hours
    assert application.fee_yen == 300
    # Three working days after Friday: Monday 30, Tuesday 1, Wednesday 2 December.
    assert application.due_on == dt.date(2026, 12, 2)
    assert application.answers == {
        "copies": 2,
        "scope": "household",
        "purpose": "勤務先に提出",
    }
    assert [e.status for e in application.history.all()] == [Status.RECEIVED]


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (dt.datetime(2026, 11, 26, 10, 0, tzinfo=JST), False),  # a Thursday morning
        (dt.datetime(2026, 11, 26, 8, 29, tzinfo=JST), True),
        (dt.datetime(2026, 11, 26, 17, 15, tzinfo=JST), True),
        (dt.datetime(2026, 11, 28, 11, 0, tzinfo=JST), True),  # Saturday
        (dt.datetime(2026, 11, 23, 11, 0, tzinfo=JST), True),  # 勤労感謝の日
    ],
)
def test_out_of_hours(moment: dt.datetime, expected: bool) -> None:
    assert services.out_of_hours(moment) is expected


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        ({"scope": "self", "purpose": "x"}, "answers.copies"),
        ({"copies": 11, "scope": "self", "purpose": "x"}, "answers.copies"),
        ({"copies": "two", "scope": "self", "purpose": "x"}, "answers.copies"),
        ({"copies": 1, "scope": "everyone", "purpose": "x"}, "answers.scope"),
        ({"copies": 1, "scope": "self", "purpose": "x", "mynumber": "1"}, "answers.mynumber"),
        ({"copies": 1, "scope": "self", "purpose": "x" * 101}, "answers.purpose"),
    ],
)
def test_answers_are_checked_against_the_form(
    procedures: dict[str, Procedure], answers: dict[str, Any], field: str
) -> None:
    with pytest.raises(services.ProcedureError) as caught:
        submit(procedures["juminhyo"], answers=answers)
    assert caught.value.field == field
    assert not Application.objects.exists()


def test_the_workflow_follows_the_transitions_map(
    procedures: dict[str, Procedure], counter_staff: User
) -> None:
    application = submit(procedures["juminhyo"])
    with pytest.raises(services.ProcedureError) as skipped:
        services.status_change(application=application, status="issued", by=counter_staff)
    assert skipped.value.field == "status"
    services.status_change(application=application, status="reviewing", by=counter_staff)
    with pytest.raises(services.ProcedureError) as silent:
        services.status_change(application=application, status="correction", by=counter_staff)
    assert silent.value.field == "message"
    services.status_change(
        application=application,
        status="correction",
        by=counter_staff,
        message="使用目的を具体的にご記入ください。",
    )
    for step in ("reviewing", "approved", "issued", "sent"):
        services.status_change(application=application, status=step, by=counter_staff)
    application.refresh_from_db()
    assert application.status == Status.SENT
    assert application.completed_at is not None
    assert [e.status for e in application.history.all()] == [
        "received",
        "reviewing",
        "correction",
        "reviewing",
        "approved",
        "issued",
        "sent",
    ]
    with pytest.raises(services.ProcedureError):
        services.status_change(application=application, status="rejected", by=counter_staff)


def test_a_form_definition_is_checked(db: Any) -> None:
    with pytest.raises(services.ProcedureError) as caught:
        services.form_check([{"name": "a", "label": "A"}, {"name": "a", "label": "B"}])
    assert caught.value.field == "form[1].name"
    with pytest.raises(services.ProcedureError) as kind:
        services.form_check([{"name": "a", "label": "A", "type": "colour"}])
    assert kind.value.field == "form[0].type"


def test_the_api_from_the_catalogue_to_the_history(
    procedures: dict[str, Procedure],
    counter_staff: User,
    api_client_for: Callable[[User], Client],
    make_staff: Callable[..., User],
) -> None:
    public = Client().get("/api/v1/procedures")
    assert public.status_code == 200
    assert [p["slug"] for p in public.json()][:2] == ["juminhyo", "inkan"]
    client = api_client_for(counter_staff)
    made = client.post(
        "/api/v1/applications",
        {
            "procedure": "inkan",
            "applicant": {"name": "戸田 花子"},
            "answers": {"copies": 1, "purpose": "不動産登記"},
            "delivery": "counter",
        },
        content_type="application/json",
    )
    assert made.status_code == 201, made.content
    reference = made.json()["reference"]
    moved = client.post(
        f"/api/v1/applications/{reference}/status",
        {"status": "reviewing"},
        content_type="application/json",
    )
    assert [h["status"] for h in moved.json()["history"]] == ["received", "reviewing"]
    bad = client.post(
        "/api/v1/applications",
        {
            "procedure": "inkan",
            "applicant": {"name": "x"},
            "answers": {"copies": 0, "purpose": "x"},
            "delivery": "counter",
        },
        content_type="application/json",
    )
    assert bad.status_code == 422
    assert "copies" in bad.content.decode()
    shelter = api_client_for(make_staff(Role.HQ, username="honbu"))
    assert shelter.get(f"/api/v1/applications/{reference}").status_code == 403


def test_measures_count_channels_out_of_hours_and_time_to_completion(
    procedures: dict[str, Procedure],
    counter_staff: User,
    api_client_for: Callable[[User], Client],
) -> None:
    sunday = dt.datetime(2026, 11, 22, 10, tzinfo=JST)
    first = submit(procedures["juminhyo"], at=sunday)
    submit(procedures["juminhyo"], at=dt.datetime(2026, 11, 26, 10, tzinfo=JST), channel="counter")
    for step in ("reviewing", "approved", "issued", "sent"):
        services.status_change(application=first, status=step, by=counter_staff)
    Application.objects.filter(pk=first.pk).update(completed_at=sunday + dt.timedelta(days=2))
    answer = api_client_for(counter_staff).get("/api/v1/procedures/measures")
    assert answer.status_code == 200
    row = next(r for r in answer.json() if r["procedure"] == "juminhyo")
    assert (row["applications"], row["online"], row["counter"], row["out_of_hours"]) == (2, 1, 1, 1)
    assert row["out_of_hours_share"] == 0.5
    assert (row["completed"], row["median_days"]) == (1, 2.0)
