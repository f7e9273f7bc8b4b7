"""The datasets Machi generates from the other rooms' live records (read only).

Each generator knows its 自治体標準オープンデータセット layouts (exact headers, in order), how to
make their rows, and a cheap *fingerprint* of its source records: when the fingerprint changes the
files are made again (services.dataset_refresh). Values are written as the government's data
rules want them (GIF): dates YYYY-MM-DD, timestamps with +09:00, coordinates as 6-decimal
strings, flags "1" or empty, lists separated by ";".

Where the domain notes mark a column list unverified (指定避難所, 12 公共施設 current layout, the
catalogue list) the layout follows the nearest official one; docs/opendata.md says which.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Count, Max, Q
from django.utils import timezone

from machi.core import selectors as core_selectors
from machi.core.hazards import GSI_COLUMNS, Hazard
from machi.core.models import Area, Facility, FacilityKind

JST = dt.timezone(dt.timedelta(hours=9))

Row = list[str]


@dataclass(frozen=True)
class City:
    """What every row repeats about the municipality."""

    lgcode: str
    name: str
    prefecture: str


def city_current() -> City:
    municipality = core_selectors.municipality_current()
    if municipality is None:
        return City("", "", "")
    return City(municipality.lgcode, municipality.name, municipality.prefecture)


@dataclass(frozen=True)
class Layout:
    key: str  # "current", "old", "gsi": the resource's key in its dataset
    name: str  # as published: data are in Japanese whatever the reader's language
    name_en: str
    columns: tuple[str, ...]
    rows: Callable[[City], Iterable[Row]]


@dataclass(frozen=True)
class Generator:
    key: str  # also the dataset's name in the catalogue
    slug: str  # the file name after the code: {団体コード}_{slug}.csv
    title: str
    title_en: str
    notes: str
    notes_en: str
    tags: tuple[str, ...]
    theme: str
    frequency: str
    department: str
    fingerprint: Callable[[], str]
    layouts: tuple[Layout, ...] = field(default_factory=tuple)

    def filename(self, city: City) -> str:
        return f"{city.lgcode}_{self.slug}.csv" if city.lgcode else f"{self.slug}.csv"


# --- value formatting -----------------------------------------------------------------------


def coordinate(value: Decimal | None) -> str:
    return "" if value is None else f"{value:.6f}"


def flag(value: bool) -> str:
    return "1" if value else ""


def timestamp(value: dt.datetime | None) -> str:
    return "" if value is None else value.astimezone(JST).isoformat(timespec="seconds")


def day(value: dt.date | dt.datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = value.astimezone(JST).date()
    return value.isoformat()


def _digest(*parts: Any) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Address:
    """An address split the way the current layouts want it (所在地_*)."""

    full: str
    prefecture: str
    city: str
    town: str
    rest: str


FIRST_DIGIT = re.compile(r"[0-9０-９一二三四五六七八九十]+(?:丁目|番|-|－|の)|[0-9０-９]")


def split_address(address: str, city: City, area_name: str = "") -> Address:
    """Split 「埼玉県戸田市下戸田1-11-15」 into prefecture, city, 町字 and the rest. The prefecture
    and city are added when the stored address leaves them out, so 所在地_連結表記 is whole."""
    text = address.strip()
    rest = text
    if city.prefecture and rest.startswith(city.prefecture):
        rest = rest[len(city.prefecture) :]
    if city.name and rest.startswith(city.name):
        rest = rest[len(city.name) :]
    if area_name and rest.startswith(area_name):
        town, number = area_name, rest[len(area_name) :]
    else:
        match = FIRST_DIGIT.search(rest)
        town, number = (rest[: match.start()], rest[match.start() :]) if match else (rest, "")
    full = f"{city.prefecture}{city.name}{rest}" if rest or text else ""
    return Address(full, city.prefecture, city.name, town.strip(), number.strip())


# --- 03 指定緊急避難場所一覧 and 指定避難所 ---------------------------------------------------

HAZARD_COLUMNS = tuple(f"災害種別_{name}" for name in GSI_COLUMNS)
HAZARD_ORDER: tuple[Hazard, ...] = tuple(GSI_COLUMNS.values())

EVACUATION_SPACE_CURRENT = (
    "全国地方公共団体コード",
    "ID",
    "名称",
    "名称_カナ",
    "名称_英字",
    "所在地_全国地方公共団体コード",
    "町字ID",
    "所在地_連結表記",
    "所在地_都道府県",
    "所在地_市区町村",
    "所在地_町字",
    "所在地_番地以下",
    "建物名等(方書)",
    "緯度",
    "経度",
    "標高",
    "電話番号",
    "内線番号",
    "連絡先メールアドレス",
    "連絡先FormURL",
    "連絡先備考（その他、SNSなど）",
    "郵便番号",
    "市区町村コード",
    "地方公共団体名",
    *HAZARD_COLUMNS,
    "指定避難所との重複",
    "想定収容人数",
    "対象となる町会・自治会",
    "URL",
    "画像",
    "画像_ライセンス",
    "備考",
)
EVACUATION_SPACE_OLD = (
    "NO",
    "名称",
    "名称_カナ",
    "住所",
    "方書",
    "緯度",
    "経度",
    "標高",
    "電話番号",
    "内線番号",
    "市区町村コード",
    "都道府県名",
    "市区町村名",
    *HAZARD_COLUMNS,
    "指定避難所との重複",
    "想定収容人数",
    "対象となる町会・自治会",
    "URL",
    "備考",
)
DESIGNATED_SHELTER_GSI = (
    "NO",
    "共通ID",
    "都道府県名及び市町村名",
    "施設・場所名",
    "住所",
    "指定緊急避難場所との住所同一",
    "その他市町村長が必要と認める事項",
    "受入対象者",
    "緯度",
    "経度",
    "備考",
)

FACILITY_FIELDS = (
    "pk",
    "code",
    "name",
    "name_kana",
    "name_en",
    "address",
    "latitude",
    "longitude",
    "is_shelter",
    "is_evacuation_site",
    "is_welfare_shelter",
    "is_wifi_site",
    "is_office",
    "area__name",
    "area__machiaza_id",
)
SHELTER_FIELDS = (
    "shelter__pk",
    "shelter__capacity_day",
    "shelter__capacity_night",
    "shelter__capacity_text",
    "shelter__hazards",
    "shelter__phone",
    "shelter__email",
    "shelter__url",
    "shelter__target_areas",
    "shelter__notes",
    "shelter__gsi_shelter_id",
    "shelter__gsi_site_id",
)


def _facilities(condition: Q, *, with_shelter: bool = True) -> list[dict[str, Any]]:
    fields = FACILITY_FIELDS + (SHELTER_FIELDS if with_shelter else ())
    return list(
        Facility.objects.filter(condition).order_by("name_kana", "name", "pk").values(*fields)
    )


def _capacity(record: dict[str, Any]) -> str:
    for key in ("shelter__capacity_night", "shelter__capacity_day"):
        if record.get(key) is not None:
            return str(record[key])
    return ""


def _areas_served(record: dict[str, Any]) -> str:
    # Stored as free text separated by 、 or , in places; the standard wants ";".
    text = record.get("shelter__target_areas") or ""
    parts = [part.strip() for part in re.split(r"[;；、,，]", text)]
    return ";".join(part for part in parts if part)


def _hazard_flags(record: dict[str, Any]) -> list[str]:
    hazards = set(record.get("shelter__hazards") or ())
    return [flag(hazard.value in hazards) for hazard in HAZARD_ORDER]


def _id(city: City, record: dict[str, Any]) -> str:
    return record["code"] or f"{city.lgcode}-{record['pk']}"


def _one_line(text: str) -> str:
    return " ".join((text or "").split())


def evacuation_space_current(city: City) -> Iterable[Row]:
    for record in _facilities(Q(is_evacuation_site=True)):
        address = split_address(record["address"], city, record["area__name"] or "")
        yield [
            city.lgcode,
            _id(city, record),
            record["name"],
            record["name_kana"],
            record["name_en"],
            city.lgcode,
            record["area__machiaza_id"] or "",
            address.full,
            address.prefecture,
            address.city,
            address.town,
            address.rest,
            "",
            coordinate(record["latitude"]),
            coordinate(record["longitude"]),
            "",
            record["shelter__phone"] or "",
            "",
            record["shelter__email"] or "",
            "",
            "",
            "",
            city.lgcode,
            city.name,
            *_hazard_flags(record),
            flag(record["is_shelter"]),
            _capacity(record),
            _areas_served(record),
            record["shelter__url"] or "",
            "",
            "",
            _one_line(record["shelter__notes"] or ""),
        ]


def evacuation_space_old(city: City) -> Iterable[Row]:
    for number, record in enumerate(_facilities(Q(is_evacuation_site=True)), start=1):
        address = split_address(record["address"], city, record["area__name"] or "")
        yield [
            str(number),
            record["name"],
            record["name_kana"],
            address.full,
            "",
            coordinate(record["latitude"]),
            coordinate(record["longitude"]),
            "",
            record["shelter__phone"] or "",
            "",
            city.lgcode,
            city.prefecture,
            city.name,
            *_hazard_flags(record),
            flag(record["is_shelter"]),
            _capacity(record),
            _areas_served(record),
            record["shelter__url"] or "",
            _one_line(record["shelter__notes"] or ""),
        ]


def designated_shelter_gsi(city: City) -> Iterable[Row]:
    for number, record in enumerate(_facilities(Q(is_shelter=True)), start=1):
        address = split_address(record["address"], city, record["area__name"] or "")
        yield [
            str(number),
            record["shelter__gsi_shelter_id"] or _id(city, record),
            f"{city.prefecture}{city.name}",
            record["name"],
            address.full,
            flag(record["is_evacuation_site"]),
            "",
            "要配慮者" if record["is_welfare_shelter"] else "",
            coordinate(record["latitude"]),
            coordinate(record["longitude"]),
            _one_line(record["shelter__notes"] or ""),
        ]


def facilities_fingerprint() -> str:
    from machi.shelters.models import Shelter

    city = city_current()
    facilities = Facility.objects.aggregate(n=Count("pk"), at=Max("updated_at"), top=Max("pk"))
    shelters = Shelter.objects.aggregate(n=Count("pk"), at=Max("updated_at"))
    areas = Area.objects.aggregate(n=Count("pk"), top=Max("pk"))
    return _digest(city, facilities, shelters, areas)


# --- 07 公衆無線LANアクセスポイント一覧 ----------------------------------------------------------

WIFI_OLD = (
    "都道府県コード又は市区町村コード",
    "NO",
    "都道府県名",
    "市区町村名",
    "名称",
    "名称_カナ",
    "名称_英語",
    "住所",
    "方書",
    "緯度",
    "経度",
    "設置者",
    "電話番号",
    "内線番号",
    "SSID",
    "提供エリア",
    "URL",
    "備考",
)
WIFI_CURRENT = (
    "全国地方公共団体コード",
    "法人番号",
    "ID",
    "地方公共団体名",
    "名称",
    "名称_カナ",
    "名称_英語",
    "所在地_全国地方公共団体コード",
    "町字ID",
    "所在地_連結表記",
    "所在地_都道府県",
    "所在地_市区町村",
    "所在地_町字",
    "所在地_番地以下",
    "建物名等(方書)",
    "緯度",
    "経度",
    "設置者",
    "電話番号",
    "内線番号",
    "メールアドレス",
    "連絡先FormURL",
    "連絡先備考",
    "郵便番号",
    "SSID",
    "提供エリア",
    "URL",
    "備考",
)


def wifi_sites() -> list[tuple[dict[str, Any], list[str]]]:
    """Each Wi-Fi site with its public SSIDs: free profiles, not hidden, on managed APs.
    00000JAPAN is never listed: it does not exist in normal times (Wi-Biz guideline)."""
    from machi.wifi.models import DISASTER_SSID, AccessPoint, ProfileKind, Site

    ssids: dict[int, set[str]] = {}
    pairs = AccessPoint.objects.filter(
        enabled=True, profiles__kind=ProfileKind.FREE, profiles__hidden=False
    ).values_list("site_id", "profiles__ssid")
    for site_id, ssid in pairs:
        if ssid != DISASTER_SSID:
            ssids.setdefault(site_id, set()).add(ssid)
    sites = (
        Site.objects.filter(pk__in=ssids)
        .order_by("facility__name_kana", "facility__name", "pk")
        .values(
            "pk",
            "provides_area",
            "note",
            *(f"facility__{name}" for name in FACILITY_FIELDS if name != "pk"),
        )
    )
    result = []
    for site in sites:
        record = {key.removeprefix("facility__"): value for key, value in site.items()}
        record["pk"] = site["pk"]
        result.append((record, sorted(ssids[site["pk"]])))
    return result


def wifi_current(city: City) -> Iterable[Row]:
    for record, ssids in wifi_sites():
        address = split_address(record["address"], city, record["area__name"] or "")
        for ssid in ssids:
            yield [
                city.lgcode,
                "",
                f"{city.lgcode}-wifi-{record['pk']}-{ssid}",
                city.name,
                record["name"],
                record["name_kana"],
                record["name_en"],
                city.lgcode,
                record["area__machiaza_id"] or "",
                address.full,
                address.prefecture,
                address.city,
                address.town,
                address.rest,
                "",
                coordinate(record["latitude"]),
                coordinate(record["longitude"]),
                city.name,
                "",
                "",
                "",
                "",
                "",
                "",
                ssid,
                record["provides_area"],
                "",
                "",
            ]


def wifi_old(city: City) -> Iterable[Row]:
    number = 0
    for record, ssids in wifi_sites():
        address = split_address(record["address"], city, record["area__name"] or "")
        for ssid in ssids:
            number += 1
            yield [
                city.lgcode,
                str(number),
                city.prefecture,
                city.name,
                record["name"],
                record["name_kana"],
                record["name_en"],
                address.full,
                "",
                coordinate(record["latitude"]),
                coordinate(record["longitude"]),
                city.name,
                "",
                "",
                ssid,
                record["provides_area"],
                "",
                "",
            ]


def wifi_fingerprint() -> str:
    from machi.wifi.models import AccessPoint, Site, SsidProfile

    # AP rows change every minute (monitoring); only what the dataset shows is hashed.
    aps = list(
        AccessPoint.objects.order_by("pk").values_list("pk", "site_id", "enabled", "profiles__pk")
    )
    profiles = list(SsidProfile.objects.order_by("pk").values_list("pk", "kind", "ssid", "hidden"))
    sites = list(Site.objects.order_by("pk").values_list("pk", "facility_id", "provides_area"))
    return _digest(facilities_fingerprint(), aps, profiles, sites)


# --- 12 公共施設一覧 ------------------------------------------------------------------------

FACILITY_CURRENT = (
    "全国地方公共団体コード",
    "ID",
    "地方公共団体名",
    "名称",
    "名称_カナ",
    "名称_英字",
    "名称_通称",
    "POIコード",
    "所在地_全国地方公共団体コード",
    "町字ID",
    "所在地_連結表記",
    "所在地_都道府県",
    "所在地_市区町村",
    "所在地_町字",
    "所在地_番地以下",
    "建物名等(方書)",
    "緯度",
    "経度",
    "電話番号",
    "内線番号",
    "連絡先メールアドレス",
    "連絡先FormURL",
    "連絡先備考（その他、SNSなど）",
    "郵便番号",
    "法人番号",
    "団体名",
    "利用可能曜日",
    "開始時間",
    "終了時間",
    "利用可能日時特記事項",
    "説明",
    "バリアフリー情報",
    "URL",
    "画像",
    "画像_ライセンス",
    "備考",
)
FACILITY_OLD = (
    "都道府県コード又は市区町村コード",
    "NO",
    "都道府県名",
    "市区町村名",
    "名称",
    "名称_カナ",
    "名称_通称",
    "POIコード",
    "住所",
    "方書",
    "緯度",
    "経度",
    "電話番号",
    "内線番号",
    "法人番号",
    "団体名",
    "利用可能曜日",
    "開始時間",
    "終了時間",
    "利用可能日時特記事項",
    "説明",
    "バリアフリー情報",
    "URL",
    "備考",
)

KIND_NAMES = {
    FacilityKind.OFFICE: "庁舎",
    FacilityKind.SHELTER: "指定避難所",
    FacilityKind.WELFARE_SHELTER: "福祉避難所",
    FacilityKind.EVACUATION_SITE: "指定緊急避難場所",
    FacilityKind.WIFI_SITE: "公衆無線LAN",
}


def _kinds(record: dict[str, Any]) -> str:
    return ";".join(name for kind, name in KIND_NAMES.items() if record[f"is_{kind.value}"])


def facility_current(city: City) -> Iterable[Row]:
    for record in _facilities(Q(), with_shelter=True):
        address = split_address(record["address"], city, record["area__name"] or "")
        yield [
            city.lgcode,
            _id(city, record),
            city.name,
            record["name"],
            record["name_kana"],
            record["name_en"],
            "",
            "",
            city.lgcode,
            record["area__machiaza_id"] or "",
            address.full,
            address.prefecture,
            address.city,
            address.town,
            address.rest,
            "",
            coordinate(record["latitude"]),
            coordinate(record["longitude"]),
            record["shelter__phone"] or "",
            "",
            record["shelter__email"] or "",
            "",
            "",
            "",
            "",
            city.name,
            "",
            "",
            "",
            "",
            _kinds(record),
            "",
            record["shelter__url"] or "",
            "",
            "",
            "",
        ]


def facility_old(city: City) -> Iterable[Row]:
    for number, record in enumerate(_facilities(Q(), with_shelter=True), start=1):
        address = split_address(record["address"], city, record["area__name"] or "")
        yield [
            city.lgcode,
            str(number),
            city.prefecture,
            city.name,
            record["name"],
            record["name_kana"],
            "",
            "",
            address.full,
            "",
            coordinate(record["latitude"]),
            coordinate(record["longitude"]),
            record["shelter__phone"] or "",
            "",
            "",
            city.name,
            "",
            "",
            "",
            "",
            _kinds(record),
            "",
            record["shelter__url"] or "",
            "",
        ]


# --- 避難所開設状況 (live in a disaster) ----------------------------------------------------------

SHELTER_STATUS = (
    "全国地方公共団体コード",
    "ID",
    "地方公共団体名",
    "名称",
    "名称_カナ",
    "所在地_連結表記",
    "緯度",
    "経度",
    "災害名",
    "開設状況",
    "混雑状況",
    "想定収容人数",
    "開設日時",
    "閉鎖日時",
    "更新日時",
)
STATUS_NAMES = {"preparing": "開設準備", "open": "開設", "full": "開設", "closed": "閉鎖"}
CROWDING_NAMES = {"vacant": "空きあり", "crowded": "混雑", "full": "満員"}


def shelter_status(city: City) -> Iterable[Row]:
    """Every designated shelter with its state in the current disaster (未開設 in normal times).
    Counts of people are left out on purpose: residents see crowding, not numbers."""
    from machi.shelters import selectors as shelter_selectors
    from machi.shelters.models import Opening

    disaster = shelter_selectors.disaster_for(None)
    openings: dict[int, Opening] = {}
    if disaster is not None:
        openings = {o.shelter_id: o for o in Opening.objects.filter(disaster=disaster)}
    for record in _facilities(Q(is_shelter=True) & Q(shelter__isnull=False)):
        opening = openings.get(record["shelter__pk"])
        address = split_address(record["address"], city, record["area__name"] or "")
        state, crowding = "未開設", ""
        if opening is not None:
            state = STATUS_NAMES[opening.status]
            if opening.status in ("open", "full"):
                crowding = CROWDING_NAMES[shelter_selectors.crowding(opening)]
        yield [
            city.lgcode,
            _id(city, record),
            city.name,
            record["name"],
            record["name_kana"],
            address.full,
            coordinate(record["latitude"]),
            coordinate(record["longitude"]),
            disaster.name if disaster is not None and opening is not None else "",
            state,
            crowding,
            str(opening.capacity or "") if opening else _capacity(record),
            timestamp(opening.opened_at) if opening else "",
            timestamp(opening.closed_at) if opening else "",
            timestamp(opening.updated_at) if opening else "",
        ]


def shelter_status_fingerprint() -> str:
    from machi.shelters import selectors as shelter_selectors
    from machi.shelters.models import Opening

    disaster = shelter_selectors.disaster_for(None)
    openings = (
        Opening.objects.filter(disaster=disaster).aggregate(n=Count("pk"), at=Max("updated_at"))
        if disaster is not None
        else None
    )
    return _digest(facilities_fingerprint(), disaster.pk if disaster else None, openings)


# --- FAQ ------------------------------------------------------------------------------------


def faq_columns() -> tuple[str, ...]:
    from machi.guide import faq

    return tuple(faq.COLUMNS)


def faq_rows(city: City) -> Iterable[Row]:
    from machi.guide import faq
    from machi.guide.models import Entry

    entries = Entry.objects.filter(published=True).order_by("key")
    rows = faq.export_rows(entries, lgcode=city.lgcode)[1:]
    return ([_one_line(cell) if i == 3 else cell for i, cell in enumerate(row)] for row in rows)


def faq_fingerprint() -> str:
    from machi.guide.models import Entry

    return _digest(
        city_current(),
        Entry.objects.aggregate(n=Count("pk"), at=Max("changed_at"), top=Max("pk")),
        Entry.objects.filter(published=True).count(),
    )


# --- オープンデータ一覧 (the catalogue itself) ------------------------------------------------

OPEN_DATA_LIST = (
    "全国地方公共団体コード",
    "ID",
    "地方公共団体名",
    "データ名称",
    "概要",
    "分類",
    "キーワード",
    "ファイル名",
    "ファイル形式",
    "URL",
    "ライセンス",
    "公開日",
    "最終更新日",
    "更新頻度",
    "所管部署",
    "備考",
)
FREQUENCY_NAMES = {
    "continuous": "随時",
    "daily": "毎日",
    "weekly": "毎週",
    "monthly": "毎月",
    "annual": "毎年",
    "irregular": "不定期",
}
OPEN_DATA_LIST_KEY = "open_data_list"


def open_data_list(city: City) -> Iterable[Row]:
    from machi.opendata import services

    today = timezone.localdate()
    for dataset in services.datasets_public().prefetch_related("resources"):
        for resource in dataset.resources.all():
            own = dataset.generator == OPEN_DATA_LIST_KEY
            modified = today if own else resource.last_modified
            yield [
                city.lgcode,
                f"{dataset.name}-{resource.key}",
                city.name,
                f"{dataset.title} {resource.name}".strip(),
                _one_line(dataset.notes),
                dataset.theme,
                ";".join(dataset.tags),
                resource.filename,
                resource.format,
                services.resource_url(resource),
                dataset.license_id,
                day(dataset.issued),
                day(modified),
                FREQUENCY_NAMES.get(dataset.frequency, ""),
                dataset.department,
                "",
            ]


def open_data_list_fingerprint() -> str:
    from machi.opendata.models import Dataset, Resource

    others = Resource.objects.exclude(dataset__generator=OPEN_DATA_LIST_KEY)
    return _digest(
        city_current(),
        timezone.localdate(),
        Dataset.objects.aggregate(n=Count("pk"), at=Max("metadata_modified")),
        others.aggregate(n=Count("pk"), at=Max("last_modified")),
    )


# --- the registry ---------------------------------------------------------------------------

DISASTER_DEPARTMENT = "危機管理課"

GENERATORS: tuple[Generator, ...] = (
    Generator(
        key="evacuation_space",
        slug="evacuation_space",
        title="指定緊急避難場所一覧",
        title_en="Designated emergency evacuation sites",
        notes="災害対策基本法に基づき市が指定した緊急避難場所と、対応する災害の種別。"
        "自治体標準オープンデータセット「03 指定緊急避難場所一覧」の形式（現行版と旧版）。",
        notes_en="Emergency evacuation sites designated by the city under the Disaster "
        "Countermeasures Basic Act, with the hazards each suits (standard dataset 03).",
        tags=("防災", "避難場所", "自治体標準オープンデータセット"),
        theme="防災・安全",
        frequency="irregular",
        department=DISASTER_DEPARTMENT,
        fingerprint=facilities_fingerprint,
        layouts=(
            Layout(
                "current",
                "現行版",
                "Current layout",
                EVACUATION_SPACE_CURRENT,
                evacuation_space_current,
            ),
            Layout(
                "old",
                "旧版（2019年 推奨データセット）",
                "Old layout (2019)",
                EVACUATION_SPACE_OLD,
                evacuation_space_old,
            ),
        ),
    ),
    Generator(
        key="designated_shelter",
        slug="designated_shelter",
        title="指定避難所一覧",
        title_en="Designated shelters",
        notes="災害時に避難者が滞在する指定避難所。国土地理院の指定避難所データと同じ列構成"
        "（緯度・経度付き）。",
        notes_en="Shelters where evacuees stay in a disaster, in the layout of the GSI "
        "(Geospatial Information Authority) shelter data, with coordinates.",
        tags=("防災", "避難所"),
        theme="防災・安全",
        frequency="irregular",
        department=DISASTER_DEPARTMENT,
        fingerprint=facilities_fingerprint,
        layouts=(
            Layout(
                "gsi",
                "国土地理院形式",
                "GSI layout",
                DESIGNATED_SHELTER_GSI,
                designated_shelter_gsi,
            ),
        ),
    ),
    Generator(
        key="public_wireless_lan",
        slug="public_wireless_lan",
        title="公衆無線LANアクセスポイント一覧",
        title_en="Public Wi-Fi access points",
        notes="市の公共施設で利用できる無料公衆無線LANのSSIDと提供エリア。災害時に開放される"
        "00000JAPANは平常時には存在しないため掲載しません。自治体標準オープンデータセット「07」。",
        notes_en="Free public Wi-Fi at city facilities: SSID and coverage (standard dataset "
        "07). 00000JAPAN, opened only in disasters, is not listed.",
        tags=("Wi-Fi", "公衆無線LAN", "自治体標準オープンデータセット"),
        theme="情報通信",
        frequency="irregular",
        department="情報政策課",
        fingerprint=wifi_fingerprint,
        layouts=(
            Layout("current", "現行版", "Current layout", WIFI_CURRENT, wifi_current),
            Layout(
                "old", "旧版（2019年 推奨データセット）", "Old layout (2019)", WIFI_OLD, wifi_old
            ),
        ),
    ),
    Generator(
        key="public_facility",
        slug="public_facility",
        title="公共施設一覧",
        title_en="Public facilities",
        notes="市の公共施設（庁舎、避難所、避難場所、公衆無線LANのある施設など）。"
        "自治体標準オープンデータセット「12 公共施設一覧」の形式（現行版と旧版）。",
        notes_en="The city's public facilities (offices, shelters, evacuation sites, Wi-Fi "
        "sites), standard dataset 12.",
        tags=("公共施設", "自治体標準オープンデータセット"),
        theme="行政",
        frequency="irregular",
        department="財産管理課",
        fingerprint=facilities_fingerprint,
        layouts=(
            Layout("current", "現行版", "Current layout", FACILITY_CURRENT, facility_current),
            Layout(
                "old",
                "旧版（2019年 推奨データセット）",
                "Old layout (2019)",
                FACILITY_OLD,
                facility_old,
            ),
        ),
    ),
    Generator(
        key="shelter_status",
        slug="shelter_status",
        title="避難所開設状況",
        title_en="Shelter opening status",
        notes="災害時の指定避難所の開設状況と混雑状況（空きあり・混雑・満員）。開設中は随時更新"
        "されます。個人に関する情報は含みません。",
        notes_en="Whether each shelter is open in the current disaster and how crowded it is, "
        "updated as it changes. No personal data.",
        tags=("防災", "避難所", "リアルタイム"),
        theme="防災・安全",
        frequency="continuous",
        department=DISASTER_DEPARTMENT,
        fingerprint=shelter_status_fingerprint,
        layouts=(Layout("current", "開設状況", "Live status", SHELTER_STATUS, shelter_status),),
    ),
    Generator(
        key="faq",
        slug="faq",
        title="よくある質問（FAQ）",
        title_en="Frequently asked questions",
        notes="市のよくある質問と回答。AI案内チャットが答えに使う内容と同じです。",
        notes_en="The city's questions and answers, as the guidance chat uses them.",
        tags=("FAQ", "行政サービス"),
        theme="行政",
        frequency="irregular",
        department="広報課",
        fingerprint=faq_fingerprint,
        layouts=(Layout("current", "FAQ", "FAQ", (), faq_rows),),
    ),
    Generator(
        key=OPEN_DATA_LIST_KEY,
        slug="open_data_list",
        title="オープンデータ一覧",
        title_en="List of open data",
        notes="市が公開しているオープンデータの一覧（このカタログの内容）。",
        notes_en="Every open dataset the city publishes (this catalogue).",
        tags=("オープンデータ", "自治体標準オープンデータセット"),
        theme="行政",
        frequency="irregular",
        department="情報政策課",
        fingerprint=open_data_list_fingerprint,
        layouts=(Layout("current", "現行版", "Current layout", OPEN_DATA_LIST, open_data_list),),
    ),
)
BY_KEY = {generator.key: generator for generator in GENERATORS}


def columns_of(layout: Layout) -> Sequence[str]:
    return layout.columns or faq_columns()
