"""OpenWrt access points over ubus JSON-RPC (``uhttpd-mod-ubus`` and ``rpcd``).

How an AP is switched, and why this way:

* **Every ``wifi-iface`` is replaced, every ``wifi-device`` is kept.** ``apply()`` deletes all
  wifi-iface sections (Machi's and anyone else's) and adds one new section per SSID and radio,
  named ``machi_<radio>_<n>``. Deleting only Machi's own sections would leave a city's normal
  SSIDs on air next to 00000JAPAN, and the guideline wants the AP to broadcast exactly what the
  city chose. What was there before is not lost: the services keep the raw sections of a
  ``read()`` and ``restore()`` writes them back.
* **The network of a new iface** is the network of the first iface that was on the same radio
  (a city may bridge Wi-Fi into a guest network rather than ``lan``), else ``lan``.
* **Staged changes belong to the rpcd session**: rpcd keeps uncommitted ``uci`` changes per
  session. An operation therefore first reverts anything a failed earlier attempt left staged,
  and when the session has expired half-way the whole operation runs again under a fresh login
  (staged changes of the dead session are gone with it).
* **Reload** is ``network reload``, the call ``/sbin/wifi reload`` makes: netifd re-reads the
  ``wireless`` config and brings the radios up with it.
* **Few round trips**: calls travel in JSON-RPC batches, which uhttpd-mod-ubus runs in order.
  ``apply()`` is three requests (revert + get; the staged deletes and adds; commit + reload) and
  ``read()`` one, so that a thousand APs switch in seconds. Staging and committing stay apart:
  the calls of a batch all run even when one fails, and a half-staged change must never be
  committed.
* **Reading back confirms**: ``read()`` takes the SSIDs from netifd's runtime state
  (``network.wireless status``), not from the config file, so an AP that committed the change
  but did not bring it up is not mistaken for switched (OpenWISP's "applied was inferred"
  complaint). The raw sections still come from ``uci get``, for ``restore()``.

The rpcd ACL of the management user must allow ``session login``, ``uci`` (get, set, add,
delete, commit, revert), ``network reload`` and ``network.wireless status``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Final, TypeVar

import aiohttp

from machi.wifi.drivers.base import DriverError, SsidSpec, Target, WirelessState

# rpcd hands out a session for this all-zero id only to ``session login``.
ANONYMOUS_SID: Final = "00000000000000000000000000000000"

# ubus status codes (libubus ``enum ubus_msg_status``).
UBUS_STATUS: Final[Mapping[int, str]] = {
    0: "ok",
    1: "invalid command",
    2: "invalid argument",
    3: "method not found",
    4: "not found",
    5: "no data",
    6: "permission denied",
    7: "timeout",
    8: "not supported",
    9: "unknown error",
    10: "connection failed",
}
STATUS_PERMISSION_DENIED: Final = 6

# uhttpd-mod-ubus answers a call made with an unknown or expired session with these JSON-RPC
# errors ("Session not found", "Access denied") instead of a ubus status.
JSONRPC_SESSION_ERRORS: Final = frozenset({-32001, -32002})

# Options rpcd adds to every section it returns; they describe the section, they are not options.
UCI_META: Final = frozenset({".anonymous", ".type", ".name", ".index"})

# The hidden twin of an OWE transition pair needs an SSID of its own: clients that understand
# OWE find it through the open SSID's transition element, the others never see it.
OWE_SUFFIX: Final = "-OWE"

# Enough for 1,000 APs switched at once, one connection each. The services bound their own
# concurrency well below this, which also keeps a worker under the common soft limit of 1,024
# open files.
DEFAULT_MAX_CONNECTIONS: Final = 1024

WIRELESS: Final[Mapping[str, str]] = {"config": "wireless"}

# One ubus call: object, method, arguments.
Call = tuple[str, str, Mapping[str, Any]]

_T = TypeVar("_T")
_TRUE: Final = frozenset({"1", "true", "on", "yes", "enabled"})


class _SessionRejected(Exception):
    """The AP no longer knows our session (expired, or rpcd restarted): log in again."""


def _flag(value: Any) -> bool:
    """UCI booleans are strings ("1", "true", "on", …); netifd's status uses JSON booleans."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    return str(value).strip().lower() in _TRUE


def _section_name(text: str) -> str:
    # UCI section names allow only letters, digits and underscores.
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def iface_options(
    spec: SsidSpec,
    *,
    device: str,
    network: str,
    ifname: str = "",
    owe_peer: str = "",
) -> dict[str, str]:
    """The UCI options of one wifi-iface that broadcasts ``spec`` on ``device``."""
    options = {
        "device": device,
        "network": network,
        "mode": "ap",
        "ssid": spec.ssid,
        "encryption": spec.encryption,
        "hidden": "1" if spec.hidden else "0",
        "isolate": "1" if spec.isolate else "0",
        "disabled": "0",
    }
    # Open and OWE networks have no passphrase; an empty ``key`` would still be written to
    # hostapd's config, so it is left out.
    if spec.encryption not in ("none", "owe") and spec.key:
        options["key"] = spec.key
    if spec.max_clients is not None:
        options["maxassoc"] = str(spec.max_clients)
    if ifname:
        options["ifname"] = ifname
    if owe_peer:
        options["owe_transition_ifname"] = owe_peer
    return options


def plan_ifaces(
    sections: Mapping[str, Mapping[str, Any]], ssids: list[SsidSpec]
) -> dict[str, dict[str, str]]:
    """The wifi-iface sections that make every radio broadcast exactly ``ssids``."""
    radios = [name for name, s in sections.items() if s.get(".type") == "wifi-device"]
    networks: dict[str, str] = {}
    for section in sections.values():
        if section.get(".type") == "wifi-iface" and section.get("network"):
            network = section["network"]
            # UCI may store ``network`` as a list; netifd bridges into the first.
            first = network[0] if isinstance(network, list) and network else network
            networks.setdefault(str(section.get("device", "")), str(first))
    planned: dict[str, dict[str, str]] = {}
    for r, radio in enumerate(radios):
        network = networks.get(radio, "lan")
        prefix = _section_name(f"machi_{radio}")
        for n, spec in enumerate(ssids):
            name = f"{prefix}_{n}"
            if spec.owe_companion and spec.encryption == "none":
                # Linux interface names are at most 15 characters: "m0-12o" leaves room.
                open_if, owe_if = f"m{r}-{n}", f"m{r}-{n}o"
                planned[name] = iface_options(
                    spec, device=radio, network=network, ifname=open_if, owe_peer=owe_if
                )
                twin = SsidSpec(
                    ssid=spec.ssid[: 32 - len(OWE_SUFFIX)] + OWE_SUFFIX,
                    encryption="owe",
                    hidden=True,
                    isolate=spec.isolate,
                    max_clients=spec.max_clients,
                )
                planned[f"{name}_owe"] = iface_options(
                    twin, device=radio, network=network, ifname=owe_if, owe_peer=open_if
                )
            else:
                planned[name] = iface_options(spec, device=radio, network=network)
    return planned


def _spec_from(config: Mapping[str, Any]) -> SsidSpec:
    maxassoc = str(config.get("maxassoc", "")).strip()
    max_clients = int(maxassoc) if maxassoc.isdigit() else None
    return SsidSpec(
        ssid=str(config.get("ssid", "")),
        encryption=str(config.get("encryption") or "none"),
        key=str(config.get("key", "")),
        hidden=_flag(config.get("hidden", False)),
        isolate=_flag(config.get("isolate", False)),
        max_clients=max_clients,
    )


def broadcast_specs(status: Mapping[str, Any]) -> tuple[SsidSpec, ...]:
    """What the radios broadcast, from ``network.wireless status``: one SsidSpec per SSID.

    The same SSID on two radios is one entry. An OWE transition pair (an open iface and a
    hidden ``owe`` iface naming each other in ``owe_transition_ifname``) is one entry with
    ``owe_companion``, the way it was applied.
    """
    vifs: list[tuple[str, Mapping[str, Any]]] = []
    for radio in status.values():
        if not isinstance(radio, Mapping) or not radio.get("up"):
            continue
        for vif in radio.get("interfaces") or []:
            config = vif.get("config") or {}
            if str(config.get("mode") or "ap") != "ap" or _flag(config.get("disabled", False)):
                continue
            vifs.append((str(vif.get("ifname") or config.get("ifname") or ""), config))
    by_ifname = {ifname: config for ifname, config in vifs if ifname}
    twins: set[str] = set()
    specs: list[SsidSpec] = []
    for ifname, config in vifs:
        if ifname in twins:
            continue
        peer = by_ifname.get(str(config.get("owe_transition_ifname") or ""))
        spec = _spec_from(config)
        if (
            peer is not None
            and spec.encryption == "none"
            and str(peer.get("encryption")) == "owe"
            and str(peer.get("owe_transition_ifname")) == ifname
        ):
            twins.add(str(config["owe_transition_ifname"]))
            spec = SsidSpec(
                ssid=spec.ssid,
                encryption=spec.encryption,
                hidden=spec.hidden,
                isolate=spec.isolate,
                max_clients=spec.max_clients,
                owe_companion=True,
            )
        elif str(config.get("encryption")) == "owe" and any(
            str(c.get("owe_transition_ifname") or "") == ifname for _, c in vifs
        ):
            continue  # the hidden half of a pair whose open half comes later
        if spec not in specs:
            specs.append(spec)
    return tuple(specs)


def raw_sections(values: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """rpcd's ``uci get`` answer as ``{section: {".type", ".anonymous", option: value}}``, in
    file order (``.index``), without the bookkeeping ``.name`` and ``.index``."""
    ordered = sorted(values.items(), key=lambda item: int(item[1].get(".index", 0)))
    return {
        name: {
            ".type": section.get(".type", ""),
            ".anonymous": bool(section.get(".anonymous", False)),
            **{k: v for k, v in section.items() if k not in UCI_META},
        }
        for name, section in ordered
    }


class OpenWrtDriver:
    """Reads and switches OpenWrt APs; one instance serves many APs at once.

    Use as ``async with OpenWrtDriver() as driver:`` or call ``await driver.close()``. The
    HTTP connection pool belongs to the event loop it was opened in; a driver used from a later
    ``asyncio.run`` opens a new pool and keeps its login sessions.
    """

    def __init__(self, *, max_connections: int = DEFAULT_MAX_CONNECTIONS) -> None:
        self._max_connections = max_connections
        self._http: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sids: dict[str, str] = {}  # target URL -> ubus_rpc_session
        self._ids = itertools.count(1)

    async def __aenter__(self) -> OpenWrtDriver:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        # A pool opened in an earlier event loop went with that loop; only ours can close.
        current = asyncio.get_running_loop()
        if self._http is not None and not self._http.closed and self._loop is current:
            await self._http.close()
        self._http = None

    # -- the ApDriver interface

    async def read(self, target: Target) -> WirelessState:
        async def run(sid: str) -> WirelessState:
            values, status = await self._batch(
                target,
                sid,
                [("uci", "get", WIRELESS), ("network.wireless", "status", {})],
            )
            return WirelessState(ssids=broadcast_specs(status), sections=_sections(values))

        return await self._logged_in(target, run)

    async def apply(self, target: Target, ssids: list[SsidSpec]) -> None:
        async def run(sid: str) -> None:
            sections = await self._fresh_sections(target, sid)
            await self._replace_ifaces(target, sid, sections, plan_ifaces(sections, ssids))

        await self._logged_in(target, run)

    async def restore(self, target: Target, saved: dict[str, dict[str, Any]]) -> None:
        # Only wifi-iface sections are written: apply() never touches the radios, and writing
        # old radio options back could undo a channel change made in the meantime.
        ifaces = {
            name: section for name, section in saved.items() if section.get(".type") == "wifi-iface"
        }

        async def run(sid: str) -> None:
            sections = await self._fresh_sections(target, sid)
            await self._replace_ifaces(target, sid, sections, ifaces)

        await self._logged_in(target, run)

    # -- operations

    async def _fresh_sections(self, target: Target, sid: str) -> dict[str, dict[str, Any]]:
        """The committed sections, after dropping what a failed attempt left staged."""
        _, values = await self._batch(
            target, sid, [("uci", "revert", WIRELESS), ("uci", "get", WIRELESS)]
        )
        return _sections(values)

    async def _replace_ifaces(
        self,
        target: Target,
        sid: str,
        current: Mapping[str, Mapping[str, Any]],
        new: Mapping[str, Mapping[str, Any]],
    ) -> None:
        changes: list[Call] = [
            ("uci", "delete", {**WIRELESS, "section": name})
            for name, section in current.items()
            if section.get(".type") == "wifi-iface"
        ]
        for name, section in new.items():
            values = {k: v for k, v in section.items() if k not in UCI_META}
            args: dict[str, Any] = {**WIRELESS, "type": "wifi-iface", "values": values}
            # An anonymous section cannot be recreated under its old cfgXXXXXX name (rpcd makes
            # a named one then); it comes back anonymous, in the same order, with the same
            # options.
            if not section.get(".anonymous", False):
                args["name"] = name
            changes.append(("uci", "add", args))
        # Staging and committing are two requests: the calls of a batch all run even when one
        # fails, and a half-staged change must never be committed (the AP could end up
        # broadcasting nothing). A failed staging stays uncommitted and the next attempt
        # reverts it.
        await self._batch(target, sid, changes)
        await self._batch(target, sid, [("uci", "commit", WIRELESS), ("network", "reload", {})])

    # -- sessions

    async def _logged_in(self, target: Target, operation: Callable[[str], Awaitable[_T]]) -> _T:
        try:
            sid = self._sids.get(target.url) or await self._login(target)
            try:
                return await operation(sid)
            except _SessionRejected:
                # rpcd forgets sessions after their timeout (300 s by default) and on restart.
                # Log in once more; a second rejection is a real "permission denied".
                self._sids.pop(target.url, None)
                sid = await self._login(target)
                try:
                    return await operation(sid)
                except _SessionRejected:
                    raise DriverError("permission denied") from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # An answer of the right JSON shape with values of the wrong kind.
            raise DriverError(f"bad answer ({type(exc).__name__})") from exc

    async def _login(self, target: Target) -> str:
        credentials = {"username": target.username, "password": target.secret}
        try:
            (answer,) = await self._batch(
                target, ANONYMOUS_SID, [("session", "login", credentials)]
            )
        except _SessionRejected:
            raise DriverError("login refused") from None
        sid = answer.get("ubus_rpc_session")
        if not isinstance(sid, str) or not sid:
            raise DriverError("bad answer: no session from login")
        self._sids[target.url] = sid
        return sid

    # -- transport

    def _client(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._http is None or self._http.closed or self._loop is not loop:
            # A session from an earlier, finished event loop cannot be closed any more; it is
            # dropped with its loop.
            connector = aiohttp.TCPConnector(
                # All simulated APs share one host; real APs each have their own.
                limit=self._max_connections,
                limit_per_host=0,
            )
            self._http = aiohttp.ClientSession(connector=connector)
            self._loop = loop
        return self._http

    async def _batch(self, target: Target, sid: str, calls: Sequence[Call]) -> list[dict[str, Any]]:
        """ubus calls in one request (a JSON-RPC batch, which uhttpd-mod-ubus runs in order);
        the data of each (``{}`` when a call returns none). Round trips, not bytes, are what
        a switch of a thousand APs spends its time on."""
        if not calls:
            return []
        requests = [
            {
                "jsonrpc": "2.0",
                "id": next(self._ids),
                "method": "call",
                "params": [sid, obj, method, args],
            }
            for obj, method, args in calls
        ]
        answer = await self._post(target, requests[0] if len(requests) == 1 else requests)
        answers = answer if isinstance(answer, list) else [answer]
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        results = []
        for request in requests:
            single = by_id.get(request["id"])
            if single is None:
                raise DriverError("bad answer (a call is missing from the answer)")
            results.append(_data(single))
        return results

    async def _post(self, target: Target, payload: Any) -> Any:
        try:
            async with self._client().post(
                target.url,
                json=payload,
                timeout=aiohttp.ClientTimeout(total=target.timeout),
            ) as response:
                if response.status != 200:
                    raise DriverError(f"unreachable (HTTP {response.status})")
                body = await response.read()
        except TimeoutError:
            raise DriverError("timeout") from None
        except aiohttp.ClientConnectionError as exc:
            raise DriverError("unreachable") from exc
        except aiohttp.ClientError as exc:
            raise DriverError(f"unreachable ({type(exc).__name__})") from exc
        try:
            return json.loads(body)
        except ValueError:
            raise DriverError("bad answer (not JSON)") from None


def _data(answer: Mapping[str, Any]) -> dict[str, Any]:
    """The data of one JSON-RPC answer to a ubus call, or the error it carries."""
    if "error" in answer:
        error = answer["error"] if isinstance(answer["error"], dict) else {}
        if error.get("code") in JSONRPC_SESSION_ERRORS:
            raise _SessionRejected
        raise DriverError(f"ubus error {error.get('code')} ({error.get('message', 'no message')})")
    result = answer.get("result")
    if not isinstance(result, list) or not result or not isinstance(result[0], int):
        raise DriverError("bad answer (no ubus status)")
    status = result[0]
    if status == STATUS_PERMISSION_DENIED:
        raise _SessionRejected
    if status != 0:
        raise DriverError(f"ubus error {status} ({UBUS_STATUS.get(status, 'unknown')})")
    data = result[1] if len(result) > 1 else {}
    if not isinstance(data, dict):
        raise DriverError("bad answer (ubus data is not an object)")
    return data


def _sections(answer: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    values = answer.get("values")
    if not isinstance(values, dict):
        raise DriverError("bad answer (uci get has no values)")
    return raw_sections(values)
