"""A real net-snmp agent (Debian's snmpd) on the loopback, for tests of the SNMP driver.

It runs in the foreground with a config of its own (``-C``: no system config is read), answers
the community ``public`` from 127.0.0.1 only, and stops with the test module. Tests skip with
the reason when snmpd is not installed (``apt-get install snmpd``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from machi.wifi.drivers.base import DriverError, Target
from machi.wifi.drivers.snmp import SnmpDriver

SNMPD_CANDIDATES = ("/usr/sbin/snmpd", "snmpd")
COMMUNITY = "public"
# A second community whose view leaves out IF-MIB's ifXTable (1.3.6.1.2.1.31), like an agent
# without 64-bit counters.
NO_IFX_COMMUNITY = "noifx"
START_TIMEOUT_S = 10.0


def snmpd_path() -> str | None:
    for candidate in SNMPD_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(target: Target) -> bool:
    """The agent answers, and its sysUpTime has moved past 0 (a test asserts uptime > 0)."""

    async def ask() -> bool:
        async with SnmpDriver(retries=0) as driver:
            try:
                report = await driver.poll(replace(target, timeout=0.3))
            except DriverError:
                return False  # not listening yet
            return report.uptime_s > 0

    return asyncio.run(ask())


@pytest.fixture(scope="module")
def snmpd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """A running snmpd; yields the SNMP Target (``udp://127.0.0.1:<port>``, community public)."""
    binary = snmpd_path()
    if binary is None:
        pytest.skip("snmpd is not installed (apt-get install snmpd)")
    workdir: Path = tmp_path_factory.mktemp("snmpd")
    port = free_udp_port()
    config = workdir / "snmpd.conf"
    config.write_text(
        f"agentaddress udp:127.0.0.1:{port}\n"
        f"rocommunity {COMMUNITY} 127.0.0.1\n"
        "view noifx included .1\n"
        "view noifx excluded .1.3.6.1.2.1.31\n"
        f"rocommunity {NO_IFX_COMMUNITY} 127.0.0.1 -V noifx\n",
        encoding="utf-8",
    )
    log = workdir / "snmpd.log"
    # Debian's snmpd ships no MIB files and complains about each missing one: loading none keeps
    # the log readable when a start fails.
    env = {**os.environ, "MIBS": "", "MIBDIRS": str(workdir)}
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - a fixed binary and our own arguments
            [binary, "-f", "-Lo", "-C", "-c", str(config), "-p", str(workdir / "snmpd.pid")],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    target = Target(url=f"udp://127.0.0.1:{port}", secret=COMMUNITY, timeout=2.0)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers(target):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"snmpd did not start: {log.read_text(errors='replace')}")
            time.sleep(0.05)
        yield target
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
