"""The demo city's shelter registry, loaded through the real importer from the GSI files
that ship with the demo (国土地理院, see core/demo/SOURCES.md)."""

from __future__ import annotations

from importlib import resources

from django.db import transaction

from machi.shelters import importers
from machi.shelters.models import Shelter

DEMO_FILES = ("gsi_112241_designated_shelters.geojson", "gsi_112241_emergency_sites.geojson")
# GSI publishes no capacities. Demo figures by kind of building, marked as such in the notes;
# a city loads its own (dataset 03's 想定収容人数) with `machi shelters import`.
DEMO_CAPACITY = (("小学校", 400), ("中学校", 500), ("高等", 600), ("センター", 150), ("会館", 200))
DEMO_NOTE = "デモ用の想定収容人数（実際の値ではありません）"


def capacity_for(name: str) -> int:
    return next((n for part, n in DEMO_CAPACITY if part in name), 100)


@transaction.atomic
def load_demo_shelters() -> str:
    for name in DEMO_FILES:
        data = resources.files("machi.core.demo").joinpath(name).read_bytes()
        importers.shelters_import(data=data, file_name=name)
    missing = Shelter.objects.filter(facility__is_shelter=True, capacity_night__isnull=True)
    for shelter in missing.select_related("facility"):
        shelter.capacity_night = shelter.capacity_day = capacity_for(shelter.facility.name)
        shelter.notes = DEMO_NOTE
        shelter.save(update_fields=["capacity_night", "capacity_day", "notes", "updated_at"])
    total = Shelter.objects.count()
    designated = Shelter.objects.filter(facility__is_shelter=True).count()
    return f"shelters     {total} ({designated} designated 指定避難所)"
