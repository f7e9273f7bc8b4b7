"""Staff in the field report what they see; HQ follows every report on a list and a map.

A report is recorded once however often the phone sends it, photos are what their bytes say
they are, every status change is a line of the chronology, and only the right roles get in.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from machi.core import services as core_services
from machi.core.models import Area, AuditEvent, Municipality, User
from machi.core.roles import Role
from machi.emergency import services_field
from machi.emergency.models import (
    ChronologyEntry,
    Department,
    Disaster,
    Incident,
    IncidentPhoto,
    IncidentStatus,
)
from machi.emergency.services_field import FieldError
from tests.core.test_api import bearer

# --- Given ------------------------------------------------------------------------------------


def image_bytes(kind: str = "JPEG", size: tuple[int, int] = (8, 6)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format=kind)
    return buffer.getvalue()


# The first bytes of an iPhone photo: an ISO BMFF 'ftyp' box of brand heic.
HEIC_HEAD = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
HEIF_GENERIC_HEAD = b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1miafheic" + b"\x00" * 64
AVIF_HEAD = b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + b"\x00" * 64


def upload(name: str, content: bytes, content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


def png_upload() -> SimpleUploadedFile:
    return upload("ok.png", image_bytes("PNG"), "image/png")


def heic_upload() -> SimpleUploadedFile:
    return upload("IMG_0002.HEIC", HEIC_HEAD, "image/heic")


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    """Each test stores its photos in a folder of its own."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


@pytest.fixture
def field_staff(make_staff: Callable[..., User]) -> User:
    return make_staff(Role.FIELD, username="field")


@pytest.fixture
def roads(field_staff: User) -> Department:
    department = services_field.department_upsert(name="道路公園課", name_en="Roads and Parks")
    department.members.add(field_staff)
    return department


@pytest.fixture
def naka(municipality: Municipality) -> Area:
    return core_services.area_get_or_create(municipality=municipality, name="中町1丁目")


def report(
    by: User | None = None, *, incident_id: uuid.UUID | None = None, **changes: Any
) -> services_field.ReportResult:
    values: dict[str, Any] = {
        "incident_id": incident_id or uuid.uuid4(),
        "category": "flooding",
        "severity": 3,
        "title": "道路冠水",
        "address": "中町1丁目3番",
        "reported_by": by,
    }
    values.update(changes)
    return services_field.incident_report(**values)


def history_texts(incident: Incident) -> list[str]:
    return list(
        ChronologyEntry.objects.filter(object_type="emergency.incident", object_id=str(incident.pk))
        .order_by("at", "id")
        .values_list("text", flat=True)
    )


# --- Services ---------------------------------------------------------------------------------


def test_a_report_sent_twice_is_recorded_once(field_staff: User, typhoon: Disaster) -> None:
    key = uuid.uuid4()
    first = report(field_staff, incident_id=key, photos=[upload("a.jpg", image_bytes())])
    again = report(field_staff, incident_id=key, photos=[upload("a.jpg", image_bytes())])
    assert (first.created, again.created) == (True, False)
    assert again.incident.pk == first.incident.pk
    assert Incident.objects.count() == 1
    assert IncidentPhoto.objects.count() == 1
    assert len(history_texts(first.incident)) == 1
    assert AuditEvent.objects.filter(action="create", object_type="emergency.incident").count() == 1


def test_a_new_report_is_a_line_of_the_current_disasters_chronology(
    field_staff: User, typhoon: Disaster, naka: Area, roads: Department
) -> None:
    incident = report(field_staff, area=naka, department=roads).incident
    assert incident.disaster == typhoon
    entry = ChronologyEntry.objects.get(object_type="emergency.incident", object_id=incident.pk)
    # Category, severity and the 町丁目: no title or street address, which every role would read.
    assert entry.text == "被害報告: 浸水（重大）中町1丁目"
    assert entry.important  # 重大 and worse are flagged for HQ
    assert entry.disaster == typhoon
    assert entry.department == "道路公園課"
    assert entry.actor == ""  # no request here; pages and the API record the person


def test_a_low_report_is_not_flagged_important(field_staff: User, typhoon: Disaster) -> None:
    incident = report(field_staff, severity=1, category="road", title="落石").incident
    entry = ChronologyEntry.objects.get(object_id=incident.pk)
    assert entry.text == "被害報告: 道路（軽微）"  # placed by a street address only
    assert not entry.important


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"address": ""}, "address", id="nowhere"),
        pytest.param({"latitude": "35.8"}, "longitude", id="half-a-point"),
        pytest.param({"latitude": "95", "longitude": "139.6"}, "latitude", id="off-the-globe"),
        pytest.param({"title": "   "}, "title", id="no-title"),
        pytest.param({"category": "meteor"}, "category", id="unknown-category"),
        pytest.param({"severity": 9}, "severity", id="unknown-severity"),
    ],
)
def test_a_report_that_cannot_be_placed_or_read_names_the_field(
    field_staff: User, changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(FieldError) as caught:
        report(field_staff, **changes)
    assert caught.value.field == field
    assert not Incident.objects.exists()


def test_a_point_alone_is_enough_and_is_kept_to_six_places(field_staff: User) -> None:
    incident = report(
        field_staff, address="", latitude=35.81749999999, longitude="139.6777781234"
    ).incident
    incident.refresh_from_db()
    assert (str(incident.latitude), str(incident.longitude)) == ("35.817500", "139.677778")


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        pytest.param(image_bytes("JPEG"), "image/jpeg", id="jpeg"),
        pytest.param(image_bytes("PNG"), "image/png", id="png"),
        pytest.param(image_bytes("WEBP"), "image/webp", id="webp"),
        pytest.param(HEIC_HEAD, "image/heic", id="heic"),
        pytest.param(HEIF_GENERIC_HEAD, "image/heic", id="heif-with-heic-brand"),
        pytest.param(AVIF_HEAD, None, id="avif"),
        pytest.param(image_bytes("GIF"), None, id="gif"),
        pytest.param(b"<script>alert(1)</script>", None, id="html"),
        pytest.param(b"%PDF-1.7\n", None, id="pdf"),
        pytest.param(b"", None, id="empty"),
    ],
)
def test_photos_are_recognised_by_their_bytes(head: bytes, expected: str | None) -> None:
    assert services_field.photo_content_type(head[:64]) == expected


def test_a_text_file_named_jpg_is_refused_and_nothing_is_stored(
    field_staff: User, media: Path
) -> None:
    fake = upload("IMG_0001.jpg", b"this is not a photo, only text\n")
    with pytest.raises(FieldError) as caught:
        report(field_staff, photos=[png_upload(), fake])
    assert caught.value.field == "photos"
    assert "IMG_0001.jpg" in str(caught.value)
    assert not Incident.objects.exists()
    assert not list(media.rglob("*.*"))


def test_a_photo_over_ten_megabytes_is_refused(field_staff: User) -> None:
    big = upload("big.jpg", image_bytes() + b"\x00" * (10 * 1024 * 1024))
    with pytest.raises(FieldError, match="10 MB"):
        report(field_staff, photos=[big])


def test_photos_are_stored_under_the_media_root_with_our_own_names(
    field_staff: User, media: Path
) -> None:
    incident = report(
        field_staff, photos=[upload("../../etc/passwd.jpg", image_bytes()), heic_upload()]
    ).incident
    photos = list(incident.photos.order_by("content_type"))
    assert [p.content_type for p in photos] == ["image/heic", "image/jpeg"]
    for photo in photos:
        path = Path(photo.image.path)
        assert path.is_file()
        assert path.is_relative_to(media)
        assert path.stem == str(photo.pk)
        assert photo.size == path.stat().st_size
    assert Path(django_settings.MEDIA_ROOT) == media


def test_status_goes_forwards_and_a_finished_incident_can_be_reopened(
    field_staff: User, typhoon: Disaster, naka: Area
) -> None:
    incident = report(field_staff, area=naka).incident
    for status in ("confirmed", "in_progress", "done", "in_progress"):
        incident = services_field.incident_set_status(incident=incident, status=status)
    assert incident.status == IncidentStatus.IN_PROGRESS
    assert history_texts(incident) == [
        "被害報告: 浸水（重大）中町1丁目",
        "確認: 浸水（中町1丁目）",
        "対応中: 浸水（中町1丁目）",
        "完了: 浸水（中町1丁目）",
        "再開・対応中: 浸水（中町1丁目）",
    ]
    updates = AuditEvent.objects.filter(action="update", object_id=str(incident.pk))
    assert updates.count() == 4


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        pytest.param(["confirmed"], "reported", id="back-to-reported"),
        pytest.param(["in_progress"], "confirmed", id="back-to-confirmed"),
        pytest.param(["done"], "confirmed", id="done-to-confirmed"),
        pytest.param(["done"], "reported", id="done-to-reported"),
        pytest.param([], "reported", id="same-status"),
        pytest.param([], "lost", id="unknown"),
    ],
)
def test_status_cannot_go_backwards(field_staff: User, path: list[str], refused: str) -> None:
    incident = report(field_staff).incident
    for status in path:
        incident = services_field.incident_set_status(incident=incident, status=status)
    with pytest.raises(FieldError) as caught:
        services_field.incident_set_status(incident=incident, status=refused)
    assert caught.value.field == "status"
    incident.refresh_from_db()
    assert incident.status == (path[-1] if path else "reported")


def test_a_report_can_skip_steps_the_field_already_did(field_staff: User) -> None:
    incident = report(field_staff).incident
    assert services_field.incident_next_statuses(incident.status) == [
        "confirmed",
        "in_progress",
        "done",
    ]
    assert services_field.incident_set_status(incident=incident, status="done").status == "done"
    assert services_field.incident_next_statuses("done") == ["in_progress"]


def test_assigning_a_department_is_recorded(
    field_staff: User, roads: Department, typhoon: Disaster
) -> None:
    incident = report(field_staff).incident
    services_field.incident_assign(incident=incident, department=roads)
    services_field.incident_assign(incident=incident, department=roads)  # no change, no line
    incident.refresh_from_db()
    assert incident.department == roads
    assert history_texts(incident)[1:] == ["担当: 道路公園課 — 道路冠水"]


# --- Pages ------------------------------------------------------------------------------------


def form_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "category": "flooding",
        "severity": "3",
        "title": "道路冠水 50cm",
        "description": "車両通行不可",
        "latitude": "35.817500",
        "longitude": "139.677778",
        "address": "",
        "area": "",
        "department": "",
    }
    data.update(changes)
    return data


def test_field_staff_report_from_the_phone_form_with_photos(
    client: Client, field_staff: User, typhoon: Disaster, naka: Area, roads: Department
) -> None:
    client.force_login(field_staff)
    shown = client.get("/console/incidents/new/")
    assert shown.status_code == 200
    key = shown.context["form"].initial["id"]
    assert isinstance(key, uuid.UUID)
    assert f'value="{key}"' in shown.content.decode()  # the client id travels with the form
    data = form_data(
        id=str(key),
        area=str(naka.pk),
        department=str(roads.pk),
        photos=[upload("a.jpg", image_bytes()), upload("b.webp", image_bytes("WEBP"), "")],
    )
    response = client.post("/console/incidents/new/", data)
    assert response.status_code == 302
    assert response["Location"] == f"/console/incidents/{key}/"
    incident = Incident.objects.get(pk=key)
    assert incident.reported_by == field_staff
    assert incident.photos.count() == 2
    entry = ChronologyEntry.objects.get(object_id=str(key))
    assert entry.actor == "field"  # the person who sent it

    # The double tap on a slow connection: the same form again records nothing more.
    data["photos"] = [upload("a.jpg", image_bytes())]
    again = client.post("/console/incidents/new/", data)
    assert again["Location"] == f"/console/incidents/{key}/"
    assert Incident.objects.count() == 1
    assert IncidentPhoto.objects.count() == 2

    page = client.get(f"/console/incidents/{key}/").content.decode()
    assert "道路冠水 50cm" in page
    assert page.count(f"/console/incidents/{key}/photos/") >= 2
    assert "被害報告: 浸水（重大）中町1丁目" in page  # the history


def test_a_photo_that_is_really_text_is_shown_on_the_photo_field(
    client: Client, field_staff: User
) -> None:
    client.force_login(field_staff)
    data = form_data(photos=[upload("photo.jpg", b"GIF89a? no: plain text")])
    response = client.post("/console/incidents/new/", data)
    assert response.status_code == 400
    form = response.context["form"]
    assert list(form.errors) == ["photos"]
    # Named together with the other mistakes, not only once they are fixed.
    both = client.post("/console/incidents/new/", {**data, "title": ""})
    assert sorted(both.context["form"].errors) == ["photos", "title"]
    assert "photo.jpg" in form.errors["photos"][0]
    page = response.content.decode()
    assert 'class="error-summary"' in page
    assert 'href="#id_photos"' in page
    assert not Incident.objects.exists()


def test_a_form_without_title_or_place_says_which_fields(client: Client, field_staff: User) -> None:
    client.force_login(field_staff)
    response = client.post(
        "/console/incidents/new/", form_data(title="", latitude="", longitude="")
    )
    assert response.status_code == 400
    assert "title" in response.context["form"].errors
    response = client.post("/console/incidents/new/", form_data(latitude="", longitude=""))
    assert list(response.context["form"].errors) == ["address"]


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        pytest.param(Role.HQ, 200, id="hq"),
        pytest.param(Role.FIELD, 200, id="field"),
        pytest.param(Role.SHELTER_STAFF, 200, id="shelter-staff"),
        pytest.param(Role.COUNTER, 200, id="counter"),
        pytest.param(Role.AUDITOR, 403, id="auditor"),
        pytest.param(Role.SYSADMIN, 403, id="sysadmin"),
        pytest.param(None, 403, id="no-role"),
    ],
)
def test_who_may_open_the_report_form(
    client: Client,
    make_staff: Callable[..., User],
    facilities: list[Any],
    role: Role | None,
    expected: int,
) -> None:
    user = make_staff(role, facilities=facilities[:1])
    client.force_login(user)
    assert client.get("/console/incidents/new/").status_code == expected
    posted = client.post("/console/incidents/new/", form_data())
    assert posted.status_code == (302 if expected == 200 else 403)


def test_the_console_sends_strangers_to_sign_in(client: Client, db: None) -> None:
    response = client.get("/console/incidents/")
    assert response.status_code == 302
    assert response["Location"].startswith("/console/login/")


def test_only_hq_and_the_field_change_the_status(
    client: Client,
    make_staff: Callable[..., User],
    field_staff: User,
    shelter_staff: User,
    hq: User,
) -> None:
    incident = report(field_staff).incident
    url = f"/console/incidents/{incident.pk}/status/"
    client.force_login(shelter_staff)
    assert client.get(f"/console/incidents/{incident.pk}/").status_code == 200
    assert client.post(url, {"status": "confirmed"}).status_code == 403
    client.force_login(field_staff)
    response = client.post(url, {"status": "confirmed"}, follow=True)
    assert response.status_code == 200
    client.force_login(hq)
    refused = client.post(url, {"status": "reported"}, follow=True)
    assert any("cannot go from" in str(m) for m in refused.context["messages"]) or any(
        "報告" in str(m) for m in refused.context["messages"]
    )
    incident.refresh_from_db()
    assert incident.status == "confirmed"
    page = client.get(f"/console/incidents/{incident.pk}/").content.decode()
    assert 'name="status" value="in_progress"' in page
    assert 'name="status" value="reported"' not in page


def test_the_incident_page_read_is_logged(client: Client, field_staff: User, hq: User) -> None:
    incident = report(field_staff).incident
    client.force_login(hq)
    client.get(f"/console/incidents/{incident.pk}/")
    assert AuditEvent.objects.filter(
        action="read", object_type="emergency.incident", object_id=str(incident.pk), actor_id=hq.pk
    ).exists()


def test_photos_are_served_only_through_the_access_check(
    client: Client,
    make_staff: Callable[..., User],
    field_staff: User,
    hq: User,
    media: Path,
) -> None:
    incident = report(field_staff, photos=[upload("a.jpg", image_bytes())]).incident
    photo = incident.photos.get()
    url = f"/console/incidents/{incident.pk}/photos/{photo.pk}"
    client.force_login(hq)
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "private" in response["Cache-Control"]
    assert b"".join(response.streaming_content) == image_bytes()  # type: ignore[attr-defined]
    assert AuditEvent.objects.filter(action="read", object_type="emergency.incidentphoto").exists()
    # Another incident's id with this photo: not found.
    assert client.get(f"/console/incidents/{uuid.uuid4()}/photos/{photo.pk}").status_code == 404
    # Not a role that reads incidents: refused.
    client.force_login(make_staff(Role.SYSADMIN, username="admin"))
    assert client.get(url).status_code == 403
    client.force_login(make_staff(None, username="nobody"))
    assert client.get(url).status_code == 403
    client.logout()
    assert client.get(url).status_code == 302
    # And the media folder is not served as static files.
    assert client.get(f"/media/{photo.image.name}").status_code == 404


def test_adding_photos_on_the_incident_page(client: Client, field_staff: User) -> None:
    incident = report(field_staff).incident
    client.force_login(field_staff)
    response = client.post(
        f"/console/incidents/{incident.pk}/photos/",
        {"photos": [upload("a.png", image_bytes("PNG")), upload("b.jpg", b"text")]},
        follow=True,
    )
    assert response.status_code == 200
    assert incident.photos.count() == 0  # all or nothing, as when reporting
    texts = [str(m) for m in response.context["messages"]]
    assert any("b.jpg" in text for text in texts)
    client.post(
        f"/console/incidents/{incident.pk}/photos/",
        {"photos": [upload("a.png", image_bytes("PNG")), upload("c.webp", image_bytes("WEBP"))]},
    )
    assert sorted(incident.photos.values_list("content_type", flat=True)) == [
        "image/png",
        "image/webp",
    ]
    assert client.post(f"/console/incidents/{incident.pk}/photos/", {}).status_code == 302
    assert incident.photos.count() == 2


# --- HQ's list, map and export ----------------------------------------------------------------


def test_hq_filters_the_list_and_sees_the_map_points(
    client: Client, field_staff: User, hq: User, roads: Department
) -> None:
    flood = report(field_staff, title="冠水", latitude="35.81", longitude="139.67").incident
    report(field_staff, title="倒木", category="road", severity=1, department=roads)
    done = report(field_staff, title="土砂", category="landslide", severity=4).incident
    services_field.incident_set_status(incident=done, status="done")
    client.force_login(hq)

    everything = client.get("/console/incidents/")
    assert everything.status_code == 200
    assert everything.context["page"].paginator.count == 3
    assert [p["name"] for p in everything.context["points"]] == ["冠水"]
    assert everything.context["points"][0]["status"] == "severity-3"
    assert everything.context["points"][0]["url"] == f"/console/incidents/{flood.pk}/"
    page = everything.content.decode()
    assert 'hx-trigger="every 15s"' in page
    assert 'id="incident-points"' in page

    def titles(**query: str) -> list[str]:
        response = client.get("/console/incidents/", query)
        return [i.title for i in response.context["page"]]

    assert titles(status="done") == ["土砂"]
    assert titles(category="road") == ["倒木"]
    assert titles(severity="4") == ["土砂"]
    assert titles(department=str(roads.pk)) == ["倒木"]
    assert titles(q="冠水") == ["冠水"]
    assert titles(q="ｄｏｅｓｎｏｔｅｘｉｓｔ") == []

    fragment = client.get("/console/incidents/", {"status": "done"}, HTTP_HX_REQUEST="true")
    body = fragment.content.decode()
    assert "<html" not in body
    assert body.startswith('<div id="incident-results"')
    assert "土砂" in body
    assert "冠水" not in body


def test_the_list_pages_by_fifty(client: Client, field_staff: User, hq: User) -> None:
    for n in range(55):
        report(field_staff, title=f"報告{n}")
    client.force_login(hq)
    first = client.get("/console/incidents/", {"category": "flooding"})
    assert len(first.context["page"]) == 50
    assert "category=flooding&amp;page=2" in first.content.decode()
    second = client.get("/console/incidents/", {"category": "flooding", "page": "2"})
    assert len(second.context["page"]) == 5


def test_hq_exports_csv_for_excel_and_the_export_is_logged(
    client: Client, field_staff: User, hq: User, naka: Area
) -> None:
    report(field_staff, title='=HYPERLINK("x")', area=naka)
    report(field_staff, title="倒木", category="road")
    client.force_login(hq)
    response = client.get("/console/incidents/export.csv", {"category": "flooding"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="incidents-')
    content = response.content
    assert content.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads UTF-8
    text = content.decode("utf-8-sig")
    lines = text.split("\r\n")
    assert lines[0].startswith("ID,報告日時,更新日時,状態,分類,重要度,件名")
    assert len([line for line in lines if line]) == 2  # the header and the flooding only
    assert "'=HYPERLINK" in text  # a formula is kept as text
    assert "中町1丁目" in text
    summary = AuditEvent.objects.get(action="export", object_id="")
    assert summary.object_type == "emergency.incident"
    assert summary.detail["rows"] == 1
    assert summary.detail["filters"] == {"category": "flooding"}
    assert AuditEvent.objects.filter(action="export").exclude(object_id="").count() == 1


@pytest.mark.parametrize("role", [Role.FIELD, Role.AUDITOR, Role.SHELTER_STAFF])
def test_only_hq_exports(
    client: Client, make_staff: Callable[..., User], facilities: list[Any], role: Role
) -> None:
    client.force_login(make_staff(role, facilities=facilities[:1]))
    assert client.get("/console/incidents/export.csv").status_code == 403
    listing = client.get("/console/incidents/")
    assert listing.status_code == 200
    assert "export.csv" not in listing.content.decode()
    assert not AuditEvent.objects.filter(action="export").exists()


# --- API --------------------------------------------------------------------------------------


def post(client: Client, user: User, url: str, **payload: Any) -> Any:
    return client.post(url, payload, content_type="application/json", **bearer(user))


def api_payload(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "category": "flooding",
        "severity": 3,
        "title": "道路冠水",
        "latitude": "35.8175",
        "longitude": "139.677778",
    }
    payload.update(changes)
    return payload


def test_api_report_is_idempotent_by_the_clients_id(
    client: Client, field_staff: User, typhoon: Disaster
) -> None:
    payload = api_payload()
    first = post(client, field_staff, "/api/v1/incidents", **payload)
    assert first.status_code == 201, first.content
    body = first.json()
    assert body["id"] == payload["id"]
    assert body["status"] == "reported"
    assert body["disaster_id"] == typhoon.pk
    assert body["reported_by"] == "field"
    assert body["url"] == f"/console/incidents/{payload['id']}/"
    replay = post(client, field_staff, "/api/v1/incidents", **{**payload, "title": "changed"})
    assert replay.status_code == 200
    assert replay.json() == body
    assert Incident.objects.count() == 1
    assert ChronologyEntry.objects.filter(object_id=payload["id"]).count() == 1
    entry = ChronologyEntry.objects.get(object_id=payload["id"])
    assert entry.actor == "field"


def test_api_lists_filters_and_reads_incidents(
    client: Client, field_staff: User, hq: User, auditor: User
) -> None:
    old = report(field_staff, title="古い").incident
    Incident.objects.filter(pk=old.pk).update(
        reported_at="2020-01-01T00:00:00Z", updated_at="2020-01-01T00:00:00Z"
    )
    road = report(field_staff, title="倒木", category="road", severity=1).incident
    services_field.incident_set_status(incident=road, status="confirmed")
    headers = bearer(auditor)

    def titles(**query: Any) -> list[str]:
        response = client.get("/api/v1/incidents", query, **headers)
        assert response.status_code == 200, response.content
        return [item["title"] for item in response.json()["items"]]

    assert titles() == ["倒木", "古い"]
    assert titles(status="confirmed") == ["倒木"]
    assert titles(category="flooding") == ["古い"]
    assert titles(severity=1) == ["倒木"]
    assert titles(since="2024-01-01T00:00:00+09:00") == ["倒木"]
    one = client.get(f"/api/v1/incidents/{road.pk}", **headers)
    assert one.json()["status"] == "confirmed"
    missing = client.get(f"/api/v1/incidents/{uuid.uuid4()}", **headers)
    assert missing.status_code == 404
    assert missing["Content-Type"] == "application/problem+json"
    bad = client.get("/api/v1/incidents", {"status": "lost"}, **headers)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "query.status"


@pytest.mark.parametrize(
    ("role", "create", "change"),
    [
        pytest.param(Role.HQ, 201, 200, id="hq"),
        pytest.param(Role.FIELD, 201, 200, id="field"),
        pytest.param(Role.SHELTER_STAFF, 201, 403, id="shelter-staff"),
        pytest.param(Role.COUNTER, 201, 403, id="counter"),
        pytest.param(Role.AUDITOR, 403, 403, id="auditor"),
        pytest.param(Role.SYSADMIN, 403, 403, id="sysadmin"),
    ],
)
def test_api_who_may_report_and_who_may_change_the_status(
    client: Client,
    make_staff: Callable[..., User],
    facilities: list[Any],
    field_staff: User,
    role: Role,
    create: int,
    change: int,
) -> None:
    user = make_staff(role, facilities=facilities[:1])
    created = post(client, user, "/api/v1/incidents", **api_payload())
    assert created.status_code == create
    if create == 403:
        assert created["Content-Type"] == "application/problem+json"
        assert not Incident.objects.exists()
    incident = report(field_staff).incident
    changed = post(client, user, f"/api/v1/incidents/{incident.pk}/status", status="confirmed")
    assert changed.status_code == change
    incident.refresh_from_db()
    assert incident.status == ("confirmed" if change == 200 else "reported")


def test_api_a_user_without_a_role_is_not_let_in(
    client: Client, make_staff: Callable[..., User]
) -> None:
    nobody = make_staff(None, username="nobody")
    response = post(client, nobody, "/api/v1/incidents", **api_payload())
    assert response.status_code == 401
    client.force_login(nobody)
    assert client.get("/console/incidents/").status_code == 403


def test_api_errors_name_the_field(client: Client, field_staff: User) -> None:
    missing = post(client, field_staff, "/api/v1/incidents", **api_payload(category=None))
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "body.payload.category"
    nowhere = post(
        client, field_staff, "/api/v1/incidents", **api_payload(latitude=None, longitude=None)
    )
    assert nowhere.status_code == 422
    assert nowhere["Content-Type"] == "application/problem+json"
    assert nowhere.json()["errors"][0]["field"] == "body.payload.address"
    area = post(client, field_staff, "/api/v1/incidents", **api_payload(area_id=999))
    assert area.json()["errors"][0]["field"] == "body.payload.area_id"
    department = post(client, field_staff, "/api/v1/incidents", **api_payload(department_id=999))
    assert department.json()["errors"][0]["field"] == "body.payload.department_id"
    incident = report(field_staff).incident
    backwards = post(
        client, field_staff, f"/api/v1/incidents/{incident.pk}/status", status="reported"
    )
    assert backwards.status_code == 422
    assert backwards.json()["errors"][0]["field"] == "body.payload.status"
    unknown = post(client, field_staff, f"/api/v1/incidents/{incident.pk}/status", status="lost")
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "body.payload.status"


def test_api_photo_upload_is_checked_by_its_bytes(
    client: Client, field_staff: User, auditor: User
) -> None:
    incident = report(field_staff).incident
    url = f"/api/v1/incidents/{incident.pk}/photos"
    good = client.post(url, {"file": upload("a.png", image_bytes("PNG"))}, **bearer(field_staff))
    assert good.status_code == 201, good.content
    body = good.json()
    assert body["content_type"] == "image/png"
    assert body["url"] == f"/console/incidents/{incident.pk}/photos/{body['id']}"
    text = client.post(url, {"file": upload("x.jpg", b"just words")}, **bearer(field_staff))
    assert text.status_code == 422
    assert text.json()["errors"][0]["field"] == "body.file"
    refused = client.post(url, {"file": upload("a.png", image_bytes("PNG"))}, **bearer(auditor))
    assert refused.status_code == 403
    assert incident.photos.count() == 1
    listed = client.get(f"/api/v1/incidents/{incident.pk}", **bearer(auditor)).json()
    assert [p["id"] for p in listed["photos"]] == [body["id"]]


def test_api_photo_replayed_with_its_client_id_is_stored_once(
    client: Client, field_staff: User
) -> None:
    incident = report(field_staff).incident
    other = report(field_staff, title="別件").incident
    url = f"/api/v1/incidents/{incident.pk}/photos"
    key = str(uuid.uuid4())

    def send(to: str = url) -> Any:
        data = {"file": upload("a.jpg", image_bytes()), "id": key}
        return client.post(to, data, **bearer(field_staff))

    first = send()
    assert first.status_code == 201, first.content
    assert first.json()["id"] == key
    again = send()
    assert again.status_code == 200
    assert again.json() == first.json()
    assert IncidentPhoto.objects.count() == 1
    elsewhere = send(f"/api/v1/incidents/{other.pk}/photos")
    assert elsewhere.status_code == 422
    assert elsewhere.json()["errors"][0]["field"] == "body.id"


def test_api_works_with_the_staff_session_too(client: Client, field_staff: User) -> None:
    client.force_login(field_staff)
    response = client.post("/api/v1/incidents", api_payload(), content_type="application/json")
    assert response.status_code == 201
