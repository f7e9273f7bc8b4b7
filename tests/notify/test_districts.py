"""学区: given the city's school districts, a resident who chose one hears about its areas."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from machi.core.models import Area
from machi.notify import services
from machi.notify.models import AreaGroup, Broadcast, BroadcastStatus, Delivery, Subscriber, Topic

pytestmark = pytest.mark.django_db

CSV = "学区,町字\n戸田東小学校区,上戸田\n戸田東小学校区,下戸田\n美女木小学校区,美女木\n"


@pytest.fixture
def districts(town: list[Area]) -> dict[str, AreaGroup]:
    Area.objects.create(municipality=town[0].municipality, name="美女木", machiaza_id="0001001")
    services.area_groups_import(data=CSV.encode("cp932"))
    return {g.name: g for g in AreaGroup.objects.all()}


def test_a_csv_in_cp932_makes_the_districts(districts: dict[str, AreaGroup]) -> None:
    east = districts["戸田東小学校区"]
    assert sorted(a.name for a in east.areas.all()) == ["上戸田", "下戸田"]
    assert [a.name for a in districts["美女木小学校区"].areas.all()] == ["美女木"]
    # Importing again replaces a district's areas (the city redrew it), all at once.
    services.area_groups_import(data="学区,町字ID\n戸田東小学校区,1001\n".encode())
    assert [a.name for a in east.areas.all()] == ["美女木"]


def test_a_bad_row_imports_nothing_and_names_line_and_column(
    town: list[Area], tmp_path: Path
) -> None:
    path = tmp_path / "gakku.csv"
    path.write_text("学区,町字\n戸田東小学校区,上戸田\n戸田東小学校区,火星\n", encoding="utf-8")
    with pytest.raises(CommandError, match=r"gakku.csv:3:町字: .*火星"):
        call_command("notify_districts", str(path))
    assert not AreaGroup.objects.exists()


def test_a_broadcast_to_an_area_reaches_who_chose_its_district(
    districts: dict[str, AreaGroup],
    town: list[Area],
    topics: dict[str, Topic],
    subscribe: Callable[..., Subscriber],
) -> None:
    upper = town[0]
    in_district = subscribe(topics=[topics["news"]])
    in_district.groups.set([districts["戸田東小学校区"]])
    elsewhere = subscribe(topics=[topics["news"]])
    elsewhere.groups.set([districts["美女木小学校区"]])
    citywide = subscribe(topics=[topics["news"]])
    broadcast = services.broadcast_create(
        text=services.Text(subject="s", body="b"), topics=[topics["news"]], areas=[upper]
    )
    Broadcast.objects.filter(pk=broadcast.pk).update(status=BroadcastStatus.SENDING)
    services.fan_out(broadcast=broadcast)
    reached = {d.subscriber for d in Delivery.objects.filter(broadcast=broadcast)}
    assert reached == {in_district, citywide}


def test_residents_choose_their_district_on_the_page(
    districts: dict[str, AreaGroup], topics: dict[str, Topic], client: Client, settings: Any
) -> None:
    page = client.get("/notify/").content.decode()
    assert "戸田東小学校区" in page
    subscriber = services.subscribe_webpush(
        subscription={
            "endpoint": "https://push.example.jp/send/1",
            "keys": {"p256dh": "B" + "A" * 86, "auth": "A" * 22},
        },
        choices=services.Choices(topics=[topics["news"]]),
    )
    manage = f"/notify/manage/{services.manage_token(subscriber)}/"
    group = districts["戸田東小学校区"]
    saved = client.post(
        manage, {"topics": [topics["news"].pk], "groups": [group.pk], "language": "ja"}
    )
    assert saved.status_code == 302
    assert list(subscriber.groups.all()) == [group]
