"""自治体標準オープンデータセット 07 公衆無線LANアクセスポイント一覧, from the registry.

One row per site and public SSID (the free Wi-Fi profiles its APs broadcast in normal times).
00000JAPAN is never listed: it does not exist in normal times (Wi-Biz guideline), and staff
SSIDs are not public. Two layouts: the old one (18 columns, as 焼津市 publishes it) and the
current one (as 熊本市 publishes it); column names follow wifi.md's notes of the definition.
"""

from __future__ import annotations

from decimal import Decimal

from machi.core import selectors as core_selectors
from machi.wifi.models import DISASTER_SSID, ProfileKind, Site

OLD_COLUMNS = [
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
]
CURRENT_COLUMNS = [
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
]


def _coordinate(value: Decimal | None) -> str:
    return f"{value:.6f}" if value is not None else ""


def public_ssids(site: Site) -> list[str]:
    ssids = {
        profile.ssid
        for ap in site.access_points.all()
        if ap.enabled
        for profile in ap.profiles.all()
        if profile.kind == ProfileKind.FREE and not profile.hidden
    }
    ssids.discard(DISASTER_SSID)
    return sorted(ssids)


def dataset_rows(layout: str = "current") -> list[list[str]]:
    """The header and the rows of dataset 07 in the layout asked for ("current" or "old")."""
    municipality = core_selectors.municipality_current()
    code = municipality.lgcode if municipality is not None else ""
    prefecture = municipality.prefecture if municipality is not None else ""
    city = municipality.name if municipality is not None else ""
    sites = Site.objects.select_related("facility").prefetch_related("access_points__profiles")
    rows: list[list[str]] = [OLD_COLUMNS if layout == "old" else CURRENT_COLUMNS]
    number = 0
    for site in sites.order_by("facility__name_kana", "facility__name"):
        facility = site.facility
        for ssid in public_ssids(site):
            number += 1
            lat, lon = _coordinate(facility.latitude), _coordinate(facility.longitude)
            if layout == "old":
                rows.append(
                    [code, str(number), prefecture, city, facility.name, facility.name_kana,
                     facility.name_en, facility.address, "", lat, lon, city, "", "", ssid,
                     site.provides_area, "", ""]
                )  # fmt: skip
            else:
                rows.append(
                    [code, "", f"{code}-wifi-{site.pk}-{number}", city, facility.name,
                     facility.name_kana, facility.name_en, code, "", facility.address,
                     prefecture, city, "", "", "", lat, lon, city, "", "", "", "", "", "",
                     ssid, site.provides_area, "", ""]
                )  # fmt: skip
    return rows
