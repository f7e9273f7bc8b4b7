"""What each standard column holds, for the validators: the kind of value by column name.

The names are the same across the 自治体標準オープンデータセット, so one table serves every
layout Machi writes (and files staff bring from elsewhere)."""

from __future__ import annotations

from collections.abc import Sequence

from machi.opendata.validation import Column

LGCODE = {
    "全国地方公共団体コード",
    "所在地_全国地方公共団体コード",
    "都道府県コード又は市区町村コード",
    "市区町村コード",
}
KINDS = {
    "緯度": "latitude",
    "経度": "longitude",
    "町字ID": "machiaza_id",
    "郵便番号": "postcode",
    "電話番号": "phone",
    "URL": "url",
    "関連URL": "url",
    "連絡先FormURL": "url",
    "画像": "url",
    "連絡先メールアドレス": "email",
    "メールアドレス": "email",
    "法人番号": "corporate_number",
    "開始時間": "time",
    "終了時間": "time",
    "更新日": "date",
    "公開日": "date",
    "最終更新日": "date",
    "開設日時": "datetime",
    "閉鎖日時": "datetime",
    "更新日時": "datetime",
    "想定収容人数": "integer",
    "標高": "decimal",
    "指定避難所との重複": "flag",
    "指定緊急避難場所との住所同一": "flag",
    "対象となる町会・自治会": "list",
    "キーワード": "list",
    "名称_英字": "alphabet",
    "名称_英語": "alphabet",
}
REQUIRED = {"名称", "施設・場所名", "質問", "回答", "データ名称"}


def column_for(name: str) -> Column:
    if name in LGCODE:
        return Column(name, "lgcode", required=name != "市区町村コード")
    if name in ("ID", "NO", "共通ID"):
        return Column(name, "integer" if name == "NO" else "id", required=True, unique=True)
    if name.startswith("災害種別_"):
        return Column(name, "flag")
    if name.endswith("_カナ"):
        return Column(name, "kana")
    return Column(name, KINDS.get(name, "text"), required=name in REQUIRED)


def columns_for(names: Sequence[str]) -> list[Column]:
    return [column_for(name) for name in names]
