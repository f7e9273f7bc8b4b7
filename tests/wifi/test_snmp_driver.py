"""The SNMP driver against a real snmpd on the loopback: it polls, and it never configures."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from machi.wifi.drivers import snmp
from machi.wifi.drivers.base import DriverError, SsidSpec, Target
from machi.wifi.drivers.snmp import READ_ONLY, SnmpDriver, SnmpReport
from tests.wifi.snmpd_fixture import NO_IFX_COMMUNITY, free_udp_port
from tests.wifi.snmpd_fixture import snmpd as snmpd  # the fixture, by name


def poll(target: Target) -> SnmpReport:
    async def run() -> SnmpReport:
        async with SnmpDriver() as driver:
            return await driver.poll(target)

    return asyncio.run(run())


def test_poll_reports_the_agent_and_its_interfaces(snmpd: Target) -> None:
    # Given a running agent, when Machi polls it,
    report = poll(snmpd)

    # then it names itself, has been up a while, and lists its interfaces, the loopback first.
    assert report.sys_descr.strip()
    assert report.uptime_s > 0
    names = [i.descr for i in report.interfaces]
    assert "lo" in names
    loopback = report.interfaces[names.index("lo")]
    assert loopback.oper_up is True
    # Counters are 64-bit ifHC* values (or the 32-bit fallback): integers, never negative.
    assert all(i.in_octets >= 0 and i.out_octets >= 0 for i in report.interfaces)


def test_a_table_longer_than_one_answer_is_walked_to_its_end(
    snmpd: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given answers of one row each (as from an AP with more interfaces than one GETBULK
    # carries), the walk continues from where each column stopped, and stops at its end.
    whole = poll(snmpd)
    monkeypatch.setattr(snmp, "MAX_REPETITIONS", 1)
    row_by_row = poll(snmpd)
    assert [i.descr for i in row_by_row.interfaces] == [i.descr for i in whole.interfaces]
    assert [i.oper_up for i in row_by_row.interfaces] == [i.oper_up for i in whole.interfaces]


def test_counters_fall_back_to_32_bits_without_the_ifxtable(snmpd: Target) -> None:
    # Given an agent that shows this community no ifXTable (no 64-bit ifHC* counters), as
    # older or minimal agents do,
    report = poll(replace(snmpd, secret=NO_IFX_COMMUNITY))

    # then the octets still come, from ifInOctets/ifOutOctets: the polls cross the loopback.
    loopback = {i.descr: i for i in report.interfaces}["lo"]
    assert loopback.in_octets > 0
    assert loopback.out_octets > 0


def test_a_wrong_community_is_a_timeout_not_a_crash(snmpd: Target) -> None:
    # snmpd drops requests with an unknown community without a word.
    with pytest.raises(DriverError, match="timeout"):
        poll(replace(snmpd, secret="wrong", timeout=0.5))


def test_a_silent_port_is_a_timeout() -> None:
    with pytest.raises(DriverError, match="timeout"):
        poll(Target(url=f"udp://127.0.0.1:{free_udp_port()}", secret="public", timeout=0.5))


@pytest.mark.parametrize("url", ["http://127.0.0.1/ubus", "udp://", "udp://host:notaport"])
def test_a_url_that_is_not_udp_is_refused(url: str) -> None:
    with pytest.raises(DriverError, match="bad address"):
        poll(Target(url=url, secret="public"))


def test_configuration_is_refused(snmpd: Target) -> None:
    # SNMP APs are monitoring only: every configuration call is a DriverError, not a no-op
    # that a disaster switch could mistake for success.
    async def attempt() -> list[str]:
        reasons = []
        async with SnmpDriver() as driver:
            for call in (
                driver.read(snmpd),
                driver.apply(snmpd, [SsidSpec(ssid="00000JAPAN")]),
                driver.restore(snmpd, {}),
            ):
                try:
                    await call
                except DriverError as exc:
                    reasons.append(exc.reason)
        return reasons

    assert asyncio.run(attempt()) == [READ_ONLY] * 3
