"""Who is who, kept as little as possible: MAC addresses, e-mail addresses, OIDC subjects.

Plain rules without the database: services and selectors share them.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from django.utils.crypto import salted_hmac

_HEX12 = re.compile(r"^[0-9a-f]{12}$")


def normalise_mac(value: str) -> str:
    """ "AA-BB-CC-DD-EE-FF", "aabb.ccdd.eeff", "AABBCCDDEEFF" → "aa:bb:cc:dd:ee:ff"; "" if not
    a MAC address (gateways and NASes each write it their own way)."""
    digits = re.sub(r"[:\-.\s]", "", (value or "").strip().lower())
    if not _HEX12.match(digits):
        return ""
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def parse_called_station(value: str) -> tuple[str, str]:
    """RFC 3580 §3.20 Called-Station-Id "AA-BB-CC-DD-EE-FF:SSID" → (ap mac, ssid)."""
    value = (value or "").strip()
    # The MAC is 12 hex digits written with or without separators; the SSID follows a colon.
    match = re.match(r"^((?:[0-9A-Fa-f]{2}[:\-.]?){5}[0-9A-Fa-f]{2})(?::(.*))?$", value)
    if not match:
        return "", ""
    return normalise_mac(match[1]), (match[2] or "")[:32]


def normalise_address(address: str) -> str:
    """NFKC (a full-width ＠ typed on a phone), trimmed, lower-case: one address, one hash."""
    return unicodedata.normalize("NFKC", address or "").strip().lower()


def address_digest(address: str) -> str:
    """A keyed hash of the address: counts registrations per address without keeping it."""
    return salted_hmac(
        "machi.wifi.portal.address", normalise_address(address), algorithm="sha256"
    ).hexdigest()


def address_hint(address: str) -> str:
    """ "taro.yamada@example.jp" → "t***@example.jp": enough for staff to tell two apart."""
    local, _, domain = normalise_address(address).rpartition("@")
    if not local:
        return "***"
    return f"{local[0]}***@{domain}"[:80]


def subject_digest(issuer: str, subject: str) -> str:
    return salted_hmac(
        "machi.wifi.portal.subject", f"{issuer}\n{subject}", algorithm="sha256"
    ).hexdigest()


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def mask_mac(mac: str) -> str:
    """ "aa:bb:cc:dd:ee:ff" → "…:ee:ff" for staff screens."""
    return f"…:{mac[-5:]}" if mac else ""
