"""The one small interface every access-point driver implements.

Drivers are asynchronous so that one worker can switch a thousand APs at once (asyncio and
aiohttp): each call is a few HTTP round trips to one AP. A driver never touches the database;
the services give it what it needs (address, user name, decrypted secret) and store what it
returns.

Semantics the services rely on:

* ``read()`` returns the AP's wireless configuration as it is now: every ``wifi-iface`` with its
  options, and the raw sections, so that ``restore()`` can later put back exactly what was there.
* ``apply(ssids)`` makes the AP broadcast exactly these SSIDs (on every radio), keeping the
  radios (``wifi-device``) as they are, then commits and reloads. It returns when the AP has
  accepted the change; it does not claim success: the caller confirms with ``read()``.
* ``restore(saved)`` writes back the raw sections of an earlier ``read()`` and reloads.
* Every failure is a ``DriverError`` with a short reason (unreachable, refused login, timeout,
  bad answer); nothing else escapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class DriverError(Exception):
    """The AP could not be reached or refused; ``reason`` is shown to the Wi-Fi staff."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SsidSpec:
    """One SSID to broadcast (from an SsidProfile, with its key decrypted)."""

    ssid: str
    encryption: str = "none"  # UCI values: none, owe, psk2, sae, sae-mixed, wpa2, wpa3
    key: str = ""
    hidden: bool = False
    isolate: bool = True
    max_clients: int | None = None
    owe_companion: bool = False  # open SSID plus a hidden OWE twin (owe_transition_ifname)


@dataclass(frozen=True)
class WirelessState:
    """An AP's wireless configuration as read back."""

    # The SSIDs broadcast now (enabled wifi-iface in mode ap), in section order.
    ssids: tuple[SsidSpec, ...]
    # The raw UCI sections of config "wireless" ({section: {option: value, ".type": …}}), kept
    # to restore them exactly.
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)

    def broadcasting(self) -> list[str]:
        return [s.ssid for s in self.ssids if not s.hidden]


@dataclass(frozen=True)
class Target:
    """Where and how to reach one AP."""

    url: str  # e.g. http://127.0.0.1:8300/ap/17/ubus, or udp://host:161 for SNMP
    username: str = ""
    secret: str = ""  # password, or SNMP community
    timeout: float = 5.0


class ApDriver(Protocol):
    """What the services call. Implementations: drivers/openwrt.py (read and write),
    drivers/snmp.py (monitoring reads only: apply/restore raise DriverError)."""

    async def read(self, target: Target) -> WirelessState: ...

    async def apply(self, target: Target, ssids: list[SsidSpec]) -> None: ...

    async def restore(self, target: Target, saved: dict[str, dict[str, Any]]) -> None: ...
