"""SNMP access points: polled for health, never configured.

SNMP is the one protocol nearly every AP vendor speaks, so it is how Machi watches APs it
cannot switch. Writing an SSID over SNMP needs each vendor's private MIB (and write
communities travel in clear text), so this driver refuses ``read``/``apply``/``restore`` with a
``DriverError`` and the services treat such APs as "monitoring only".

Numeric OIDs only: pysnmp ships no IF-MIB, and Debian's snmpd ships no MIB files either, so a
symbolic name would fail to resolve on the very machines this runs on. SNMPv2c, with the AP's
community as ``Target.secret`` and ``udp://host:port`` (port 161 by default) as its URL.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Final, NamedTuple
from urllib.parse import urlsplit

from pyasn1.error import PyAsn1Error  # type: ignore[import-untyped]  # no type hints either
from pysnmp.error import PySnmpError  # type: ignore[import-untyped]  # pysnmp has no type hints
from pysnmp.hlapi.v3arch.asyncio import (  # type: ignore[import-untyped]  # as above
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    bulk_cmd,
    get_cmd,
)
from pysnmp.proto.rfc1905 import (  # type: ignore[import-untyped]  # as above
    EndOfMibView,
    NoSuchInstance,
    NoSuchObject,
)

from machi.wifi.drivers.base import DriverError, SsidSpec, Target, WirelessState

READ_ONLY: Final = "SNMP is read-only for configuration"

SYS_DESCR: Final = "1.3.6.1.2.1.1.1.0"
SYS_UPTIME: Final = "1.3.6.1.2.1.1.3.0"  # TimeTicks: hundredths of a second
IF_NUMBER: Final = "1.3.6.1.2.1.2.1.0"
IF_DESCR: Final = "1.3.6.1.2.1.2.2.1.2"
IF_OPER_STATUS: Final = "1.3.6.1.2.1.2.2.1.8"  # 1 up, 2 down, … (RFC 2863)
IF_IN_OCTETS: Final = "1.3.6.1.2.1.2.2.1.10"  # Counter32: wraps in minutes on a busy link
IF_OUT_OCTETS: Final = "1.3.6.1.2.1.2.2.1.16"
IF_HC_IN_OCTETS: Final = "1.3.6.1.2.1.31.1.1.1.6"  # Counter64 (ifXTable), preferred
IF_HC_OUT_OCTETS: Final = "1.3.6.1.2.1.31.1.1.1.10"
OPER_UP: Final = 1

# Rows per GETBULK answer at most: 4 columns of 40 rows stay well inside one UDP datagram.
MAX_REPETITIONS: Final = 40
# A broken agent that never reaches the end of a column must not keep us walking forever.
MAX_ROWS: Final = 4096

_NO_VALUE: Final = (EndOfMibView, NoSuchInstance, NoSuchObject)


class SnmpInterface(NamedTuple):
    descr: str
    oper_up: bool
    in_octets: int
    out_octets: int


@dataclass(frozen=True)
class SnmpReport:
    """What one poll saw: the agent, how long it has been up, and its interfaces."""

    sys_descr: str
    uptime_s: float
    interfaces: list[SnmpInterface]


def _oid(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def _text(value: Any) -> str:
    if isinstance(value, _NO_VALUE):
        return ""
    # OctetString: the bytes as sent; prettyPrint() would turn non-ASCII into hex.
    return bytes(value.asOctets()).decode("utf-8", "replace")


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    try:
        port = parts.port or 161
    except ValueError:
        raise DriverError("bad address (port)") from None
    if parts.scheme != "udp" or not parts.hostname:
        raise DriverError("bad address (expected udp://host:port)")
    return parts.hostname, port


class SnmpDriver:
    """Polls APs over SNMPv2c. ``read``, ``apply`` and ``restore`` raise DriverError.

    Use as ``async with SnmpDriver() as driver:`` or call ``await driver.close()``: the SNMP
    engine holds a UDP socket in the event loop it was first used in.
    """

    def __init__(self, *, retries: int = 1) -> None:
        self._retries = retries
        self._engine: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __aenter__(self) -> SnmpDriver:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._engine is not None and self._loop is asyncio.get_running_loop():
            self._engine.close_dispatcher()
        self._engine = None

    # -- the ApDriver interface: configuration is out of reach

    async def read(self, target: Target) -> WirelessState:
        raise DriverError(READ_ONLY)

    async def apply(self, target: Target, ssids: list[SsidSpec]) -> None:
        raise DriverError(READ_ONLY)

    async def restore(self, target: Target, saved: dict[str, dict[str, Any]]) -> None:
        raise DriverError(READ_ONLY)

    # -- monitoring

    async def poll(self, target: Target) -> SnmpReport:
        """sysDescr, sysUpTime and every interface's state and octet counters."""
        host, port = _address(target.url)
        try:
            session = _Session(
                engine=self._current_engine(),
                # SNMPv2c (mpModel 1): what municipal APs speak. The community is read-only
                # and only reads counters; SNMPv3 would need per-vendor user setup.
                auth=CommunityData(target.secret, mpModel=1),  # noqa: S508
                transport=await UdpTransportTarget.create(
                    (host, port),
                    # One retry for a lost datagram, within the caller's time budget.
                    timeout=target.timeout / (self._retries + 1),
                    retries=self._retries,
                ),
            )
            descr, uptime, count = await session.get(SYS_DESCR, SYS_UPTIME, IF_NUMBER)
            # ifNumber sizes the GETBULK so that the whole table usually comes in one answer.
            rows = 0 if isinstance(count, _NO_VALUE) else int(count)
            names, states, ins, outs = await session.table(
                [IF_DESCR, IF_OPER_STATUS, IF_HC_IN_OCTETS, IF_HC_OUT_OCTETS], rows=rows
            )
            if not set(names) <= set(ins) or not set(names) <= set(outs):
                # Agents without the ifXTable (SNMPv1-era or minimal ones) only have the
                # 32-bit counters.
                ins32, outs32 = await session.table([IF_IN_OCTETS, IF_OUT_OCTETS], rows=rows)
                ins, outs = {**ins32, **ins}, {**outs32, **outs}
        except (PySnmpError, PyAsn1Error, OSError) as exc:
            raise DriverError(f"SNMP failure ({type(exc).__name__})") from exc
        return SnmpReport(
            sys_descr=_text(descr),
            uptime_s=0.0 if isinstance(uptime, _NO_VALUE) else int(uptime) / 100,
            interfaces=[
                SnmpInterface(
                    descr=_text(names[index]),
                    oper_up=index in states and int(states[index]) == OPER_UP,
                    in_octets=int(ins[index]) if index in ins else 0,
                    out_octets=int(outs[index]) if index in outs else 0,
                )
                for index in sorted(names)
            ],
        )

    def _current_engine(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._engine is None or self._loop is not loop:
            # The engine's socket lives in one event loop; a later asyncio.run needs its own.
            self._engine = SnmpEngine()
            self._loop = loop
        return self._engine


@dataclass(frozen=True)
class _Session:
    """One agent's address and community, for a few requests."""

    engine: Any
    auth: Any
    transport: Any

    async def get(self, *oids: str) -> list[Any]:
        error, status, _index, var_binds = await get_cmd(
            self.engine,
            self.auth,
            self.transport,
            ContextData(),
            *(ObjectType(ObjectIdentity(oid)) for oid in oids),
            lookupMib=False,
        )
        _check(error, status)
        return [value for _name, value in var_binds]

    async def table(self, columns: list[str], *, rows: int) -> list[dict[int, Any]]:
        """Columns of one table by index (ifIndex), walked side by side with GETBULK: an
        answer carries a row of every column per repetition, and a column is done where
        its OIDs leave it."""
        prefixes = [_oid(column) for column in columns]
        found: list[dict[int, Any]] = [{} for _ in columns]
        current = list(prefixes)
        active = list(range(len(columns)))
        # One repetition more than the rows shows where each column ends in the same answer.
        repetitions = max(1, min(rows + 1, MAX_REPETITIONS))
        while active and sum(map(len, found)) < MAX_ROWS:
            error, status, _index, var_binds = await bulk_cmd(
                self.engine,
                self.auth,
                self.transport,
                ContextData(),
                0,
                repetitions,
                *(ObjectType(ObjectIdentity(".".join(map(str, current[c])))) for c in active),
                lookupMib=False,
            )
            _check(error, status)
            done: set[int] = set()
            progressed = False
            for k, (name, value) in enumerate(var_binds):
                column = active[k % len(active)]
                if column in done:
                    continue
                oid, prefix = tuple(name), prefixes[column]
                if oid[: len(prefix)] != prefix or isinstance(value, _NO_VALUE):
                    done.add(column)
                    continue
                if oid <= current[column]:
                    raise DriverError("bad answer (SNMP agent returned OIDs out of order)")
                found[column][oid[len(prefix)]] = value
                current[column] = oid
                progressed = True
            active = [c for c in active if c not in done]
            if not progressed:
                break
        return found


def _check(error: Any, status: Any) -> None:
    if error:
        if "timeout" in str(error).lower():
            # UDP has no "connection refused" to tell apart: silence is all an unreachable
            # agent and a wrong community give.
            raise DriverError("timeout (no SNMP answer: unreachable or wrong community)")
        raise DriverError(f"SNMP failure ({error})")
    if status:
        raise DriverError(f"SNMP error {status}")
