"""Demo data of the captive portal: a few devices logged in at the demo's access points, so
that the staff list has something to show. Runs after the wifi room's loader."""

from __future__ import annotations

from typing import Any

from machi.core import context
from machi.wifi.models import AccessPoint, Mode
from machi.wifi.portal import services
from machi.wifi.portal.models import PortalSession
from machi.wifi.portal.selectors import ClientInfo

DEMO_ISSUER = "https://id.demo.invalid"
# Locally administered MACs (second hex digit 2): never a real device's.
DEMO_DEVICES = ["02:00:00:de:00:01", "02:00:00:de:00:02", "02:00:00:de:00:03"]


def load_demo_portal(**_: Any) -> str:
    aps = list(AccessPoint.objects.filter(mode=Mode.NORMAL).order_by("pk")[:2])
    if not aps:
        return "Wi-Fi portal: no access point to log in at (load the wifi demo first)"
    if not PortalSession.objects.exists():
        with context.acting(channel="cli"):
            for number, mac in enumerate(DEMO_DEVICES):
                ap = aps[number % len(aps)]
                services.oidc_session_start(
                    issuer=DEMO_ISSUER,
                    subject=f"demo-{number}",
                    client=ClientInfo(client_mac=mac, ap_mac=ap.mac),
                )
    return f"Wi-Fi portal: /wifi/?client=02-00-00-de-00-09&ap={aps[0].mac}"
