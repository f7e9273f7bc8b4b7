from machi.core.demo import load_demo_city
from machi.core.models import AuditEvent
from machi.shelters.demo import load_demo_shelters
from machi.shelters.models import Shelter


def test_the_demo_registry_comes_through_the_importer_and_loads_once(db: None) -> None:
    load_demo_city()
    assert "34 designated" in load_demo_shelters()
    designated = Shelter.objects.filter(facility__is_shelter=True)
    assert designated.count() == 34
    assert not designated.filter(capacity_night__isnull=True).exists()
    suits_flood = Shelter.objects.filter(facility__is_evacuation_site=True).exclude(hazards=[])
    assert suits_flood.exists()
    events = AuditEvent.objects.count()
    load_demo_shelters()
    assert Shelter.objects.count() == 91
    assert AuditEvent.objects.count() - events <= 2  # one summary event per file, no churn
