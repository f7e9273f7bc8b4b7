"""The standard datasets come from the live records with the exact headers and file names;
a change to the records makes them again; a file with errors is never published."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from django.test import Client

from machi.core.models import Facility, User
from machi.core.roles import Role
from machi.opendata import generators, services
from machi.opendata.models import Dataset, Resource
from machi.shelters.models import Opening
from machi.wifi.models import AccessPoint, Driver, ProfileKind, Site, SsidProfile


def rows_of(resource: Resource) -> list[list[str]]:
    text = bytes(resource.content).decode("utf-8")
    return list(csv.reader(io.StringIO(text, newline="")))


def published(name: str, key: str = "current") -> Resource:
    return Resource.objects.get(dataset__name=name, key=key)


def test_every_dataset_is_made_checked_and_published(city: list[Facility]) -> None:
    outcomes = services.refresh()
    assert outcomes, "nothing generated"
    refused = [
        (o.resource.dataset.name, o.report.issues[:3]) for o in outcomes if not o.report.published
    ]
    assert refused == []
    names = set(Dataset.objects.values_list("name", flat=True))
    assert {g.key for g in generators.GENERATORS} <= names
    space = published("evacuation_space")
    assert space.filename == "112241_evacuation_space.csv"
    table = rows_of(space)
    assert tuple(table[0]) == generators.EVACUATION_SPACE_CURRENT
    assert len(table) == 3  # the school and the park
    school = dict(
        zip(table[0], table[1] if table[1][2] == "戸田第一小学校" else table[2], strict=True)
    )
    assert school["全国地方公共団体コード"] == "112241"
    assert school["ID"] == "E1122400001001"
    assert school["所在地_連結表記"] == "埼玉県戸田市上戸田1-1-1"
    assert (school["所在地_町字"], school["所在地_番地以下"]) == ("上戸田", "1-1-1")
    assert school["町字ID"] == "0001001"
    assert school["緯度"] == "35.817500"
    assert school["災害種別_洪水"] == "1"
    assert school["災害種別_津波"] == ""
    assert school["指定避難所との重複"] == "1"
    assert school["想定収容人数"] == "300"
    assert school["対象となる町会・自治会"] == "上戸田一丁目;上戸田二丁目"
    old = rows_of(published("evacuation_space", "old"))
    assert tuple(old[0]) == generators.EVACUATION_SPACE_OLD
    park = next(r for r in table[1:] if r[2] == "戸田公園")
    # The stored address left out the prefecture and city: the dataset writes it whole.
    assert park[table[0].index("所在地_連結表記")] == "埼玉県戸田市下戸田2-3-4"
    shelters = rows_of(published("designated_shelter", "gsi"))
    assert tuple(shelters[0]) == generators.DESIGNATED_SHELTER_GSI
    assert sorted(r[3] for r in shelters[1:]) == ["戸田第一小学校", "福祉センター"]
    facilities = rows_of(published("public_facility"))
    assert tuple(facilities[0]) == generators.FACILITY_CURRENT
    assert len(facilities) == 5
    listing = rows_of(published("open_data_list"))
    assert tuple(listing[0]) == generators.OPEN_DATA_LIST
    assert any(row[7] == "112241_evacuation_space.csv" for row in listing[1:])


def test_nothing_is_made_again_until_the_records_change(city: list[Facility]) -> None:
    services.refresh()
    assert services.refresh() == []
    school = city[0]
    school.name_kana = "トダイチショウ"
    school.save()
    again = {o.resource.dataset.name for o in services.refresh()}
    assert {"evacuation_space", "designated_shelter", "public_facility"} <= again
    table = rows_of(published("evacuation_space"))
    assert any(r[3] == "トダイチショウ" for r in table[1:])


def test_a_file_with_errors_is_not_published_and_the_last_good_one_stays(
    city: list[Facility], client_for: Any, make_staff: Any
) -> None:
    services.refresh()
    before = bytes(published("evacuation_space").content)
    Facility.objects.filter(pk=city[1].pk).update(latitude=Decimal("1.000000"))
    Facility.objects.filter(pk=city[1].pk).update(name="戸田公園①")  # bumps nothing: forced below
    outcomes = services.dataset_generate(Dataset.objects.get(name="evacuation_space"), force=True)
    assert outcomes
    assert all(not o.report.published for o in outcomes)
    resource = published("evacuation_space")
    assert bytes(resource.content) == before
    report = resource.reports.first()
    assert report is not None
    assert report.errors >= 2
    columns = {issue["column"] for issue in report.issues}
    assert {"緯度", "名称"} <= columns
    staff: User = make_staff(Role.DX)
    page = client_for(staff).get("/console/opendata/evacuation_space/files/current/report/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "緯度" in text
    assert "not published" in text
    index = client_for(staff).get("/console/opendata/").content.decode()
    assert "error" in index


def test_dataset_07_lists_public_ssids_never_00000japan(city: list[Facility]) -> None:
    free = SsidProfile.objects.create(name="free", kind=ProfileKind.FREE, ssid="Toda_Free_Wi-Fi")
    staff = SsidProfile.objects.create(
        name="staff", kind=ProfileKind.STAFF, ssid="Toda_Staff", encryption="sae"
    )
    disaster = SsidProfile.objects.create(
        name="disaster", kind=ProfileKind.DISASTER, ssid="00000JAPAN"
    )
    for n, facility in enumerate(city[:2], start=1):
        ap = AccessPoint.objects.create(
            site=Site.objects.create(facility=facility, provides_area="体育館"),
            name=f"ap{n}",
            mac=f"02:00:00:00:00:{n:02x}",
            management_url=f"http://127.0.0.1:9/ap/{n}/ubus",
            driver=Driver.OPENWRT,
        )
        ap.profiles.set([free, staff, disaster])
    services.refresh()
    current = rows_of(published("public_wireless_lan"))
    assert tuple(current[0]) == generators.WIFI_CURRENT
    assert len(current) == 3
    text = bytes(published("public_wireless_lan").content).decode()
    assert "00000JAPAN" not in text
    assert "Toda_Staff" not in text
    old = rows_of(published("public_wireless_lan", "old"))
    assert tuple(old[0]) == generators.WIFI_OLD
    assert {r[14] for r in old[1:]} == {"Toda_Free_Wi-Fi"}
    # Turning an AP off changes the dataset at the next refresh.
    AccessPoint.objects.filter(name="ap1").update(enabled=False)
    services.refresh()
    assert len(rows_of(published("public_wireless_lan"))) == 2


def test_shelter_status_is_live_and_has_no_personal_data(
    city: list[Facility], hq: User, django_capture_on_commit_callbacks: Any
) -> None:
    from machi.emergency import services as emergency_services
    from machi.shelters import services as shelter_services

    services.refresh()
    quiet = rows_of(published("shelter_status"))
    assert {r[9] for r in quiet[1:]} == {"未開設"}
    with django_capture_on_commit_callbacks(execute=True):
        disaster = emergency_services.disaster_declare(
            name="台風", hazards=["flood"], declared_by=hq
        )
    opening = shelter_services.opening_open(shelter=city[0].shelter, disaster=disaster)
    Opening.objects.filter(pk=opening.pk).update(occupancy=290)
    # A download finds the file stale and makes it again at once.
    client = Client()
    response = client.get(
        "/opendata/dataset/shelter_status/resource/current/download/112241_shelter_status.csv"
    )
    assert response.status_code == 200
    table = list(csv.reader(io.StringIO(response.content.decode("utf-8"), newline="")))
    school = next(r for r in table[1:] if r[3] == "戸田第一小学校")
    assert (school[8], school[9], school[10]) == ("台風", "開設", "混雑")
    assert "290" not in response.content.decode()  # no head count


def test_downloads_utf8_and_excel_variants_with_etag(city: list[Facility]) -> None:
    Facility.objects.filter(pk=city[3].pk).update(name='=HYPERLINK("http://x")')
    services.refresh()
    client = Client()
    base = "/opendata/dataset/public_facility/resource/current"
    plain = client.get(f"{base}/download/112241_public_facility.csv")
    assert plain.status_code == 200
    assert plain["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="112241_public_facility.csv"' in plain["Content-Disposition"]
    assert not plain.content.startswith(b"\xef\xbb\xbf")
    excel = client.get(f"{base}/excel/112241_public_facility.csv")
    assert excel.content.startswith(b"\xef\xbb\xbf")
    assert "'=HYPERLINK" in excel.content.decode("utf-8-sig")
    assert "'=HYPERLINK" not in plain.content.decode()
    again = client.get(
        f"{base}/download/112241_public_facility.csv", HTTP_IF_NONE_MATCH=plain["ETag"]
    )
    assert again.status_code == 304
    assert client.get(f"{base}/download/other.csv").status_code == 404
    # The old address of dataset 07 leads to the catalogue's file.
    assert client.get("/opendata/public_wireless_lan.csv").status_code == 302


def test_the_command_prints_each_file(city: list[Facility]) -> None:
    from django.core.management import call_command

    out = io.StringIO()
    call_command("opendata", "generate", stdout=out)
    assert "evacuation_space:current published" in out.getvalue()
    out = io.StringIO()
    call_command("opendata", "generate", stdout=out)
    assert "Nothing changed." in out.getvalue()
