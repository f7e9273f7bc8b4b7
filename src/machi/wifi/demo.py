"""The demo city's public Wi-Fi: sites, SSID profiles and simulated access points.

Every designated shelter and every Wi-Fi facility of the demo city (戸田市) becomes a site
(shelters are disaster-mode targets), with ``MACHI_WIFI_DEMO_APS`` (default 2) simulated
OpenWrt APs each. Their management addresses point at the simulator
(``machi wifi simulate``) on ``http://127.0.0.1:<MACHI_WIFI_SIMULATOR_PORT, 8300>/ap/<n>/ubus``;
each AP's root password and monitoring key are written to ``wifi-simulator-keys.json`` in the
data folder, the keys file the simulator reads (``--keys``), so the simulated APs accept Machi's
logins and push their monitoring with their own keys. Safe to run again: APs are kept, and
the keys file is rewritten with the stored passwords and, where a key is not in the file any
more, a new monitoring key.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from machi.core import crypto
from machi.core.models import Facility
from machi.wifi import selectors, services
from machi.wifi.models import AccessPoint, Driver, Encryption, ProfileKind, SsidProfile
from machi.wifi.simulator import USERNAME, default_mac

KEYS_FILE = "wifi-simulator-keys.json"
STAFF_SSID = "Toda_Staff"
FREE_SSID = "Toda_Free_Wi-Fi"
DEMO_MODEL = "OpenWrt 24.10 (simulated)"


def keys_path() -> Path:
    return Path(settings.DATA_DIR) / KEYS_FILE


def simulator_port() -> int:
    return int(getattr(settings, "MACHI_WIFI_SIMULATOR_PORT", 8300))


def aps_per_site() -> int:
    return max(1, int(getattr(settings, "MACHI_WIFI_DEMO_APS", 2)))


def _profile(name: str, **fields: Any) -> SsidProfile:
    found = SsidProfile.objects.filter(name=name).first()
    return found or services.profile_create(name=name, **fields)


def _profiles() -> tuple[SsidProfile, SsidProfile, SsidProfile]:
    staff = _profile(
        "職員用",
        kind=ProfileKind.STAFF,
        ssid=STAFF_SSID,
        encryption=Encryption.SAE_MIXED,
        key=secrets.token_urlsafe(18),  # a demo secret nobody needs to know
        hidden=False,
        isolate=False,
    )
    free = _profile(
        "フリーWi-Fi",
        kind=ProfileKind.FREE,
        ssid=FREE_SSID,
        encryption=Encryption.NONE,
        isolate=True,
    )
    disaster = selectors.disaster_profile() or services.profile_create(
        name="00000JAPAN",
        kind=ProfileKind.DISASTER,
        ssid="00000JAPAN",
        encryption=Encryption.NONE,
        isolate=True,
        max_clients=128,
    )
    return staff, free, disaster


def _read_keys(path: Path) -> dict[int, dict[str, Any]]:
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(entries, list):
        return {}
    return {int(e["n"]): e for e in entries if isinstance(e, dict) and "n" in e}


def _write_keys(path: Path, entries: list[dict[str, Any]]) -> None:
    partial = path.with_suffix(".part")
    partial.write_text(json.dumps(entries, ensure_ascii=False, indent=1), encoding="utf-8")
    os.chmod(partial, 0o600)  # passwords and keys of the demo APs
    partial.replace(path)


@transaction.atomic
def load_demo_wifi(**_: Any) -> str:
    staff, free, _disaster = _profiles()
    facilities = Facility.objects.filter(Q(is_shelter=True) | Q(is_wifi_site=True)).order_by(
        "-is_wifi_site", "name_kana", "name", "pk"
    )
    per_site = aps_per_site()
    port = simulator_port()
    path = keys_path()
    known = _read_keys(path)
    entries: list[dict[str, Any]] = []
    n = 0
    sites = 0
    for facility in facilities:
        site = services.site_get_or_create(facility=facility, disaster_target=facility.is_shelter)
        sites += 1
        for k in range(1, per_site + 1):
            n += 1
            mac = services.mac_normalize(default_mac(n))
            ap = AccessPoint.objects.filter(mac=mac).first()
            entry = known.get(n, {})
            if ap is None:
                password = secrets.token_urlsafe(12)
                ap, key = services.ap_create(
                    site=site,
                    name=f"{facility.name[:50]}-{k}",
                    mac=mac,
                    management_url=f"http://127.0.0.1:{port}/ap/{n}/ubus",
                    driver=Driver.OPENWRT,
                    username=USERNAME,
                    secret=password,
                    model=DEMO_MODEL,
                    profiles=[free, staff],
                )
            else:
                password = crypto.decrypt(ap.secret_encrypted)
                key = str(entry.get("key", ""))
                if not key or entry.get("mac") != mac:
                    key = services.ap_monitoring_key_regenerate(ap=ap)
            entries.append({"n": n, "mac": mac, "key": key, "password": password})
    _write_keys(path, entries)
    return (
        f"wifi         {sites} sites, {n} simulated APs "
        f"(http://127.0.0.1:{port}/ap/<n>/ubus; keys in {path.name})"
    )


def demo_processes(url: str) -> dict[str, list[str]]:
    """What `machi demo` runs beside the web server and the worker: the simulated fleet of the
    demo's access points, pushing its monitoring reports to the demo every 10 seconds."""
    from machi.core.management import processes

    if not keys_path().exists():
        return {}
    return {
        "wifi-sim": [
            *processes.machi_args(),
            "wifi",
            "simulate",
            "--keys",
            str(keys_path()),
            "--port",
            str(simulator_port()),
            "--push",
            f"{url.rstrip('/')}/api/v1/wifi/monitoring",
            "--push-interval",
            "10",
        ]
    }
