"""HQ asks departments for work (依頼); each department sees and updates its own tasks.

Due times are shown in Japan time and late ones stand out; every task and every change of
status is a line of the chronology.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from machi.core.models import AuditEvent, User
from machi.core.roles import Role
from machi.emergency import services_field
from machi.emergency.models import ChronologyEntry, Department, Disaster, Incident, Task
from machi.emergency.services_field import FieldError
from tests.core.test_api import bearer

UTC = dt.UTC


@pytest.fixture
def field_staff(make_staff: Callable[..., User]) -> User:
    return make_staff(Role.FIELD, username="field")


@pytest.fixture
def river_staff(make_staff: Callable[..., User]) -> User:
    return make_staff(Role.FIELD, username="river")


@pytest.fixture
def departments(hq: User, field_staff: User, river_staff: User) -> dict[str, Department]:
    services_field.load_demo_field()
    found = {d.name: d for d in Department.objects.all()}
    found["危機管理課"].members.add(hq)
    found["道路公園課"].members.add(field_staff)
    found["河川課"].members.add(river_staff)
    return found


@pytest.fixture
def incident(field_staff: User) -> Incident:
    return services_field.incident_report(
        incident_id=uuid.uuid4(),
        category="road",
        severity=3,
        title="倒木で通行止め",
        address="中町2丁目",
        reported_by=field_staff,
    ).incident


def give(departments: dict[str, Department], to: str = "道路公園課", **changes: Any) -> Task:
    values: dict[str, Any] = {
        "title": "倒木の撤去",
        "to_department": departments[to],
        "from_department": departments["危機管理課"],
        "created_by": None,
    }
    values.update(changes)
    return services_field.task_create(**values)


def lines(task: Task) -> list[str]:
    return list(
        ChronologyEntry.objects.filter(object_type="emergency.task", object_id=str(task.pk))
        .order_by("at", "id")
        .values_list("text", flat=True)
    )


# --- Services ---------------------------------------------------------------------------------


def test_the_demo_departments_load_once(db: None) -> None:
    first = services_field.load_demo_field()
    again = services_field.load_demo_field()
    assert first == again
    assert list(Department.objects.values_list("name", "name_en")) == [
        ("危機管理課", "Crisis Management Division"),
        ("道路公園課", "Roads and Parks Division"),
        ("河川課", "Rivers Division"),
        ("福祉総務課", "General Welfare Division"),
        ("環境課", "Environment Division"),
    ]


def test_the_demo_staff_join_their_departments(hq: User, field_staff: User) -> None:
    services_field.load_demo_field(None)
    assert list(hq.departments.values_list("name", flat=True)) == ["危機管理課"]
    assert list(field_staff.departments.values_list("name", flat=True)) == ["道路公園課"]


def test_a_task_is_a_line_of_the_chronology_with_its_due_time_in_japan_time(
    departments: dict[str, Department], typhoon: Disaster, incident: Incident
) -> None:
    due = dt.datetime(2025, 10, 12, 9, 0, tzinfo=UTC)  # 18:00 in Tokyo
    task = give(departments, incident=incident, due_at=due)
    assert task.disaster == typhoon
    assert lines(task) == ["依頼: 危機管理課 → 道路公園課 — 倒木の撤去（期限 10/12 18:00）"]
    entry = ChronologyEntry.objects.get(object_type="emergency.task")
    assert entry.department == "道路公園課"
    assert AuditEvent.objects.filter(action="create", object_type="emergency.task").count() == 1


def test_task_status_changes_are_recorded_and_done_is_timed(
    departments: dict[str, Department],
) -> None:
    task = give(departments)
    task = services_field.task_set_status(task=task, status="in_progress")
    task = services_field.task_set_status(task=task, status="done")
    assert task.completed_at is not None
    task = services_field.task_set_status(task=task, status="in_progress")  # reopened
    assert task.completed_at is None
    assert lines(task)[1:] == [
        "対応中: 道路公園課 — 倒木の撤去",
        "完了: 道路公園課 — 倒木の撤去",
        "対応中: 道路公園課 — 倒木の撤去",
    ]


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        pytest.param([], "open", id="same"),
        pytest.param(["done"], "cancelled", id="done-to-cancelled"),
        pytest.param(["cancelled"], "done", id="cancelled-to-done"),
        pytest.param([], "finished", id="unknown"),
    ],
)
def test_task_status_refuses_what_makes_no_sense(
    departments: dict[str, Department], path: list[str], refused: str
) -> None:
    task = give(departments)
    for status in path:
        task = services_field.task_set_status(task=task, status=status)
    with pytest.raises(FieldError) as caught:
        services_field.task_set_status(task=task, status=refused)
    assert caught.value.field == "status"


def test_the_person_in_charge_must_belong_to_the_department(
    departments: dict[str, Department], river_staff: User, field_staff: User
) -> None:
    with pytest.raises(FieldError) as caught:
        give(departments, assignee=river_staff)
    assert caught.value.field == "assignee"
    assert give(departments, assignee=field_staff).assignee == field_staff


# --- Pages ------------------------------------------------------------------------------------


def test_hq_creates_a_task_from_an_incident(
    client: Client, hq: User, departments: dict[str, Department], incident: Incident
) -> None:
    client.force_login(hq)
    page = client.get(f"/console/incidents/{incident.pk}/").content.decode()
    assert 'action="/console/tasks/new/"' in page
    response = client.post(
        "/console/tasks/new/",
        {
            "title": "倒木の撤去",
            "description": "チェーンソー持参",
            "to_department": departments["道路公園課"].pk,
            "assignee": "",
            "due_at": "2025-10-12T18:00",  # typed in Japan time
            "incident": str(incident.pk),
        },
    )
    assert response.status_code == 302
    task = Task.objects.get()
    assert response["Location"] == f"/console/tasks/{task.pk}/"
    assert task.incident == incident
    assert task.from_department == departments["危機管理課"]
    assert task.due_at == dt.datetime(2025, 10, 12, 9, 0, tzinfo=UTC)
    assert task.created_by == hq
    shown = client.get(f"/console/tasks/{task.pk}/").content.decode()
    assert "2025-10-12 18:00" in shown
    assert "依頼: 危機管理課 → 道路公園課 — 倒木の撤去（期限 10/12 18:00）" in shown
    about = client.get(f"/console/incidents/{incident.pk}/").content.decode()
    assert f"/console/tasks/{task.pk}/" in about


def test_the_task_form_names_its_mistakes(
    client: Client, hq: User, departments: dict[str, Department], river_staff: User
) -> None:
    client.force_login(hq)
    response = client.post(
        "/console/tasks/new/",
        {"title": "", "to_department": departments["道路公園課"].pk, "assignee": river_staff.pk},
    )
    assert response.status_code == 400
    assert "title" in response.context["form"].errors
    response = client.post(
        "/console/tasks/new/",
        {"title": "x", "to_department": departments["道路公園課"].pk, "assignee": river_staff.pk},
    )
    assert response.status_code == 400
    assert list(response.context["form"].errors) == ["assignee"]
    assert not Task.objects.exists()


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        pytest.param(Role.FIELD, 403, id="field"),
        pytest.param(Role.AUDITOR, 403, id="auditor"),
        pytest.param(Role.SHELTER_STAFF, 403, id="shelter-staff"),
        pytest.param(None, 403, id="no-role"),
    ],
)
def test_only_hq_creates_tasks(
    client: Client,
    make_staff: Callable[..., User],
    facilities: list[Any],
    departments: dict[str, Department],
    role: Role | None,
    expected: int,
) -> None:
    client.force_login(make_staff(role, facilities=facilities[:1]))
    assert client.get("/console/tasks/new/").status_code == expected
    posted = client.post(
        "/console/tasks/new/", {"title": "x", "to_department": departments["河川課"].pk}
    )
    assert posted.status_code == expected
    assert not Task.objects.exists()


def test_each_department_sees_its_own_tasks_and_hq_sees_all(
    client: Client,
    hq: User,
    field_staff: User,
    river_staff: User,
    auditor: User,
    departments: dict[str, Department],
) -> None:
    roads = give(departments, title="倒木の撤去")
    rivers = give(departments, to="河川課", title="水位の監視")

    def titles(user: User) -> list[str]:
        client.force_login(user)
        response = client.get("/console/tasks/")
        assert response.status_code == 200
        return sorted(row["task"].title for row in response.context["rows"])

    assert titles(hq) == ["倒木の撤去", "水位の監視"]
    assert titles(auditor) == ["倒木の撤去", "水位の監視"]
    assert titles(field_staff) == ["倒木の撤去"]
    assert titles(river_staff) == ["水位の監視"]
    client.force_login(field_staff)
    assert client.get(f"/console/tasks/{roads.pk}/").status_code == 200
    assert client.get(f"/console/tasks/{rivers.pk}/").status_code == 403


def test_a_shelter_worker_has_no_tasks_page(client: Client, shelter_staff: User) -> None:
    client.force_login(shelter_staff)
    assert client.get("/console/tasks/").status_code == 403


def test_overdue_tasks_stand_out_and_can_be_listed_alone(
    client: Client, hq: User, departments: dict[str, Department]
) -> None:
    now = timezone.now()
    late = give(departments, title="遅れ", due_at=now - dt.timedelta(hours=1))
    give(departments, title="余裕", due_at=now + dt.timedelta(hours=3))
    finished = give(departments, title="済み", due_at=now - dt.timedelta(hours=2))
    services_field.task_set_status(task=finished, status="done")
    client.force_login(hq)
    page = client.get("/console/tasks/")
    flagged = {row["task"].title for row in page.context["rows"] if row["overdue"]}
    assert flagged == {"遅れ"}
    html = page.content.decode()
    assert html.count('class="row--alert"') == 1
    local = timezone.localtime(late.due_at, timezone=dt.timezone(dt.timedelta(hours=9)))
    assert f"{local:%m/%d %H:%M}" in html
    only = client.get("/console/tasks/", {"overdue": "on"})
    assert [row["task"].title for row in only.context["rows"]] == ["遅れ"]
    by_status = client.get("/console/tasks/", {"status": "done"})
    assert [row["task"].title for row in by_status.context["rows"]] == ["済み"]
    by_department = client.get("/console/tasks/", {"department": departments["河川課"].pk})
    assert by_department.context["rows"] == []


def test_the_department_asked_updates_the_status(
    client: Client,
    field_staff: User,
    river_staff: User,
    shelter_staff: User,
    departments: dict[str, Department],
) -> None:
    task = give(departments)
    url = f"/console/tasks/{task.pk}/status/"
    client.force_login(river_staff)
    assert client.post(url, {"status": "in_progress"}).status_code == 403
    client.force_login(shelter_staff)
    assert client.post(url, {"status": "in_progress"}).status_code == 403
    client.force_login(field_staff)
    page = client.get(f"/console/tasks/{task.pk}/").content.decode()
    assert 'name="status" value="in_progress"' in page
    response = client.post(url, {"status": "in_progress"})
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.status == "in_progress"
    shown = client.get(f"/console/tasks/{task.pk}/").content.decode()
    assert "対応中: 道路公園課 — 倒木の撤去" in shown
    event = AuditEvent.objects.filter(action="update", object_type="emergency.task").get()
    assert event.actor_username == "field"


# --- API --------------------------------------------------------------------------------------


def post(client: Client, user: User, url: str, **payload: Any) -> Any:
    return client.post(url, payload, content_type="application/json", **bearer(user))


def test_api_hq_gives_a_task_and_the_department_reports_progress(
    client: Client,
    hq: User,
    field_staff: User,
    river_staff: User,
    departments: dict[str, Department],
    incident: Incident,
) -> None:
    created = post(
        client,
        hq,
        "/api/v1/tasks",
        title="倒木の撤去",
        to_department_id=departments["道路公園課"].pk,
        assignee="field",
        incident_id=str(incident.pk),
        due_at="2025-10-12T18:00:00+09:00",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["assignee"] == "field"
    assert body["incident_id"] == str(incident.pk)
    assert body["from_department_id"] == departments["危機管理課"].pk
    assert body["overdue"] is True  # that evening has passed
    task_id = body["id"]

    mine = client.get("/api/v1/tasks", **bearer(field_staff)).json()
    assert [t["id"] for t in mine["items"]] == [task_id]
    theirs = client.get("/api/v1/tasks", **bearer(river_staff)).json()
    assert theirs["items"] == []
    overdue = client.get("/api/v1/tasks", {"overdue": True}, **bearer(hq)).json()
    assert [t["id"] for t in overdue["items"]] == [task_id]

    refused = post(client, river_staff, f"/api/v1/tasks/{task_id}/status", status="done")
    assert refused.status_code == 403
    done = post(client, field_staff, f"/api/v1/tasks/{task_id}/status", status="done")
    assert done.status_code == 200
    assert done.json()["status"] == "done"
    assert done.json()["completed_at"] is not None
    again = post(client, field_staff, f"/api/v1/tasks/{task_id}/status", status="cancelled")
    assert again.status_code == 422
    assert again.json()["errors"][0]["field"] == "body.payload.status"


def test_api_task_errors_name_the_field(
    client: Client, hq: User, field_staff: User, departments: dict[str, Department]
) -> None:
    roads = departments["道路公園課"].pk
    cases = [
        ({"title": "x", "to_department_id": 999}, "body.payload.to_department_id"),
        ({"title": "x", "to_department_id": roads, "assignee": "river"}, "body.payload.assignee"),
        ({"title": "x", "to_department_id": roads, "assignee": "ghost"}, "body.payload.assignee"),
        (
            {"title": "x", "to_department_id": roads, "incident_id": str(uuid.uuid4())},
            "body.payload.incident_id",
        ),
        ({"title": "", "to_department_id": roads}, "body.payload.title"),
    ]
    for payload, field in cases:
        response = post(client, hq, "/api/v1/tasks", **payload)
        assert response.status_code == 422, payload
        assert response.json()["errors"][0]["field"] == field, payload
    refused = post(client, field_staff, "/api/v1/tasks", title="x", to_department_id=roads)
    assert refused.status_code == 403
    assert not Task.objects.exists()
