"""The portal's settings, with their defaults (settings.py may leave any of them out)."""

from __future__ import annotations

import ipaddress

from django.conf import settings

# NTT-BP style e-mail registration: enough time to receive and open the confirmation mail.
TEMPORARY_MINUTES = 10
# A confirmation link works this long (the temporary access itself ends after 10 minutes: a
# link opened later, over a mobile network, still opens a full session at the next connect).
CONFIRM_HOURS = 24
# An address that the confirmation mail could not be sent to is forgotten after this.
UNSENT_ADDRESS_MINUTES = 60
# Temporary accesses one device may get in a day: without a limit, typing a new made-up
# address every 10 minutes would be a free Wi-Fi without registration.
TEMPORARY_PER_DEVICE_PER_DAY = 3
# RADIUS: how often the access point should send interim accounting (seconds).
ACCT_INTERIM_SECONDS = 300


def session_minutes() -> int:
    return int(getattr(settings, "MACHI_WIFI_SESSION_MINUTES", 180))


def session_bytes() -> int | None:
    """The data limit of a full session in bytes (MB are 10^6 bytes), None for unlimited."""
    megabytes = int(getattr(settings, "MACHI_WIFI_SESSION_MB", 0))
    return megabytes * 1_000_000 if megabytes > 0 else None


def register_limit() -> int:
    """Registrations per e-mail address and hour."""
    return int(getattr(settings, "MACHI_WIFI_REGISTER_RATE_LIMIT", 3))


def retention_days() -> int:
    return int(getattr(settings, "MACHI_WIFI_RETENTION_DAYS", 90))


def venue_info_url() -> str:
    return str(getattr(settings, "MACHI_WIFI_VENUE_INFO_URL", ""))


def oidc_issuer() -> str:
    return str(getattr(settings, "MACHI_WIFI_OIDC_ISSUER", "")).rstrip("/")


def oidc_client_id() -> str:
    return str(getattr(settings, "MACHI_WIFI_OIDC_CLIENT_ID", ""))


def oidc_client_secret() -> str:
    return str(getattr(settings, "MACHI_WIFI_OIDC_CLIENT_SECRET", ""))


def oidc_label() -> str:
    """The provider's name on the button ("Log in with …"); empty: a generic label."""
    return str(getattr(settings, "MACHI_WIFI_OIDC_LABEL", ""))


def oidc_enabled() -> bool:
    return bool(oidc_issuer() and oidc_client_id())


def radius_secret() -> str:
    """The shared secret FreeRADIUS sends in X-Machi-Radius-Secret; empty refuses every call."""
    return str(getattr(settings, "MACHI_WIFI_RADIUS_SECRET", ""))


def radius_clients() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    raw = getattr(settings, "MACHI_WIFI_RADIUS_CLIENTS", "127.0.0.1")
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    return [ipaddress.ip_network(item.strip(), strict=False) for item in items if item.strip()]


def radius_mac_password() -> str:
    """The password MAC authentication requests carry; empty: the User-Name itself (hostapd
    and OpenWrt send the MAC as both name and password)."""
    return str(getattr(settings, "MACHI_WIFI_RADIUS_MAC_PASSWORD", ""))
