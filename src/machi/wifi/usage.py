"""Who uses the shelters' Wi-Fi in a disaster: connected devices against evacuees present.

The seminar's figure (Toda, 2019: about 45% of 3,849 evacuees on 00000JAPAN) measured live:
for each open shelter with a Wi-Fi site, the clients its APs reported in the last minute and
the people checked in there now. Devices are not people (a family shares a phone, a person
carries two), so the ratio is an indicator, labelled as such.
"""

from __future__ import annotations

from dataclasses import dataclass

from machi.emergency.models import Disaster
from machi.shelters import selectors as shelter_selectors
from machi.wifi import selectors_monitor
from machi.wifi.models import Site


@dataclass(frozen=True)
class ShelterUsage:
    name: str
    site_id: int | None
    clients: int
    present: int

    @property
    def percent(self) -> int | None:
        return round(100 * self.clients / self.present) if self.present else None


@dataclass(frozen=True)
class Usage:
    rows: list[ShelterUsage]
    clients: int
    present: int

    @property
    def percent(self) -> int | None:
        return round(100 * self.clients / self.present) if self.present else None


def shelter_usage(disaster: Disaster | None) -> Usage:
    openings = list(shelter_selectors.openings_live(disaster))
    sites = {
        site.facility_id: site.pk
        for site in Site.objects.filter(facility_id__in=[o.shelter.facility_id for o in openings])
    }
    clients = selectors_monitor.connected_clients_by_site()
    rows = [
        ShelterUsage(
            name=str(o.shelter),
            site_id=sites.get(o.shelter.facility_id),
            clients=clients.get(sites.get(o.shelter.facility_id, -1), 0),
            present=o.occupancy,
        )
        for o in openings
    ]
    return Usage(
        rows=rows,
        clients=sum(r.clients for r in rows if r.site_id is not None),
        present=sum(r.present for r in rows if r.site_id is not None),
    )
