"""The demo city's FAQ: entries written for Machi's procedures and a city's everyday topics
(data/faq_demo.csv), loaded by `machi demo`, and the search index built once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

DEMO_CSV = Path(__file__).resolve().parent / "data" / "faq_demo.csv"


def load_demo_guide(**_: Any) -> str:
    from machi.guide import faq, services

    result = faq.import_csv(DEMO_CSV.read_bytes())
    if result.errors:
        return "guide: the demo FAQ did not load: " + "; ".join(result.errors[:3])
    services.forget_index()
    services.current_index()  # built now, saved in the data folder: the first question is quick
    return (
        f"guide: {result.created + result.updated + result.unchanged} FAQ entries "
        f"({result.created} new); residents ask at /guide/ or from any portal page"
    )
