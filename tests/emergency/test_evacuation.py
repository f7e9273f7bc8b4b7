"""HQ issues 避難情報 per area and hazard, raises, lowers and lifts them.

Each step is a CAP alert."""

from typing import Any

import pytest

from machi.core.models import Area, Municipality, User
from machi.emergency import cap, services
from machi.emergency.models import CapMessage, ChronologyEntry, EvacuationOrder


@pytest.fixture
def areas(municipality: Municipality) -> list[Area]:
    return [
        Area.objects.create(municipality=municipality, name=name, machiaza_id=f"00{n:02d}001")
        for n, name in enumerate(["上戸田一丁目", "下戸田二丁目", "新曽"], start=1)
    ]


def parsed(message: CapMessage) -> cap.ParsedAlert:
    data = message.document.encode("utf-8")
    assert cap.validate_cap(data) == "1.2"
    return cap.parse_alert(data)


def test_issuing_publishes_a_valid_cap_alert_and_writes_the_chronology(
    hq: User, areas: list[Area]
) -> None:
    order = services.evacuation_issue(level=4, hazard="flood", areas=areas[:2], issued_by=hq)
    message = order.cap_messages.get()
    alert = parsed(message)
    assert alert.msg_type == "Alert"
    assert alert.identifier == order.cap_identifier
    japanese = alert.infos[0]
    assert japanese.language == "ja-JP"
    assert "避難指示" in japanese.event
    assert [a.desc for a in japanese.areas] == ["上戸田一丁目", "下戸田二丁目"]
    assert (
        ("町字ID", order.areas.first().machiaza_id)
        in [  # type: ignore[union-attr]
            (name, value[-7:]) for name, value in japanese.areas[0].geocodes
        ]
    )
    line = ChronologyEntry.objects.get(object_id=str(order.pk))
    assert "警戒レベル4" in line.text
    assert line.important


def test_raising_the_level_supersedes_the_order_in_force_with_an_update(
    hq: User, areas: list[Area]
) -> None:
    first = services.evacuation_issue(level=3, hazard="flood", areas=areas[:2], issued_by=hq)
    second = services.evacuation_issue(level=4, hazard="flood", areas=areas[:2], issued_by=hq)
    first.refresh_from_db()
    assert first.lifted_at is not None
    assert first.superseded_by == second
    alert = parsed(second.cap_messages.get())
    assert alert.msg_type == "Update"
    assert [r.identifier for r in alert.references] == [first.cap_identifier]


def test_a_new_order_for_some_areas_narrows_the_old_one(hq: User, areas: list[Area]) -> None:
    wide = services.evacuation_issue(level=3, hazard="flood", areas=areas, issued_by=hq)
    services.evacuation_issue(level=4, hazard="flood", areas=areas[:1], issued_by=hq)
    wide.refresh_from_db()
    assert wide.lifted_at is None
    assert set(wide.areas.all()) == {areas[1], areas[2]}


def test_other_hazards_are_independent(hq: User, areas: list[Area]) -> None:
    flood = services.evacuation_issue(level=4, hazard="flood", areas=areas, issued_by=hq)
    services.evacuation_issue(level=3, hazard="landslide", areas=areas, issued_by=hq)
    flood.refresh_from_db()
    assert flood.lifted_at is None


def test_lifting_all_areas_is_a_cancel(hq: User, areas: list[Area]) -> None:
    order = services.evacuation_issue(level=5, hazard="flood", areas=areas, issued_by=hq)
    services.evacuation_lift(order=order, lifted_by=hq)
    order.refresh_from_db()
    assert order.lifted_at is not None
    cancel = parsed(order.cap_messages.order_by("sent", "id").last())  # type: ignore[arg-type]
    assert cancel.msg_type == "Cancel"
    assert cancel.references[0].identifier == order.cap_identifier
    assert cancel.infos[0].response_types == ("AllClear",)
    with pytest.raises(services.DisasterError):
        services.evacuation_lift(order=order, lifted_by=hq)


def test_lifting_some_areas_is_an_update_that_keeps_the_rest(hq: User, areas: list[Area]) -> None:
    order = services.evacuation_issue(level=4, hazard="flood", areas=areas, issued_by=hq)
    services.evacuation_lift(order=order, lifted_by=hq, areas=areas[:1])
    order.refresh_from_db()
    assert order.lifted_at is None
    assert set(order.areas.all()) == {areas[1], areas[2]}
    update = parsed(order.cap_messages.order_by("sent", "id").last())  # type: ignore[arg-type]
    assert update.msg_type == "Update"
    descs = {a.desc for info in update.infos for a in info.areas}
    assert {"上戸田一丁目", "下戸田二丁目", "新曽"} <= descs


def test_whole_city_orders_name_the_municipality(
    hq: User, municipality: Municipality, areas: list[Area]
) -> None:
    order = services.evacuation_issue(level=4, hazard="flood", whole_city=True, issued_by=hq)
    alert = parsed(order.cap_messages.get())
    area = alert.infos[0].areas[0]
    assert municipality.name in area.desc
    assert any(value.startswith(municipality.lgcode[:5]) for _, value in area.geocodes)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"level": 2, "hazard": "flood", "whole_city": True}, "level"),
        ({"level": 4, "hazard": "meteor", "whole_city": True}, "hazard"),
        ({"level": 4, "hazard": "flood"}, "areas"),
    ],
)
def test_bad_orders_are_refused_and_nothing_is_saved(
    hq: User, municipality: Municipality, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(services.DisasterError, match=message):
        services.evacuation_issue(issued_by=hq, **kwargs)
    assert not EvacuationOrder.objects.exists()
    assert not CapMessage.objects.exists()


def test_order_responders_run_after_commit_and_report_to_the_chronology(
    hq: User, areas: list[Area], settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.MACHI_ORDER_RESPONDERS = ["tests.emergency.test_evacuation.tell_residents"]
    with django_capture_on_commit_callbacks(execute=True):
        order = services.evacuation_issue(level=4, hazard="flood", areas=areas, issued_by=hq)
    assert [(order.pk, "issued", [a.pk for a in areas])] == SENT
    assert ChronologyEntry.objects.filter(text__contains="3 areas told").exists()


SENT: list[tuple[int, str, list[int]]] = []


def tell_residents(order: EvacuationOrder, event: str, areas: list[Area]) -> Any:
    from machi.emergency.responders import Outcome

    SENT.append((order.pk, event, [a.pk for a in areas]))
    return Outcome(summary=f"{len(areas)} areas told")


# --- pages, documents and API ----------------------------------------------------------------


def test_hq_issues_and_lifts_through_the_page(hq: User, areas: list[Area], client_for: Any) -> None:
    client = client_for(hq)
    response = client.post(
        "/console/disasters/evacuation/",
        {"level": "4", "hazard": "flood", "areas": [areas[0].pk, areas[1].pk], "note": "荒川"},
    )
    assert response.status_code == 302
    order = EvacuationOrder.objects.get()
    page = client.get("/console/disasters/evacuation/").content.decode()
    assert "上戸田一丁目" in page
    assert order.cap_identifier in page
    response = client.post(
        f"/console/disasters/evacuation/{order.pk}/lift/", {"areas": [areas[0].pk]}
    )
    assert response.status_code == 302
    order.refresh_from_db()
    assert list(order.areas.all()) == [areas[1]]


def test_the_page_says_which_field_is_wrong(hq: User, areas: list[Area], client_for: Any) -> None:
    response = client_for(hq).post("/console/disasters/evacuation/", {"level": "4"})
    assert response.status_code == 400
    assert not EvacuationOrder.objects.exists()


def test_only_hq_issues(counter: User, areas: list[Area], client_for: Any) -> None:
    client = client_for(counter)
    assert client.get("/console/disasters/evacuation/").status_code == 200
    response = client.post(
        "/console/disasters/evacuation/",
        {"level": "4", "hazard": "flood", "whole_city": "on"},
    )
    assert response.status_code == 403
    assert not EvacuationOrder.objects.exists()


def test_residents_see_the_order_on_every_page_and_the_public_page(
    hq: User, areas: list[Area], client: Any
) -> None:
    services.evacuation_issue(level=5, hazard="flood", areas=areas[:1], issued_by=hq)
    home = client.get("/").content.decode()
    assert "evacuation-banner--5" in home
    page = client.get("/evacuation/").content.decode()
    assert "上戸田一丁目" in page
    assert "level--5" in page


def test_cap_documents_and_the_feed_are_public_and_valid(
    hq: User, areas: list[Area], client: Any
) -> None:
    order = services.evacuation_issue(level=4, hazard="flood", areas=areas, issued_by=hq)
    services.evacuation_lift(order=order, lifted_by=hq)
    for message in CapMessage.objects.all():
        response = client.get(f"/cap/{message.identifier}.xml")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("application/cap+xml")
        assert cap.validate_cap(response.content) == "1.2"
    feed = client.get("/cap/feed.atom")
    assert feed.status_code == 200
    assert feed.content.count(b"<entry>") == 2
    assert b"application/cap+xml" in feed.content
    assert client.get("/cap/nothing.xml").status_code == 404


def test_the_api_issues_lists_and_lifts(hq: User, areas: list[Area], api_client_for: Any) -> None:
    api = api_client_for(hq)
    response = api.post(
        "/api/v1/evacuation-orders",
        {"level": 4, "hazard": "flood", "areas": [areas[0].pk, areas[1].machiaza_id, "新曽"]},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["cap_identifier"]
    assert body["cap_url"].endswith(".xml")
    assert sorted(body["areas"]) == sorted(a.name for a in areas)
    listed = api.get("/api/v1/evacuation-orders").json()
    assert [o["id"] for o in listed] == [body["id"]]
    lifted = api.post(
        f"/api/v1/evacuation-orders/{body['id']}/lift", {}, content_type="application/json"
    )
    assert lifted.status_code == 200
    assert lifted.json()["active"] is False
    again = api.post(
        f"/api/v1/evacuation-orders/{body['id']}/lift", {}, content_type="application/json"
    )
    assert again.status_code == 409


def test_the_api_names_the_bad_area(hq: User, areas: list[Area], api_client_for: Any) -> None:
    response = api_client_for(hq).post(
        "/api/v1/evacuation-orders",
        {"level": 4, "hazard": "flood", "areas": [areas[0].pk, "どこにもない町"]},
        content_type="application/json",
    )
    assert response.status_code == 422
    assert "areas[1]" in response.content.decode()
    assert not EvacuationOrder.objects.exists()


def test_the_api_refuses_level_2_and_other_roles(
    counter: User, hq: User, areas: list[Area], api_client_for: Any
) -> None:
    bad = api_client_for(hq).post(
        "/api/v1/evacuation-orders",
        {"level": 2, "hazard": "flood", "whole_city": True},
        content_type="application/json",
    )
    assert bad.status_code == 422
    refused = api_client_for(counter).post(
        "/api/v1/evacuation-orders",
        {"level": 4, "hazard": "flood", "whole_city": True},
        content_type="application/json",
    )
    assert refused.status_code == 403
