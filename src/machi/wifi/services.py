"""Writes of the Wi-Fi room's registry: sites, SSID profiles, access points, monitoring keys.

Disaster mode (the 00000JAPAN switch) lives in ``disaster_mode.py``; it is a long action with
its own job. Secrets (SSID keys, AP passwords and SNMP communities) are stored encrypted
(``core.crypto``) and never shown back: pages say only whether one is set. Each AP's
monitoring key is shown once, when it is made, like an API token; only its SHA-256 is kept.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from types import EllipsisType
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction
from django.utils.translation import gettext as _

from machi.core import crypto, japanese
from machi.core import services as core_services
from machi.core.models import Facility
from machi.core.roles import Action
from machi.wifi.models import (
    DISASTER_SSID,
    AccessPoint,
    Driver,
    Encryption,
    ProfileKind,
    Site,
    SsidProfile,
)

MONITORING_KEY_PREFIX = "machiap_"
# WPA passphrases (IEEE 802.11i): 8 to 63 printable ASCII characters, or 64 hex digits.
PASSPHRASE_ENCRYPTIONS = frozenset({Encryption.PSK2, Encryption.SAE, Encryption.SAE_MIXED})
OPEN_ENCRYPTIONS = frozenset({Encryption.NONE, Encryption.OWE})
_PASSPHRASE = re.compile(r"[\x20-\x7e]{8,63}|[0-9A-Fa-f]{64}")
_MAC_SEPARATORS = re.compile(r"[\s:.\-]")
_HEX12 = re.compile(r"[0-9A-Fa-f]{12}")
# Look-alikes of the disaster SSID that fake APs use ("0000JAPAN", "00000JAPAN_free"…): a
# normal profile may not be named like it (Wi-Biz guideline: never in normal times).
_LOOKS_LIKE_DISASTER = re.compile(r"^0{3,}\s*JAPAN", re.IGNORECASE)


class WifiError(ValueError):
    """A registry write that cannot be done; the message says why, ``field`` where."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


# --- Small rules --------------------------------------------------------------------------------


def mac_normalize(value: str) -> str:
    """``aa-bb-cc-dd-ee-ff``, ``aabb.ccdd.eeff``, full-width digits… → ``AA:BB:CC:DD:EE:FF``.

    Refuses what cannot be an access point's own address: all zeros, and group (multicast or
    broadcast) addresses, whose first octet is odd (IEEE 802).
    """
    digits = _MAC_SEPARATORS.sub("", japanese.normalize(value or ""))
    if not _HEX12.fullmatch(digits):
        raise WifiError(_("Enter a MAC address such as 00:11:22:AA:BB:CC."), field="mac")
    octets = [digits[i : i + 2].upper() for i in range(0, 12, 2)]
    if int(octets[0], 16) & 1:
        raise WifiError(_("This is a group (multicast) address, not a device's."), field="mac")
    if digits.strip("0") == "":
        raise WifiError(_("00:00:00:00:00:00 is not a device's address."), field="mac")
    return ":".join(octets)


def management_url_validate(*, driver: str, url: str) -> str:
    """The address as the driver will use it, or WifiError on ``management_url``.

    OpenWrt is managed over ubus JSON-RPC (``http(s)://host[:port]/…/ubus``, the path
    ``uhttpd-mod-ubus`` serves); SNMP APs are polled at ``udp://host[:port]``.
    """
    url = (url or "").strip()
    field = "management_url"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WifiError(_("This is not a valid address."), field=field) from exc
    if driver == Driver.OPENWRT:
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise WifiError(
                _(
                    "An OpenWrt address starts with http:// or https://, e.g. http://192.0.2.10/ubus."
                ),
                field=field,
            )
        if not parts.path.rstrip("/").endswith("/ubus"):
            raise WifiError(
                _("An OpenWrt address ends with /ubus (the JSON-RPC endpoint)."), field=field
            )
        if parts.query or parts.fragment or parts.username or parts.password:
            raise WifiError(
                _("Put the user name and password in their own fields, not in the address."),
                field=field,
            )
    elif driver == Driver.SNMP:
        if parts.scheme != "udp" or not parts.hostname or parts.path not in {"", "/"}:
            raise WifiError(_("An SNMP address looks like udp://192.0.2.10:161."), field=field)
    else:
        raise WifiError(_("Unknown driver."), field="driver")
    if port is not None and not 0 < port < 65536:
        raise WifiError(_("The port must be between 1 and 65535."), field=field)
    return url


def monitoring_key_digest(key: str) -> str:
    """What is stored of an AP's monitoring key (the monitoring push compares this)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _new_monitoring_key() -> tuple[str, str]:
    key = MONITORING_KEY_PREFIX + secrets.token_urlsafe(32)
    return key, monitoring_key_digest(key)


def _ssid_validate(ssid: str) -> str:
    ssid = (ssid or "").strip()
    if not ssid:
        raise WifiError(_("Enter the SSID."), field="ssid")
    if len(ssid.encode("utf-8")) > 32:  # IEEE 802.11: at most 32 octets
        raise WifiError(_("An SSID has at most 32 bytes (10 Japanese characters)."), field="ssid")
    return ssid


def _profile_rules(
    *, kind: str, ssid: str, encryption: str, key: str, key_set: bool, owe_companion: bool
) -> None:
    if kind not in ProfileKind.values:
        raise WifiError(_("Unknown kind of profile."), field="kind")
    if encryption not in Encryption.values:
        raise WifiError(_("Unknown encryption."), field="encryption")
    if kind == ProfileKind.DISASTER:
        # Wi-Biz 00000JAPAN guideline v4.2: the unified SSID, open, no authentication.
        if ssid != DISASTER_SSID:
            raise WifiError(
                _("The disaster profile broadcasts %(ssid)s exactly.") % {"ssid": DISASTER_SSID},
                field="ssid",
            )
        if encryption != Encryption.NONE:
            raise WifiError(
                _("00000JAPAN is open (no encryption); add an OWE companion if you want one."),
                field="encryption",
            )
    else:
        if ssid.upper() == DISASTER_SSID or _LOOKS_LIKE_DISASTER.match(ssid):
            raise WifiError(
                _("00000JAPAN and names like it are for disasters only, never in normal times."),
                field="ssid",
            )
        if owe_companion:
            raise WifiError(
                _("An OWE companion is only for the disaster profile."), field="owe_companion"
            )
    if encryption in OPEN_ENCRYPTIONS:
        if key:
            raise WifiError(_("An open network has no key."), field="key")
    elif encryption in PASSPHRASE_ENCRYPTIONS:
        if key and not _PASSPHRASE.fullmatch(key):
            raise WifiError(
                _("A passphrase has 8 to 63 ASCII characters (or 64 hexadecimal digits)."),
                field="key",
            )
        if not key and not key_set:
            raise WifiError(_("This encryption needs a passphrase."), field="key")


# --- Sites ---------------------------------------------------------------------------------------


@transaction.atomic
def site_create(
    *,
    facility: Facility,
    disaster_target: bool = True,
    provides_area: str = "",
    note: str = "",
) -> Site:
    if Site.objects.filter(facility=facility).exists():
        raise WifiError(_("This facility already is a Wi-Fi site."), field="facility")
    site = Site.objects.create(
        facility=facility,
        disaster_target=disaster_target,
        provides_area=provides_area.strip()[:200],
        note=note.strip()[:300],
    )
    core_services.audit_record(
        action=Action.CREATE, record=site, detail={"disaster_target": disaster_target}
    )
    return site


@transaction.atomic
def site_update(
    *,
    site: Site,
    disaster_target: bool | None = None,
    provides_area: str | None = None,
    note: str | None = None,
) -> Site:
    changed: dict[str, Any] = {}
    if disaster_target is not None and disaster_target != site.disaster_target:
        site.disaster_target = changed["disaster_target"] = disaster_target
    if provides_area is not None and provides_area.strip() != site.provides_area:
        site.provides_area = changed["provides_area"] = provides_area.strip()[:200]
    if note is not None and note.strip() != site.note:
        site.note = changed["note"] = note.strip()[:300]
    if changed:
        site.save(update_fields=list(changed))
        core_services.audit_record(action=Action.UPDATE, record=site, detail=changed)
    return site


def site_get_or_create(*, facility: Facility, disaster_target: bool = True) -> Site:
    """For the demo and imports: the facility's site, made if missing."""
    found = Site.objects.filter(facility=facility).first()
    return found or site_create(facility=facility, disaster_target=disaster_target)


# --- SSID profiles ------------------------------------------------------------------------------


@transaction.atomic
def profile_create(
    *,
    name: str,
    kind: str,
    ssid: str,
    encryption: str = Encryption.NONE,
    key: str = "",
    hidden: bool = False,
    isolate: bool = True,
    max_clients: int | None = None,
    owe_companion: bool = False,
) -> SsidProfile:
    name = name.strip()
    if not name:
        raise WifiError(_("Enter a name."), field="name")
    if SsidProfile.objects.filter(name=name).exists():
        raise WifiError(_("A profile with this name exists."), field="name")
    ssid = _ssid_validate(ssid)
    _profile_rules(
        kind=kind,
        ssid=ssid,
        encryption=encryption,
        key=key,
        key_set=False,
        owe_companion=owe_companion,
    )
    if kind == ProfileKind.DISASTER and SsidProfile.objects.filter(kind=kind).exists():
        raise WifiError(_("There is one disaster profile; edit it instead."), field="kind")
    profile = SsidProfile.objects.create(
        name=name,
        kind=kind,
        ssid=ssid,
        encryption=encryption,
        key_encrypted=crypto.encrypt(key),
        hidden=hidden,
        isolate=isolate,
        max_clients=max_clients,
        owe_companion=owe_companion,
    )
    core_services.audit_record(
        action=Action.CREATE,
        record=profile,
        detail={"kind": kind, "ssid": ssid, "encryption": encryption, "key_set": bool(key)},
    )
    return profile


@transaction.atomic
def profile_update(
    *,
    profile: SsidProfile,
    name: str | None = None,
    ssid: str | None = None,
    encryption: str | None = None,
    key: str | None = None,
    clear_key: bool = False,
    hidden: bool | None = None,
    isolate: bool | None = None,
    max_clients: int | EllipsisType | None = ...,
    owe_companion: bool | None = None,
) -> SsidProfile:
    """Change a profile. ``key=None`` keeps the stored key; ``clear_key`` removes it.

    The kind cannot change: an AP's normal profiles and the disaster profile are different
    things, and a normal profile turned into 00000JAPAN would broadcast it in normal times.
    """
    locked = SsidProfile.objects.select_for_update().get(pk=profile.pk)
    new_name = locked.name if name is None else name.strip()
    if not new_name:
        raise WifiError(_("Enter a name."), field="name")
    if new_name != locked.name and SsidProfile.objects.filter(name=new_name).exists():
        raise WifiError(_("A profile with this name exists."), field="name")
    new_ssid = locked.ssid if ssid is None else _ssid_validate(ssid)
    new_encryption = locked.encryption if encryption is None else encryption
    new_key = key or ""
    key_set = bool(locked.key_encrypted) and not clear_key
    if new_encryption in OPEN_ENCRYPTIONS:
        key_set = False  # switching to open drops the old key
        clear_key = clear_key or bool(locked.key_encrypted)
    new_owe = locked.owe_companion if owe_companion is None else owe_companion
    _profile_rules(
        kind=locked.kind,
        ssid=new_ssid,
        encryption=new_encryption,
        key=new_key,
        key_set=key_set,
        owe_companion=new_owe,
    )
    changed: dict[str, Any] = {}
    values: dict[str, Any] = {
        "name": new_name,
        "ssid": new_ssid,
        "encryption": new_encryption,
        "hidden": locked.hidden if hidden is None else hidden,
        "isolate": locked.isolate if isolate is None else isolate,
        "owe_companion": new_owe,
    }
    if max_clients is not ...:
        values["max_clients"] = max_clients
    for field_name, value in values.items():
        if getattr(locked, field_name) != value:
            setattr(locked, field_name, value)
            changed[field_name] = value
    fields = list(changed)
    if new_key:
        locked.key_encrypted = crypto.encrypt(new_key)
        fields.append("key_encrypted")
        changed["key"] = "changed"  # never the key itself
    elif clear_key and locked.key_encrypted:
        locked.key_encrypted = ""
        fields.append("key_encrypted")
        changed["key"] = "removed"
    if fields:
        locked.save(update_fields=fields)
        core_services.audit_record(action=Action.UPDATE, record=locked, detail=changed)
    return locked


# --- Access points -------------------------------------------------------------------------------


def _normal_profiles(profiles: Iterable[SsidProfile]) -> list[SsidProfile]:
    chosen = list(profiles)
    if any(p.kind == ProfileKind.DISASTER for p in chosen):
        # 00000JAPAN is switched on by disaster mode only, never assigned as a normal SSID.
        raise WifiError(
            _("The disaster profile is switched on by disaster mode, not assigned."),
            field="profiles",
        )
    return chosen


@transaction.atomic
def ap_create(
    *,
    site: Site,
    name: str,
    mac: str,
    management_url: str,
    driver: str = Driver.OPENWRT,
    username: str = "",
    secret: str = "",
    model: str = "",
    profiles: Iterable[SsidProfile] = (),
    enabled: bool = True,
) -> tuple[AccessPoint, str]:
    """A new AP and its monitoring key (returned once; only its digest is stored)."""
    name = name.strip()
    if not name:
        raise WifiError(_("Enter a name."), field="name")
    normalised = mac_normalize(mac)
    if AccessPoint.objects.filter(mac=normalised).exists():
        raise WifiError(_("An access point with this MAC address exists."), field="mac")
    url = management_url_validate(driver=driver, url=management_url)
    chosen = _normal_profiles(profiles)
    key, digest = _new_monitoring_key()
    ap = AccessPoint.objects.create(
        site=site,
        name=name[:64],
        mac=normalised,
        model=model.strip()[:64],
        management_url=url,
        driver=driver,
        username=username.strip()[:64],
        secret_encrypted=crypto.encrypt(secret),
        monitoring_key_digest=digest,
        enabled=enabled,
        # What it broadcasts is unknown until read back: "applied" would be a guess.
        config_status="pending",
    )
    ap.profiles.set(chosen)
    core_services.audit_record(
        action=Action.CREATE,
        record=ap,
        detail={
            "site": site.pk,
            "mac": normalised,
            "driver": driver,
            "profiles": [p.pk for p in chosen],
            "secret_set": bool(secret),
        },
    )
    return ap, key


@transaction.atomic
def ap_update(
    *,
    ap: AccessPoint,
    site: Site | None = None,
    name: str | None = None,
    mac: str | None = None,
    management_url: str | None = None,
    driver: str | None = None,
    username: str | None = None,
    secret: str | None = None,
    clear_secret: bool = False,
    model: str | None = None,
    profiles: Iterable[SsidProfile] | None = None,
    enabled: bool | None = None,
) -> AccessPoint:
    """Change an AP. ``secret=None`` (or "") keeps the stored password."""
    locked = AccessPoint.objects.select_for_update().get(pk=ap.pk)
    values: dict[str, Any] = {}
    if site is not None:
        values["site_id"] = site.pk
    if name is not None:
        if not name.strip():
            raise WifiError(_("Enter a name."), field="name")
        values["name"] = name.strip()[:64]
    if mac is not None:
        normalised = mac_normalize(mac)
        if AccessPoint.objects.filter(mac=normalised).exclude(pk=locked.pk).exists():
            raise WifiError(_("An access point with this MAC address exists."), field="mac")
        values["mac"] = normalised
    new_driver = driver if driver is not None else locked.driver
    if driver is not None:
        values["driver"] = driver
    if management_url is not None or driver is not None:
        values["management_url"] = management_url_validate(
            driver=new_driver,
            url=management_url if management_url is not None else locked.management_url,
        )
    if username is not None:
        values["username"] = username.strip()[:64]
    if model is not None:
        values["model"] = model.strip()[:64]
    if enabled is not None:
        values["enabled"] = enabled
    changed = {k: v for k, v in values.items() if getattr(locked, k) != v}
    for field_name, value in changed.items():
        setattr(locked, field_name, value)
    fields = list(changed)
    if secret:
        locked.secret_encrypted = crypto.encrypt(secret)
        fields.append("secret_encrypted")
        changed["secret"] = "changed"  # noqa: S105 - a word, not the secret
    elif clear_secret and locked.secret_encrypted:
        locked.secret_encrypted = ""
        fields.append("secret_encrypted")
        changed["secret"] = "removed"  # noqa: S105 - a word, not the secret
    if fields:
        locked.save(update_fields=fields)
    if profiles is not None:
        chosen = _normal_profiles(profiles)
        before = set(locked.profiles.values_list("pk", flat=True))
        after = {p.pk for p in chosen}
        if before != after:
            locked.profiles.set(chosen)
            changed["profiles"] = sorted(after)
    if changed:
        core_services.audit_record(action=Action.UPDATE, record=locked, detail=changed)
    return locked


def ap_profiles_set(*, ap: AccessPoint, profiles: Iterable[SsidProfile]) -> AccessPoint:
    """Assign the AP's normal profiles (what it broadcasts outside disaster mode)."""
    return ap_update(ap=ap, profiles=profiles)


@transaction.atomic
def ap_monitoring_key_regenerate(*, ap: AccessPoint) -> str:
    """A new monitoring key for the AP (shown once); the old one stops working at once."""
    key, digest = _new_monitoring_key()
    AccessPoint.objects.filter(pk=ap.pk).update(monitoring_key_digest=digest)
    ap.monitoring_key_digest = digest
    core_services.audit_record(
        action=Action.UPDATE, record=ap, detail={"monitoring_key": "regenerated"}
    )
    return key
