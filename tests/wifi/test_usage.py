"""The usage page sets devices against evacuees at each open shelter (dataset 07 is tested in
tests/opendata)."""

import uuid
from typing import Any

from django.utils import timezone

from machi.core.models import Facility, User
from machi.core.roles import Role
from machi.emergency.models import Disaster
from machi.shelters import services as shelter_services
from machi.shelters.models import Opening
from machi.wifi.models import AccessPoint, Driver, Health, ProfileKind, Site, SsidProfile
from tests.shelters.test_checkin import register


def fleet(facilities: list[Facility]) -> list[AccessPoint]:
    free = SsidProfile.objects.create(name="free", kind=ProfileKind.FREE, ssid="Toda_Free_Wi-Fi")
    staff = SsidProfile.objects.create(
        name="staff", kind=ProfileKind.STAFF, ssid="Toda_Staff", encryption="sae"
    )
    disaster = SsidProfile.objects.create(
        name="disaster", kind=ProfileKind.DISASTER, ssid="00000JAPAN"
    )
    aps = []
    for n, facility in enumerate(facilities, start=1):
        site = Site.objects.create(facility=facility)
        ap = AccessPoint.objects.create(
            site=site,
            name=f"ap{n}",
            mac=f"02:00:00:00:00:{n:02x}",
            management_url=f"http://127.0.0.1:9/ap/{n}/ubus",
            driver=Driver.OPENWRT,
        )
        ap.profiles.set([free, staff, disaster])
        aps.append(ap)
    return aps


def test_usage_sets_devices_against_evacuees(
    client: Any,
    make_staff: Any,
    typhoon: Disaster,
    open_shelters: list[Opening],
) -> None:
    aps = fleet([o.shelter.facility for o in open_shelters])
    AccessPoint.objects.filter(pk=aps[0].pk).update(
        clients=9, last_seen_at=timezone.now(), health=Health.OK
    )
    for n in range(20):
        shelter_services.checkin_create(
            checkin_id=uuid.uuid4(),
            person=register(f"利用{n}"),
            disaster=typhoon,
            opening=open_shelters[0],
        )
    hq: User = make_staff(Role.HQ)
    client.force_login(hq)
    page = client.get("/console/wifi/usage/").content.decode()
    assert "45%" in page  # 9 devices for 20 evacuees
    counter: User = make_staff(Role.COUNTER, username="counter2")
    client.force_login(counter)
    assert client.get("/console/wifi/usage/").status_code == 403
