"""Which driver talks to an AP: ``AccessPoint.driver`` ("openwrt", "snmp") to its class.

``driver_for`` makes a new driver each time; a driver keeps an HTTP pool (or an SNMP socket) and
login sessions, so make one per job and share it across that job's APs, then close it:

    async with driver_session(ap.driver) as driver:
        await asyncio.gather(*(driver.read(t) for t in targets))
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from machi.wifi.drivers.base import ApDriver, DriverError
from machi.wifi.drivers.openwrt import OpenWrtDriver
from machi.wifi.drivers.snmp import SnmpDriver

DRIVERS: dict[str, Callable[[], ApDriver]] = {
    "openwrt": OpenWrtDriver,
    "snmp": SnmpDriver,
}


def driver_for(name: str) -> ApDriver:
    """A new driver for ``name`` (the values of ``models.Driver``); close it when done."""
    try:
        return DRIVERS[name]()
    except KeyError:
        raise DriverError(f"unknown driver {name!r}") from None


async def close_driver(driver: ApDriver) -> None:
    """Close a driver from ``driver_for`` (the ApDriver protocol itself has no close())."""
    close = getattr(driver, "close", None)
    if close is not None:
        await close()


@asynccontextmanager
async def driver_session(name: str) -> AsyncIterator[ApDriver]:
    """``driver_for(name)``, closed when the block ends."""
    driver = driver_for(name)
    try:
        yield driver
    finally:
        await close_driver(driver)
