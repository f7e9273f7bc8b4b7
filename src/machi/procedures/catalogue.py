"""The procedures a city starts with (loaded by `machi demo`, or by a city as a start).

Fees are those of most cities for certificates (300 円 per copy); a city edits them. The forms
ask only what the back office needs to find the record: never the My Number.
"""

from __future__ import annotations

from typing import Any

from machi.procedures.models import Procedure
from machi.procedures.services import form_check, offered_forget

COPIES = {
    "name": "copies",
    "label": "通数",
    "label_en": "Copies",
    "type": "number",
    "required": True,
    "min": 1,
    "max": 10,
}
PURPOSE = {
    "name": "purpose",
    "label": "使用目的",
    "label_en": "Purpose",
    "type": "text",
    "required": True,
    "max_length": 100,
}

CATALOGUE: tuple[dict[str, Any], ...] = (
    {
        "slug": "juminhyo",
        "name": "住民票の写しの交付請求",
        "name_en": "Copy of the residence record (住民票の写し)",
        "department": "市民課",
        "identity_level": "jpki",
        "fee_yen": 300,
        "deliveries": ["mail", "counter"],
        "target_days": 3,
        "form": [
            COPIES,
            {
                "name": "scope",
                "label": "記載する人",
                "label_en": "Who is shown",
                "type": "choice",
                "required": True,
                "choices": [
                    {"value": "self", "label": "本人のみ"},
                    {"value": "household", "label": "世帯全員"},
                ],
            },
            {
                "name": "with_relationship",
                "label": "続柄を記載する",
                "label_en": "Show the relationship",
                "type": "checkbox",
            },
            PURPOSE,
        ],
    },
    {
        "slug": "inkan",
        "name": "印鑑登録証明書の交付請求",
        "name_en": "Certificate of the registered seal (印鑑登録証明書)",
        "department": "市民課",
        "identity_level": "jpki",
        "fee_yen": 300,
        "deliveries": ["mail", "counter"],
        "target_days": 3,
        "form": [COPIES, PURPOSE],
    },
    {
        "slug": "risai",
        "name": "罹災証明書の交付申請",
        "name_en": "Disaster certificate (罹災証明書)",
        "department": "被災者支援室",
        "identity_level": "oidc",
        "fee_yen": 0,
        "deliveries": ["mail", "counter", "electronic"],
        "target_days": 10,
        "handler": "recovery.certificate",
        "form": [
            {
                "name": "house_address",
                "label": "被災した住家の所在地",
                "label_en": "Address of the damaged house",
                "type": "text",
                "required": True,
                "max_length": 200,
            },
            {
                "name": "damage",
                "label": "被害の状況",
                "label_en": "What happened",
                "type": "textarea",
                "required": True,
                "max_length": 1000,
            },
        ],
    },
    {
        "slug": "kazei",
        "name": "所得・課税証明書の交付請求",
        "name_en": "Certificate of income and taxation",
        "department": "市民税課",
        "identity_level": "jpki",
        "fee_yen": 300,
        "deliveries": ["mail"],
        "target_days": 5,
        "form": [
            COPIES,
            {
                "name": "year",
                "label": "年度",
                "label_en": "Fiscal year",
                "type": "number",
                "required": True,
                "min": 2000,
                "max": 2100,
            },
            PURPOSE,
        ],
    },
    {
        "slug": "sodai-gomi",
        "name": "粗大ごみ収集の申込",
        "name_en": "Collection of bulky waste",
        "department": "環境課",
        "identity_level": "email",
        "fee_yen": 0,
        "deliveries": ["electronic"],
        "target_days": 7,
        "form": [
            {
                "name": "items",
                "label": "出すもの",
                "label_en": "Items",
                "help": "品目と数を書いてください（例：ソファ 1点、冷蔵庫 1台）。",
                "help_en": "What and how many (e.g. a sofa, a fridge).",
                "type": "textarea",
                "required": True,
                "max_length": 500,
            },
            {"name": "wish_date", "label": "希望日", "label_en": "Preferred date", "type": "date"},
        ],
    },
)


def catalogue_load() -> list[Procedure]:
    made = []
    for position, entry in enumerate(CATALOGUE):
        fields = {**entry, "form": form_check(entry["form"]), "position": position}
        procedure, _ = Procedure.objects.update_or_create(slug=fields.pop("slug"), defaults=fields)
        made.append(procedure)
    offered_forget()
    return made


def load_demo_procedures(**_: Any) -> str:
    return f"procedures: {len(catalogue_load())} in the catalogue"
