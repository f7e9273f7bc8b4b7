"""The simulated APs behave like OpenWrt where Machi depends on it, push monitoring like
openwisp-monitoring's agent, and ``machi wifi simulate`` parses what it is given."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from aiohttp import web
from django.core.management import CommandError, call_command

from machi.wifi.management.commands.wifi import Command
from machi.wifi.simulator import (
    ANONYMOUS_SID,
    DEFAULT_PASSWORD,
    DEFAULT_SSID,
    ApConfig,
    SimulatorHandle,
    ap_configs,
    default_mac,
    load_faults,
    start_simulator,
)

T = TypeVar("T")
WIRELESS = {"config": "wireless"}


def with_simulator(body: Callable[[SimulatorHandle], Awaitable[T]], *args: Any, **kw: Any) -> T:
    async def main() -> T:
        sim = await start_simulator(*args, **kw)
        try:
            return await body(sim)
        finally:
            await sim.stop()

    return asyncio.run(main())


class Rpc:
    """A bare ubus JSON-RPC client, to test the simulator without Machi's driver."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http, self.url, self.sid = http, url, ANONYMOUS_SID

    async def raw(self, payload: Any) -> Any:
        async with self.http.post(self.url, json=payload) as response:
            return await response.json()

    async def call(self, obj: str, method: str, args: dict[str, Any] | None = None) -> Any:
        request = {"jsonrpc": "2.0", "id": 1, "method": "call"}
        answer = await self.raw({**request, "params": [self.sid, obj, method, args or {}]})
        return answer.get("result", answer.get("error"))

    async def login(self, password: str = DEFAULT_PASSWORD) -> list[Any]:
        result: list[Any] = await self.call(
            "session", "login", {"username": "root", "password": password}
        )
        if result[0] == 0:
            self.sid = result[1]["ubus_rpc_session"]
        return result


def rpc_test(body: Callable[[SimulatorHandle, Rpc, Rpc], Awaitable[T]], **kw: Any) -> T:
    """Two logged-in sessions on AP 1."""

    async def run(sim: SimulatorHandle) -> T:
        async with aiohttp.ClientSession() as http:
            one, two = Rpc(http, sim.url(1)), Rpc(http, sim.url(1))
            await one.login()
            await two.login()
            return await body(sim, one, two)

    return with_simulator(run, 1, **kw)


# --- ubus semantics ------------------------------------------------------------------------------


def test_changes_are_staged_per_session_until_commit_and_on_air_after_reload() -> None:
    async def body(sim: SimulatorHandle, one: Rpc, two: Rpc) -> None:
        change = {**WIRELESS, "section": "default_radio0", "values": {"ssid": "00000JAPAN"}}
        assert await one.call("uci", "set", change) == [0]

        # Staged: this session sees it; another session and the file do not.
        mine = await one.call("uci", "get", {**WIRELESS, "section": "default_radio0"})
        theirs = await two.call("uci", "get", {**WIRELESS, "section": "default_radio0"})
        assert mine[1]["values"]["ssid"] == "00000JAPAN"
        assert theirs[1]["values"]["ssid"] == DEFAULT_SSID

        # Committed: everyone reads it back, but the radios still send the old config…
        assert await one.call("uci", "commit", WIRELESS) == [0]
        theirs = await two.call("uci", "get", {**WIRELESS, "section": "default_radio0"})
        assert theirs[1]["values"]["ssid"] == "00000JAPAN"
        assert sim.broadcast(1) == [DEFAULT_SSID]

        # …until the network is reloaded.
        assert await one.call("network", "reload") == [0]
        assert sim.broadcast(1) == ["00000JAPAN", DEFAULT_SSID]
        status = (await two.call("network.wireless", "status"))[1]
        assert status["radio0"]["up"] is True
        assert status["radio0"]["interfaces"][0]["config"]["ssid"] == "00000JAPAN"

    rpc_test(body)


def test_revert_drops_staged_changes() -> None:
    async def body(sim: SimulatorHandle, one: Rpc, _two: Rpc) -> None:
        await one.call("uci", "delete", {**WIRELESS, "section": "default_radio0"})
        await one.call("uci", "revert", WIRELESS)
        await one.call("uci", "commit", WIRELESS)
        values = (await one.call("uci", "get", WIRELESS))[1]["values"]
        assert "default_radio0" in values
        assert sim.ap(1).committed["default_radio0"]["ssid"] == DEFAULT_SSID

    rpc_test(body)


def test_add_names_sections_or_makes_anonymous_ones() -> None:
    async def body(sim: SimulatorHandle, one: Rpc, _two: Rpc) -> None:
        named = await one.call(
            "uci",
            "add",
            {**WIRELESS, "type": "wifi-iface", "name": "guest", "values": {"hidden": True}},
        )
        anonymous = await one.call("uci", "add", {**WIRELESS, "type": "wifi-iface"})
        assert named == [0, {"section": "guest"}]
        assert anonymous[1]["section"].startswith("cfg")
        await one.call("uci", "commit", WIRELESS)
        values = (await one.call("uci", "get", WIRELESS))[1]["values"]
        assert values["guest"]["hidden"] == "1"  # rpcd stores options as strings
        assert values[anonymous[1]["section"]][".anonymous"] is True
        assert [v[".index"] for v in values.values()] == list(range(len(values)))

    rpc_test(body)


def test_sessions_expire_and_wrong_passwords_are_refused() -> None:
    async def body(sim: SimulatorHandle, one: Rpc, _two: Rpc) -> None:
        assert (await one.call("uci", "get", WIRELESS))[0] == 0
        await asyncio.sleep(0.15)
        assert await one.call("uci", "get", WIRELESS) == {
            "code": -32002,
            "message": "Access denied",
        }
        assert await one.login("wrong") == [6]
        assert (await one.login())[0] == 0

    rpc_test(body, session_timeout=0.1)


def test_unknown_objects_and_methods_are_answered_as_ubus_does() -> None:
    async def body(sim: SimulatorHandle, one: Rpc, _two: Rpc) -> None:
        assert (await one.call("system", "board"))["code"] == -32000
        assert await one.call("uci", "explode") == [3]
        assert await one.call("uci", "get", {"config": "network"}) == [4]
        assert (await one.raw({"jsonrpc": "1.0"}))["error"]["code"] == -32600

    rpc_test(body)


def test_a_batch_is_answered_in_order() -> None:
    async def body(sim: SimulatorHandle, one: Rpc, _two: Rpc) -> None:
        calls = [
            {"jsonrpc": "2.0", "id": i, "method": "call", "params": [one.sid, *call]}
            for i, call in enumerate(
                [("uci", "revert", WIRELESS), ("uci", "get", WIRELESS), ("nope", "x", {})]
            )
        ]
        answers = await one.raw(calls)
        assert [a["id"] for a in answers] == [0, 1, 2]
        assert answers[0]["result"] == [0]
        assert "radio0" in answers[1]["result"][1]["values"]
        assert answers[2]["error"]["code"] == -32000

    rpc_test(body)


def test_a_slow_reload_is_off_air_until_the_radios_are_up() -> None:
    async def body(sim: SimulatorHandle, one: Rpc, _two: Rpc) -> None:
        change = {**WIRELESS, "section": "default_radio0", "values": {"ssid": "00000JAPAN"}}
        await one.call("uci", "set", change)
        await one.call("uci", "commit", WIRELESS)
        await one.call("network", "reload")
        status = (await one.call("network.wireless", "status"))[1]
        assert (status["radio0"]["up"], status["radio0"]["pending"]) == (False, True)
        assert sim.broadcast(1) == []
        await asyncio.sleep(0.15)
        assert sim.broadcast(1) == ["00000JAPAN", DEFAULT_SSID]

    rpc_test(body, apply_delay=0.1)


def test_faults_answer_as_configured() -> None:
    async def body(sim: SimulatorHandle) -> list[tuple[int, str]]:
        seen = []
        async with aiohttp.ClientSession() as http:
            for n in (1, 2):
                async with http.post(sim.url(n), json={}) as response:
                    seen.append((response.status, response.content_type))
        return seen

    assert with_simulator(body, 2, faults={1: "down", 2: "bad_json"}) == [
        (503, "text/plain"),
        (200, "text/html"),
    ]


def test_an_unknown_fault_is_refused(tmp_path: Path) -> None:
    faults = tmp_path / "faults.json"
    faults.write_text('{"3": "down", "4": "melted"}')
    with pytest.raises(ValueError, match="melted"):
        load_faults(faults)
    faults.write_text('{"3": "down", "4": "no_apply"}')
    assert load_faults(faults) == {3: "down", 4: "no_apply"}


def test_a_thousand_aps_run_in_one_process() -> None:
    async def body(sim: SimulatorHandle) -> list[Any]:
        async with aiohttp.ClientSession() as http:
            return await asyncio.gather(
                *(Rpc(http, sim.url(n)).login() for n in range(1, 1001, 37))
            )

    answers = with_simulator(body, 1000)
    assert all(a[0] == 0 for a in answers)


# --- clients -------------------------------------------------------------------------------------


def test_00000japan_draws_a_crowd() -> None:
    async def body(sim: SimulatorHandle) -> tuple[int, int]:
        normal, disaster = sim.ap(1), sim.ap(2)
        for section in ("default_radio0", "default_radio1"):
            disaster.committed[section]["ssid"] = "00000JAPAN"
        disaster.bring_up()
        for _ in range(20):
            normal.tick(60)
            disaster.tick(60)
        count = [sum(len(v.clients) for v in ap.vifs) for ap in (normal, disaster)]
        return count[0], count[1]

    normal, disaster = with_simulator(body, 2, seed=7)
    assert normal <= 10  # at most 5 per SSID on each of the two radios
    assert disaster >= 30


# --- NetJSON push --------------------------------------------------------------------------------


def test_every_ap_pushes_netjson_with_its_own_key_spread_over_the_interval() -> None:
    configs = [ApConfig(n=n, mac=default_mac(n), key=f"key-{n}") for n in (1, 2, 3)]
    received: list[tuple[float, str, str, dict[str, Any]]] = []

    async def main() -> SimulatorHandle:
        async def receive(request: web.Request) -> web.Response:
            document = await request.json()
            received.append(
                (
                    asyncio.get_running_loop().time(),
                    request.match_info["mac"],
                    request.headers.get("Authorization", ""),
                    document,
                )
            )
            return web.json_response({"ok": True})

        app = web.Application()
        app.router.add_post("/push/{mac}", receive)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        sim = await start_simulator(
            configs,
            faults={3: "down"},  # a dead AP sends nothing
            push_url=f"http://127.0.0.1:{port}/push/",
            push_interval=0.3,
        )
        await asyncio.sleep(0.75)
        await sim.stop()
        await runner.cleanup()
        return sim

    sim = asyncio.run(main())

    by_mac = {mac: [r for r in received if r[1] == mac] for mac in {r[1] for r in received}}
    assert set(by_mac) == {default_mac(1), default_mac(2)}
    assert all(len(reports) >= 2 for reports in by_mac.values())
    assert sim.push.sent == len(received)
    for _at, mac, authorization, document in received:
        n = int(mac.rsplit(":", 1)[1], 16)
        assert authorization == f"Bearer key-{n}"
        assert document["type"] == "DeviceMonitoring"
        assert set(document["general"]) >= {"local_time", "uptime"}
        assert len(document["resources"]["load"]) == 3
        assert document["resources"]["memory"]["total"] > document["resources"]["memory"]["free"]
        assert document["resources"]["cpus"] == 1
        wlan = document["interfaces"][0]
        assert wlan["name"] == "wlan0"
        assert wlan["type"] == "wireless"
        assert set(wlan["statistics"]) >= {"rx_bytes", "tx_bytes"}
        assert wlan["wireless"]["ssid"] == DEFAULT_SSID
        assert wlan["wireless"]["mode"] == "access_point"
        assert (wlan["wireless"]["channel"], wlan["wireless"]["frequency"]) == (1, 2412)
        assert all("mac" in client for client in wlan["wireless"]["clients"])
    # AP 2 reports a third of the interval (0.1 s) after AP 1, not at the same moment; the
    # margin allows for AP 1's first connection being slower to set up.
    first = {mac: reports[0][0] for mac, reports in by_mac.items()}
    assert first[default_mac(2)] - first[default_mac(1)] >= 0.05


# --- machi wifi simulate -------------------------------------------------------------------------


def parse(*argv: str) -> dict[str, Any]:
    parser = Command().create_parser("machi", "wifi")
    return vars(parser.parse_args(list(argv)))


def test_simulate_parses_its_options() -> None:
    options = parse(
        "simulate", "--aps", "1000", "--port", "0", "--push", "http://x/push",
        "--push-interval", "2.5", "--keys", "keys.json", "--faults", "f.json", "--latency", "0.01",
    )  # fmt: skip
    assert options["action"] == "simulate"
    assert (options["aps"], options["port"], options["push_interval"]) == (1000, 0, 2.5)
    assert options["keys"] == Path("keys.json")
    assert options["faults"] == Path("f.json")
    assert options["latency"] == 0.01
    defaults = parse("simulate")
    assert (defaults["port"], defaults["push_interval"], defaults["aps"]) == (8300, 60.0, None)


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["simulate", "--aps", "0"], "--aps: must be 1 or more"),
        (["simulate", "--port", "70000"], "--port: not a port"),
        (["simulate", "--push-interval", "0"], "--push-interval: must be more than 0"),
        (["simulate", "--latency", "-1"], "--latency: must be 0 or more"),
        ([], "required: ACTION"),
        (["explode"], "invalid choice: 'explode'"),
    ],
)
def test_simulate_refuses_nonsense(argv: list[str], complaint: str) -> None:
    # Called from code, Django's parser raises CommandError where the shell would exit(2).
    with pytest.raises(CommandError, match=re.escape(complaint)):
        parse(*argv)


def test_simulate_needs_aps_and_keys_to_push() -> None:
    with pytest.raises(CommandError, match="--aps"):
        call_command("wifi", "simulate", "--port", "0", "--duration", "0.1")
    with pytest.raises(CommandError, match="--keys"):
        call_command(
            "wifi", "simulate", "--aps", "2", "--push", "http://127.0.0.1:9/", "--duration", "0.1"
        )


def test_simulate_serves_the_aps_of_the_keys_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = tmp_path / "keys.json"
    entries = [{"n": n, "mac": default_mac(n), "key": f"k{n}", "password": f"p{n}"} for n in (1, 2)]
    keys.write_text(json.dumps(entries))

    call_command("wifi", "simulate", "--keys", str(keys), "--port", "0", "--duration", "0.2")

    out = capsys.readouterr().out
    assert "/ap/<n>/ubus (n = 1..2)" in out
    assert ap_configs(2, keys=entries)[1] == ApConfig(
        n=2, mac=default_mac(2), key="k2", password="p2"
    )
