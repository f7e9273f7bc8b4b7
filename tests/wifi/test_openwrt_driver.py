"""The OpenWrt driver against simulated APs (machi.wifi.simulator) over real HTTP.

Each test starts the simulator on a free port inside its own ``asyncio.run``, drives it with
one OpenWrtDriver, and checks both what the driver says and what the AP has on air.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, TypeVar

import pytest

from machi.wifi.drivers.base import DriverError, SsidSpec, Target
from machi.wifi.drivers.openwrt import OWE_SUFFIX, OpenWrtDriver, _data, iface_options
from machi.wifi.simulator import DEFAULT_PASSWORD, DEFAULT_SSID, SimulatorHandle, start_simulator

T = TypeVar("T")
JAPAN = SsidSpec(ssid="00000JAPAN", encryption="none", isolate=True, max_clients=50)


def with_simulator(
    body: Callable[[SimulatorHandle, OpenWrtDriver], Awaitable[T]], aps: int = 2, **options: Any
) -> T:
    async def main() -> T:
        sim = await start_simulator(aps, **options)
        try:
            async with OpenWrtDriver() as driver:
                return await body(sim, driver)
        finally:
            await sim.stop()

    return asyncio.run(main())


def target(sim: SimulatorHandle, n: int = 1, **changes: Any) -> Target:
    return replace(
        Target(url=sim.url(n), username="root", secret=DEFAULT_PASSWORD, timeout=2.0), **changes
    )


def ifaces(sections: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in sections.items() if v[".type"] == "wifi-iface"}


# --- read ----------------------------------------------------------------------------------------


def test_read_returns_what_is_on_air_and_the_raw_sections() -> None:
    async def body(sim: SimulatorHandle, driver: OpenWrtDriver) -> Any:
        return await driver.read(target(sim))

    state = with_simulator(body)

    assert state.ssids == (SsidSpec(ssid=DEFAULT_SSID, isolate=True),)
    assert state.broadcasting() == [DEFAULT_SSID]
    assert list(state.sections) == ["radio0", "default_radio0", "radio1", "default_radio1"]
    assert state.sections["radio1"][".type"] == "wifi-device"
    assert state.sections["default_radio0"] == {
        ".type": "wifi-iface",
        ".anonymous": False,
        "device": "radio0",
        "network": "lan",
        "mode": "ap",
        "ssid": DEFAULT_SSID,
        "encryption": "none",
        "isolate": "1",
    }


def test_one_login_serves_many_calls() -> None:
    async def body(sim: SimulatorHandle, driver: OpenWrtDriver) -> int:
        for _ in range(3):
            await driver.read(target(sim))
        await driver.apply(target(sim), [JAPAN])
        return sim.ap(1).logins

    assert with_simulator(body) == 1


# --- apply ---------------------------------------------------------------------------------------


def test_apply_00000japan_open_isolated_and_capped_on_every_radio() -> None:
    async def body(sim: SimulatorHandle, driver: OpenWrtDriver) -> Any:
        await driver.apply(target(sim), [JAPAN])
        return await driver.read(target(sim)), sim.ap(1).committed, sim.broadcast(1)

    state, committed, on_air = with_simulator(body)

    # Read-back confirms exactly what was asked, and a phone sees only 00000JAPAN.
    assert state.ssids == (JAPAN,)
    assert on_air == ["00000JAPAN"]
    # The normal SSID's sections are gone; the radios are untouched.
    assert ifaces(committed).keys() == {"machi_radio0_0", "machi_radio1_0"}
    assert committed["radio0"]["channel"] == "1"
    assert committed["machi_radio1_0"] == {
        ".type": "wifi-iface",
        ".anonymous": False,
        "device": "radio1",
        "network": "lan",
        "mode": "ap",
        "ssid": "00000JAPAN",
        "encryption": "none",  # open: no key option at all
        "hidden": "0",
        "isolate": "1",
        "disabled": "0",
        "maxassoc": "50",
    }


def test_apply_keeps_the_network_the_radio_was_bridged_into() -> None:
    async def body(sim: SimulatorHandle, driver: OpenWrtDriver) -> Any:
        sim.ap(1).committed["default_radio0"]["network"] = "guest"
        await driver.apply(target(sim), [JAPAN])
        return sim.ap(1).committed

    committed = with_simulator(body)

    assert committed["machi_radio0_0"]["network"] == "guest"
    assert committed["machi_radio1_0"]["network"] == "lan"


def test_apply_drops_changes_a_failed_attempt_left_staged() -> None:
    async def body(sim: SimulatorHandle, driver: OpenWrtDriver) -> Any:
        await driver.read(target(sim))  # logs in
        sid = driver._sids[sim.url(1)]
        # An earlier attempt staged a change under the same session and then died.
        sim.ap(1).call(
            sid,
            "uci",
            "set",
            {"config": "wireless", "section": "radio0", "values": {"channel": "13"}},
        )
        await driver.apply(target(sim), [JAPAN])
        return sim.ap(1).committed

    # Only the switch was committed, not the leftover.
    assert with_simulator(body)["radio0"]["channel"] == "1"


def test_applying_no_ssids_silences_the_ap_and_twice_is_harmless() -> None:
    async def body(sim: SimulatorHandle, driver: OpenWrtDriver) -> Any:
        await driver.apply(target(sim), [])
        await driver.apply(target(sim), [])  # nothing left to delete, nothing to add
        return (await driver.read(target(sim))).ssids, sim.broadcast(1)

    assert with_simulator(body) == ((), [])


def test_psk_keys_are_written_and_open_networks_have_none() -> None:
    staff = SsidSpec(ssid="Toda_Staff", encryption="sae-mixed", key="correct horse")
    assert iface_options(staff, device="radio0", network="lan")["key"] == "correct horse"
    for encryption in ("none", "owe"):
        spec = SsidSpec(ssid="x", encryption=encryption, key="ignored")
        assert "key" not in iface_options(spec, device="radio0", network="lan")


def test_the_owe_companion_is_a_hidden_twin_paired_both_ways() -> None:
    spec = replace(JAPAN, owe_companion=True)

    async def body(sim: SimulatorHandle, driver: OpenWrtDriver) -> Any:
        await driver.apply(target(sim), [spec])
        return await driver.read(target(sim)), sim.ap(1).committed, sim.broadcast(1)

    state, committed, on_air = with_simulator(body)

    open_if, twin = committed["machi_radio0_0"], committed["machi_radio0_0_owe"]
    assert open_if["encryption"] == "none"
    assert open_if["owe_transition_ifname"] == twin["ifname"]
    assert twin["owe_transition_ifname"] == open_if["ifname"]
    assert twin["encryption"] == "owe"
    assert twin["hidden"] == "1"
    assert twin["ssid"] == "00000JAPAN" + OWE_SUFFIX
    assert "key" not in twin
    assert len(ifaces(committed)) == 4  # a pair on each radio
    # Read back, the pair is the one SSID that was applied; phones see only the open one.
    assert state.ssids == (spec,)
    assert on_air == ["00000JAPAN"]


def test_an_ap_that_commits_but_never_applies_is_caught_by_reading_back() -> None:
    async def body(sim: SimulatorHandle, driver: OpenWrtDriver) -> Any:
        await driver.apply(target(sim), [JAPAN])  # accepted without complaint…
        return await driver.read(target(sim)), sim.ap(1).commits

    state, commits = with_simulator(body, faults={1: "no_apply"})

    assert commits == 1
    assert state.broadcasting() == [DEFAULT_SSID]  # …but the old SSID is still on air
    # The config file has the change: only the runtime state tells the truth.
    assert "machi_radio0_0" in state.sections


# --- restore -------------------------------------------------------------------------------------


def test_restore_returns_the_exact_saved_sections() -> None:
    async def body(sim: SimulatorHandle, driver: OpenWrtDriver) -> Any:
        saved = await driver.read(target(sim))
        await driver.apply(target(sim), [replace(JAPAN, owe_companion=True)])
        await driver.restore(target(sim), saved.sections)
        return saved, await driver.read(target(sim)), sim.broadcast(1)

    saved, restored, on_air = with_simulator(body)

    assert restored.sections == saved.sections
    assert restored.ssids == saved.ssids
    assert on_air == [DEFAULT_SSID]


def test_restore_brings_an_anonymous_section_back_anonymous_with_its_options() -> None:
    staff = {
        ".type": "wifi-iface",
        ".anonymous": True,
        "device": "radio1",
        "network": "staff",
        "mode": "ap",
        "ssid": "Toda_Staff",
        "encryption": "sae-mixed",
        "key": "correct horse battery",
        "hidden": "1",
    }

    async def body(sim: SimulatorHandle, driver: OpenWrtDriver) -> Any:
        sim.ap(1).committed["cfg0a1b2c"] = dict(staff)
        sim.ap(1).bring_up()
        saved = await driver.read(target(sim))
        await driver.apply(target(sim), [JAPAN])
        await driver.restore(target(sim), saved.sections)
        return saved, await driver.read(target(sim))

    saved, restored = with_simulator(body)

    # rpcd names a new anonymous section itself: the options, type and order are what return.
    assert list(ifaces(restored.sections).values()) == list(ifaces(saved.sections).values())
    assert "cfg0a1b2c" not in restored.sections
    assert restored.ssids == saved.ssids


# --- sessions ------------------------------------------------------------------------------------


def test_an_expired_session_is_renewed_with_one_new_login() -> None:
    async def body(sim: SimulatorHandle, driver: OpenWrtDriver) -> Any:
        await driver.read(target(sim))
        sim.ap(1).expire_sessions()  # rpcd restarted, or 300 s went by
        await driver.apply(target(sim), [JAPAN])
        return sim.ap(1).logins, sim.broadcast(1)

    assert with_simulator(body) == (2, ["00000JAPAN"])


def test_a_session_timing_out_between_calls_is_renewed() -> None:
    async def body(sim: SimulatorHandle, driver: OpenWrtDriver) -> Any:
        await driver.read(target(sim))
        await asyncio.sleep(0.15)
        return (await driver.read(target(sim))).broadcasting(), sim.ap(1).logins

    assert with_simulator(body, session_timeout=0.1) == ([DEFAULT_SSID], 2)


def test_one_driver_serves_successive_event_loops() -> None:
    # A Huey task runs asyncio.run once per job; a long-lived driver must survive that.
    driver = OpenWrtDriver()

    async def main() -> list[str]:
        sim = await start_simulator(1)
        try:
            first = await driver.read(target(sim))
            await driver.close()
            return first.broadcasting()
        finally:
            await sim.stop()

    assert asyncio.run(main()) == [DEFAULT_SSID]
    assert asyncio.run(main()) == [DEFAULT_SSID]


# --- failures ------------------------------------------------------------------------------------


def reason_for(fault: str | None = None, **changes: Any) -> str:
    async def body(sim: SimulatorHandle, driver: OpenWrtDriver) -> str:
        try:
            await driver.read(target(sim, **changes))
        except DriverError as exc:
            return exc.reason
        raise AssertionError("no DriverError")

    return with_simulator(body, aps=1, faults={1: fault} if fault else None)


def test_an_ap_that_is_down_is_unreachable() -> None:
    assert reason_for("down") == "unreachable (HTTP 503)"


def test_an_ap_that_never_answers_times_out() -> None:
    assert reason_for("timeout", timeout=0.3) == "timeout"


def test_a_wrong_password_is_a_refused_login() -> None:
    assert reason_for(secret="wrong") == "login refused"


def test_an_answer_that_is_not_json_is_a_bad_answer() -> None:
    assert reason_for("bad_json") == "bad answer (not JSON)"


def test_nobody_listening_is_unreachable() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def main() -> str:
        async with OpenWrtDriver() as driver:
            try:
                await driver.read(Target(url=f"http://127.0.0.1:{port}/ubus", timeout=1.0))
            except DriverError as exc:
                return exc.reason
        raise AssertionError("no DriverError")

    assert asyncio.run(main()) == "unreachable"


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ({"result": [4]}, "ubus error 4 (not found)"),
        ({"result": [7]}, "ubus error 7 (timeout)"),
        ({"error": {"code": -32000, "message": "Object not found"}}, "ubus error -32000"),
        ({"result": "nonsense"}, "bad answer (no ubus status)"),
        ({"result": [0, ["a list"]]}, "bad answer (ubus data is not an object)"),
    ],
)
def test_ubus_errors_are_named_by_their_code(answer: dict[str, Any], reason: str) -> None:
    with pytest.raises(DriverError) as caught:
        _data(answer)
    assert caught.value.reason.startswith(reason)
