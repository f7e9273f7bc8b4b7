"""Simulated OpenWrt access points, for tests, demos and benchmarks without hardware.

One aiohttp server on 127.0.0.1 serves N APs at ``/ap/<n>/ubus`` (n = 1..N). Each AP answers
the ubus JSON-RPC calls Machi's OpenWrt driver makes, with rpcd's semantics where they matter:

* ``session login`` with the AP's own user name and password gives a session that expires after
  ``session_timeout`` seconds without use (rpcd: 300 s); a call with an unknown or expired
  session is answered with JSON-RPC error -32002 "Access denied", as uhttpd-mod-ubus does.
* ``uci`` changes (``set``, ``add``, ``delete``) are staged per session until ``commit``;
  ``revert`` drops them; ``get`` shows the session's staged view.
* ``network reload`` brings the committed ``wireless`` config on air (after ``apply_delay``);
  ``network.wireless status`` reports what is on air, the way netifd does.

It also keeps a few clients per SSID (many more on 00000JAPAN) and can push NetJSON
DeviceMonitoring documents for every AP to Machi, spread evenly over the push interval.

Faults, per AP: ``down`` (HTTP 503), ``timeout`` (never answers), ``no_apply`` (commits, but a
reload leaves the old SSIDs on air) and ``bad_json`` (answers an HTML page).

Run it with ``machi wifi simulate``, or in-process with ``await start_simulator(...)``.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import random
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import aiohttp
from aiohttp import web

# The same value as machi.wifi.models.DISASTER_SSID, repeated so that the simulator runs
# without Django settings (benchmarks and scripts import it on its own).
DISASTER_SSID: Final = "00000JAPAN"

DEFAULT_SSID: Final = "Toda_Free_Wi-Fi"
DEFAULT_PASSWORD: Final = "machi-sim"  # noqa: S105 - the simulated APs' well-known default
USERNAME: Final = "root"
FAULTS: Final = frozenset({"down", "timeout", "no_apply", "bad_json"})
ANONYMOUS_SID: Final = "00000000000000000000000000000000"

# ubus status codes and uhttpd-mod-ubus JSON-RPC errors (see drivers/openwrt.py).
UBUS_OK: Final = 0
UBUS_INVALID_ARGUMENT: Final = 2
UBUS_METHOD_NOT_FOUND: Final = 3
UBUS_NOT_FOUND: Final = 4
UBUS_PERMISSION_DENIED: Final = 6
RPC_PARSE_ERROR: Final = -32700
RPC_INVALID_REQUEST: Final = -32600
RPC_METHOD_NOT_FOUND: Final = -32601
RPC_OBJECT_NOT_FOUND: Final = -32000
RPC_ACCESS_DENIED: Final = -32002

Json = dict[str, Any]


class _RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ApConfig:
    """Who one simulated AP is: its number, MAC, monitoring key and root password."""

    n: int
    mac: str
    key: str = ""  # the Bearer key it pushes monitoring with
    password: str = DEFAULT_PASSWORD


def default_mac(n: int) -> str:
    # 02:… is a locally administered address: never a real vendor's.
    return f"02:6d:63:{(n >> 16) & 0xFF:02x}:{(n >> 8) & 0xFF:02x}:{n & 0xFF:02x}"


def ap_configs(
    count: int, *, password: str = DEFAULT_PASSWORD, keys: Sequence[Mapping[str, Any]] = ()
) -> list[ApConfig]:
    """APs 1..count; an entry of ``keys`` ({"n", "mac", "key", "password"}) overrides the
    defaults of its AP."""
    known = {int(entry["n"]): entry for entry in keys}
    configs = []
    for n in range(1, count + 1):
        entry = known.get(n, {})
        configs.append(
            ApConfig(
                n=n,
                mac=str(entry.get("mac") or default_mac(n)),
                key=str(entry.get("key") or ""),
                password=str(entry.get("password") or password),
            )
        )
    return configs


def load_keys(path: Path) -> list[dict[str, Any]]:
    """A keys file: a JSON list of {"n": 1, "mac": "...", "key": "...", "password": "..."}."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list) or not all(
        isinstance(e, dict) and isinstance(e.get("n"), int) for e in data
    ):
        raise ValueError(f'{path}: expected a JSON list of {{"n": 1, "mac": …, "key": …}}')
    return data


def load_faults(path: Path) -> dict[int, str]:
    """A faults file: a JSON object {"<n>": "down" | "timeout" | "no_apply" | "bad_json"}."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f'{path}: expected a JSON object like {{"3": "down"}}')
    faults = {int(n): str(fault) for n, fault in data.items()}
    unknown = set(faults.values()) - FAULTS
    if unknown:
        raise ValueError(f"{path}: unknown faults {sorted(unknown)}; known: {sorted(FAULTS)}")
    return faults


def default_wireless(ssid: str = DEFAULT_SSID) -> dict[str, Json]:
    """A two-radio AP fresh from ``wifi config``, broadcasting the city's free Wi-Fi."""
    return {
        "radio0": {
            ".type": "wifi-device",
            ".anonymous": False,
            "type": "mac80211",
            "path": "platform/soc/18000000.wifi",
            "band": "2g",
            "channel": "1",
            "htmode": "HE20",
            "country": "JP",
            "cell_density": "0",
        },
        "default_radio0": {
            ".type": "wifi-iface",
            ".anonymous": False,
            "device": "radio0",
            "network": "lan",
            "mode": "ap",
            "ssid": ssid,
            "encryption": "none",
            "isolate": "1",
        },
        "radio1": {
            ".type": "wifi-device",
            ".anonymous": False,
            "type": "mac80211",
            "path": "platform/soc/18000000.wifi+1",
            "band": "5g",
            "channel": "36",
            "htmode": "HE80",
            "country": "JP",
            "cell_density": "0",
        },
        "default_radio1": {
            ".type": "wifi-iface",
            ".anonymous": False,
            "device": "radio1",
            "network": "lan",
            "mode": "ap",
            "ssid": ssid,
            "encryption": "none",
            "isolate": "1",
        },
    }


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in {"1", "true", "on", "yes", "enabled"}


def _uci_value(value: Any) -> str | list[str]:
    # rpcd stores every option as a string, and a JSON array as a UCI list.
    if isinstance(value, list):
        return [_uci_value_scalar(v) for v in value]
    return _uci_value_scalar(value)


def _uci_value_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _derived_mac(mac: str, index: int) -> str:
    """The MAC of an AP's index-th virtual interface: its own with the last octet moved on."""
    digits = "".join(c for c in mac.lower() if c in "0123456789abcdef")
    if len(digits) != 12:
        digits = "026d63000000"
    octets = [int(digits[i : i + 2], 16) for i in range(0, 12, 2)]
    octets[-1] = (octets[-1] + index) & 0xFF
    return ":".join(f"{o:02x}" for o in octets)


def _frequency(band: str, channel: int) -> int:
    if band == "6g":
        return 5950 + 5 * channel
    if band == "5g":
        return 5000 + 5 * channel
    return 2484 if channel == 14 else 2407 + 5 * channel


@dataclass
class Vif:
    """One virtual interface on air."""

    radio: str
    section: str
    ifname: str
    config: Json  # typed the way netifd reports it (booleans, numbers, network as a list)
    band: str
    channel: int
    htmode: str
    clients: list[str] = field(default_factory=list)
    rx_bytes: int = 0
    tx_bytes: int = 0


class SimulatedAp:
    """One AP: its UCI ``wireless`` config, rpcd sessions, what is on air, and its clients."""

    def __init__(
        self,
        config: ApConfig,
        *,
        ssid: str = DEFAULT_SSID,
        fault: str | None = None,
        session_timeout: float = 300.0,
        apply_delay: float = 0.0,
        rng: random.Random | None = None,
    ) -> None:
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {sorted(FAULTS)}")
        self.n = config.n
        self.mac = config.mac
        self.key = config.key
        self.username = USERNAME
        self.password = config.password
        self.fault = fault
        self.session_timeout = session_timeout
        self.apply_delay = apply_delay
        self.committed: dict[str, Json] = default_wireless(ssid)
        self.commits = 0
        self.reloads = 0
        self.logins = 0
        self.vifs: list[Vif] = []
        self.pending = False  # a reload is being brought up
        self._reload_generation = 0
        self._staged: dict[str, dict[str, Json]] = {}
        self._sessions: dict[str, float] = {}  # sid -> monotonic expiry
        self._anonymous = itertools.count(1)
        self._rng = rng or random.Random(config.n)  # noqa: S311 - simulated traffic, not security
        self._handlers = self._objects()
        self._booted = time.monotonic() - self._rng.randint(3600, 30 * 86400)
        self._bring_up(self.committed)

    # -- what tests look at

    def broadcast(self) -> list[str]:
        """The SSIDs a phone nearby would see now (hidden ones left out), in order, once each."""
        seen: list[str] = []
        for vif in self.vifs:
            ssid = str(vif.config.get("ssid", ""))
            if not vif.config.get("hidden") and ssid not in seen:
                seen.append(ssid)
        return seen

    def bring_up(self) -> None:
        """Put the committed config on air now, as a reload would (for tests that edit
        ``committed`` directly)."""
        self._bring_up(copy.deepcopy(self.committed))

    def expire_sessions(self) -> None:
        """Forget every login, as rpcd does after its session timeout or a restart."""
        self._sessions.clear()
        self._staged.clear()

    # -- ubus

    def call(self, sid: str, obj: str, method: str, args: Json) -> list[Any]:
        """One ubus call: ``[status]`` or ``[status, data]``; JSON-RPC errors raise _RpcError."""
        if obj == "session" and method == "login":
            return self._login(args)
        self._check_session(sid)
        handler = self._handlers.get(obj)
        if handler is None:
            raise _RpcError(RPC_OBJECT_NOT_FOUND, "Object not found")
        call = handler.get(method)
        if call is None:
            return [UBUS_METHOD_NOT_FOUND]
        return call(sid, args)

    def _objects(self) -> dict[str, dict[str, Any]]:
        return {
            "session": {"destroy": self._logout},
            "uci": {
                "get": self._uci_get,
                "set": self._uci_set,
                "add": self._uci_add,
                "delete": self._uci_delete,
                "commit": self._uci_commit,
                "revert": self._uci_revert,
                "changes": self._uci_changes,
            },
            "network": {"reload": self._reload},
            "network.wireless": {"status": lambda _sid, _args: [UBUS_OK, self.wireless_status()]},
        }

    def _login(self, args: Json) -> list[Any]:
        if args.get("username") != self.username or args.get("password") != self.password:
            return [UBUS_PERMISSION_DENIED]
        sid = secrets.token_hex(16)
        self._sessions[sid] = time.monotonic() + self.session_timeout
        self.logins += 1
        return [
            UBUS_OK,
            {
                "ubus_rpc_session": sid,
                "timeout": int(self.session_timeout),
                "expires": int(self.session_timeout),
                "acls": {"ubus": {"uci": ["*"], "network": ["reload"]}},
                "data": {"username": self.username},
            },
        ]

    def _check_session(self, sid: str) -> None:
        expiry = self._sessions.get(sid)
        now = time.monotonic()
        if expiry is None or expiry < now:
            self._sessions.pop(sid, None)
            self._staged.pop(sid, None)
            raise _RpcError(RPC_ACCESS_DENIED, "Access denied")
        # rpcd restarts a session's timer on every use.
        self._sessions[sid] = now + self.session_timeout

    def _logout(self, sid: str, _args: Json) -> list[Any]:
        self._sessions.pop(sid, None)
        self._staged.pop(sid, None)
        return [UBUS_OK]

    def _view(self, sid: str) -> dict[str, Json]:
        return self._staged.get(sid, self.committed)

    def _stage(self, sid: str) -> dict[str, Json]:
        if sid not in self._staged:
            self._staged[sid] = copy.deepcopy(self.committed)
        return self._staged[sid]

    @staticmethod
    def _check_config(args: Json) -> bool:
        return args.get("config") == "wireless"

    def _uci_get(self, sid: str, args: Json) -> list[Any]:
        if not self._check_config(args):
            return [UBUS_NOT_FOUND]
        view = self._view(sid)
        values = {
            name: {**section, ".name": name, ".index": index}
            for index, (name, section) in enumerate(view.items())
        }
        section_name = args.get("section")
        if section_name is None:
            wanted = args.get("type")
            if wanted:
                values = {k: v for k, v in values.items() if v[".type"] == wanted}
            return [UBUS_OK, {"values": values}]
        if section_name not in values:
            return [UBUS_NOT_FOUND]
        option = args.get("option")
        if option is None:
            return [UBUS_OK, {"values": values[section_name]}]
        if option not in values[section_name]:
            return [UBUS_NOT_FOUND]
        return [UBUS_OK, {"value": values[section_name][option]}]

    def _uci_set(self, sid: str, args: Json) -> list[Any]:
        values = args.get("values")
        if not self._check_config(args) or not isinstance(values, dict):
            return [UBUS_INVALID_ARGUMENT]
        staged = self._stage(sid)
        section = staged.get(str(args.get("section")))
        if section is None:
            return [UBUS_NOT_FOUND]
        section.update({k: _uci_value(v) for k, v in values.items()})
        return [UBUS_OK]

    def _uci_add(self, sid: str, args: Json) -> list[Any]:
        kind = args.get("type")
        values = args.get("values", {})
        if not self._check_config(args) or not kind or not isinstance(values, dict):
            return [UBUS_INVALID_ARGUMENT]
        staged = self._stage(sid)
        name = args.get("name")
        if name:
            # rpcd sets the type of an existing section of that name and keeps its options.
            section = staged.setdefault(str(name), {".anonymous": False})
            section[".type"] = kind
        else:
            name = f"cfg{next(self._anonymous):06x}"
            section = staged[name] = {".type": kind, ".anonymous": True}
        section.update({k: _uci_value(v) for k, v in values.items()})
        return [UBUS_OK, {"section": name}]

    def _uci_delete(self, sid: str, args: Json) -> list[Any]:
        if not self._check_config(args):
            return [UBUS_INVALID_ARGUMENT]
        staged = self._stage(sid)
        name = str(args.get("section"))
        if name not in staged:
            return [UBUS_NOT_FOUND]
        options = args.get("options") or ([args["option"]] if args.get("option") else [])
        if not options:
            del staged[name]
        for option in options:
            staged[name].pop(str(option), None)
        return [UBUS_OK]

    def _uci_commit(self, sid: str, args: Json) -> list[Any]:
        if not self._check_config(args):
            return [UBUS_INVALID_ARGUMENT]
        if sid in self._staged:
            self.committed = self._staged.pop(sid)
        self.commits += 1
        return [UBUS_OK]

    def _uci_revert(self, sid: str, args: Json) -> list[Any]:
        if not self._check_config(args):
            return [UBUS_INVALID_ARGUMENT]
        self._staged.pop(sid, None)
        return [UBUS_OK]

    def _uci_changes(self, sid: str, args: Json) -> list[Any]:
        changed = sid in self._staged and self._staged[sid] != self.committed
        return [UBUS_OK, {"changes": {"wireless": [["changed"]] if changed else []}}]

    def _reload(self, _sid: str, _args: Json) -> list[Any]:
        self.reloads += 1
        if self.fault == "no_apply":
            return [UBUS_OK]  # accepted, and nothing happens: what read-back must catch
        config = copy.deepcopy(self.committed)
        if self.apply_delay > 0:
            # netifd takes the radios down and brings them up with the new config a few
            # seconds later; meanwhile nothing is on air.
            self.vifs = []
            self.pending = True
            self._reload_generation += 1
            asyncio.get_running_loop().call_later(
                self.apply_delay, self._bring_up_if_latest, config, self._reload_generation
            )
        else:
            self._bring_up(config)
        return [UBUS_OK]

    def _bring_up_if_latest(self, config: Mapping[str, Json], generation: int) -> None:
        # A second reload during the delay supersedes the first, as netifd's does.
        if generation == self._reload_generation:
            self._bring_up(config)

    def _bring_up(self, config: Mapping[str, Json]) -> None:
        old = {(v.radio, str(v.config.get("ssid"))): v for v in self.vifs}
        vifs: list[Vif] = []
        radios = [(name, s) for name, s in config.items() if s.get(".type") == "wifi-device"]
        for r, (radio, device) in enumerate(radios):
            if _truthy(device.get("disabled", "0")):
                continue
            band = str(device.get("band", "2g"))
            channel_option = str(device.get("channel", "auto"))
            channel = (
                int(channel_option) if channel_option.isdigit() else (1 if band == "2g" else 36)
            )
            ifaces = [
                (name, s)
                for name, s in config.items()
                if s.get(".type") == "wifi-iface"
                and s.get("device") == radio
                and not _truthy(s.get("disabled", "0"))
                and str(s.get("mode", "ap")) == "ap"
            ]
            for k, (name, iface) in enumerate(ifaces):
                ifname = str(iface.get("ifname") or (f"wlan{r}" if k == 0 else f"wlan{r}-{k}"))
                network = iface.get("network", "lan")
                status_config: Json = {
                    "mode": "ap",
                    "ssid": str(iface.get("ssid", "")),
                    "encryption": str(iface.get("encryption", "none")),
                    "hidden": _truthy(iface.get("hidden", "0")),
                    "isolate": _truthy(iface.get("isolate", "0")),
                    "network": network if isinstance(network, list) else str(network).split(),
                }
                for option in ("key", "ifname", "owe_transition_ifname"):
                    if option in iface:
                        status_config[option] = str(iface[option])
                if str(iface.get("maxassoc", "")).isdigit():
                    status_config["maxassoc"] = int(iface["maxassoc"])
                vif = Vif(
                    radio=radio,
                    section=name,
                    ifname=ifname,
                    config=status_config,
                    band=band,
                    channel=channel,
                    htmode=str(device.get("htmode", "")),
                )
                previous = old.get((radio, status_config["ssid"]))
                if previous is not None:  # the same SSID keeps its counters
                    vif.rx_bytes, vif.tx_bytes = previous.rx_bytes, previous.tx_bytes
                vifs.append(vif)
        self.vifs = vifs
        self.pending = False

    def wireless_status(self) -> Json:
        """netifd's ``network.wireless status``: each radio, and the interfaces on air."""
        status: Json = {}
        for radio, device in self.committed.items():
            if device.get(".type") != "wifi-device":
                continue
            vifs = [v for v in self.vifs if v.radio == radio]
            status[radio] = {
                "up": bool(vifs) and not self.pending,
                "pending": self.pending,
                "autostart": True,
                "disabled": _truthy(device.get("disabled", "0")),
                "retry_setup_failed": False,
                "config": {k: v for k, v in device.items() if not k.startswith(".")},
                "interfaces": [
                    {"section": v.section, "ifname": v.ifname, "config": dict(v.config)}
                    for v in vifs
                ],
            }
        return status

    # -- clients and monitoring

    def _random_mac(self) -> str:
        octets = [self._rng.randrange(256) for _ in range(6)]
        octets[0] = (octets[0] | 0x02) & 0xFE  # phones randomise their MAC: locally administered
        return ":".join(f"{o:02x}" for o in octets)

    def tick(self, seconds: float) -> None:
        """Clients come and go, and move traffic, for ``seconds`` of simulated time."""
        for vif in self.vifs:
            disaster = str(vif.config.get("ssid", "")).startswith(DISASTER_SSID)
            low, high = (15, 60) if disaster else (0, 5)
            if vif.config.get("hidden"):
                low, high = 0, high // 4
            target = self._rng.randint(low, high)
            if "maxassoc" in vif.config:
                target = min(target, int(vif.config["maxassoc"]))
            # Move a few clients at a time toward the target: a crowd does not appear at once.
            step = max(1, abs(target - len(vif.clients)) // 3)
            if len(vif.clients) > target:
                for _ in range(step):
                    vif.clients.pop(self._rng.randrange(len(vif.clients)))
            elif len(vif.clients) < target:
                vif.clients.extend(self._random_mac() for _ in range(step))
            per_client = int(seconds * self._rng.randint(2_000, 60_000))
            vif.rx_bytes += len(vif.clients) * per_client // 4
            vif.tx_bytes += len(vif.clients) * per_client

    def monitoring(self) -> Json:
        """A NetJSON DeviceMonitoring document, as openwisp-monitoring's agent sends it."""
        clients = sum(len(v.clients) for v in self.vifs)
        load = min(4.0, 0.05 + clients * 0.01 + self._rng.random() * 0.1)
        total = 128 * 1024 * 1024
        free = int(total * max(0.05, 0.6 - clients * 0.002 - self._rng.random() * 0.05))
        interfaces = []
        for index, vif in enumerate(self.vifs, start=1):
            interfaces.append(
                {
                    "name": vif.ifname,
                    "type": "wireless",
                    "up": True,
                    "mac": _derived_mac(self.mac, index),
                    "mtu": 1500,
                    "statistics": {
                        "rx_bytes": vif.rx_bytes,
                        "tx_bytes": vif.tx_bytes,
                        "rx_packets": vif.rx_bytes // 800,
                        "tx_packets": vif.tx_bytes // 1000,
                        "rx_errors": 0,
                        "tx_errors": 0,
                        "rx_dropped": 0,
                        "tx_dropped": 0,
                    },
                    "wireless": {
                        "ssid": vif.config.get("ssid", ""),
                        "mode": "access_point",
                        "channel": vif.channel,
                        "frequency": _frequency(vif.band, vif.channel),
                        "htmode": vif.htmode,
                        "tx_power": 20,
                        "noise": -95,
                        "country": "JP",
                        "clients": [
                            {
                                "mac": mac,
                                "signal": -40 - self._rng.randint(0, 45),
                                "noise": -95,
                                "auth": True,
                                "assoc": True,
                                "authorized": True,
                                "wmm": True,
                            }
                            for mac in vif.clients
                        ],
                    },
                }
            )
        return {
            "type": "DeviceMonitoring",
            "general": {
                "hostname": f"sim-ap-{self.n}",
                "local_time": int(time.time()),
                "uptime": int(time.monotonic() - self._booted),
            },
            "resources": {
                "load": [round(load, 2), round(load * 0.9, 2), round(load * 0.8, 2)],
                "cpus": 1,
                "memory": {
                    "total": total,
                    "free": free,
                    "shared": 1_048_576,
                    "buffered": 4_194_304,
                    "available": free + 8_388_608,
                    "cached": 8_388_608,
                },
                "swap": {"total": 0, "free": 0},
                "disk": [
                    {
                        "mount_point": "/",
                        "filesystem": "overlayfs:/overlay",
                        "size_bytes": 12_582_912,
                        "used_bytes": 1_048_576,
                        "available_bytes": 11_534_336,
                        "used_percent": 8,
                    }
                ],
            },
            "interfaces": interfaces,
        }


@dataclass
class PushStats:
    sent: int = 0  # answered 2xx
    rejected: int = 0  # answered otherwise
    failed: int = 0  # not answered (refused, timeout)
    dropped: int = 0  # not sent: the pushers were still busy with earlier reports


class SimulatorHandle:
    """A running simulator: where its APs are, and each AP for assertions."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        aps: dict[int, SimulatedAp],
        runner: web.AppRunner,
        stopping: asyncio.Event,
    ) -> None:
        self.host = host
        self.port = port
        self.aps = aps
        self.push = PushStats()
        self._runner = runner
        self._stopping = stopping
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def url_pattern(self) -> str:
        return f"http://{self.host}:{self.port}/ap/<n>/ubus"

    def url(self, n: int) -> str:
        return f"http://{self.host}:{self.port}/ap/{n}/ubus"

    @property
    def urls(self) -> list[str]:
        return [self.url(n) for n in self.aps]

    def ap(self, n: int) -> SimulatedAp:
        return self.aps[n]

    def broadcast(self, n: int) -> list[str]:
        return self.aps[n].broadcast()

    async def stop(self) -> None:
        self._stopping.set()  # hung "timeout" APs give up their requests
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._runner.cleanup()


def _app(
    aps: Mapping[int, SimulatedAp], *, latency: float, stopping: asyncio.Event
) -> web.Application:
    async def ubus(request: web.Request) -> web.StreamResponse:
        try:
            ap = aps[int(request.match_info["n"])]
        except (KeyError, ValueError):
            raise web.HTTPNotFound() from None
        if latency > 0:
            await asyncio.sleep(latency)
        if ap.fault == "down":
            return web.Response(status=503, text="503 Service Unavailable")
        if ap.fault == "timeout":
            await stopping.wait()
            return web.Response(status=503)
        if ap.fault == "bad_json":
            return web.Response(text="<html><body>LuCI</body></html>", content_type="text/html")
        try:
            payload = json.loads(await request.read())
        except ValueError:
            return web.json_response(_error(None, RPC_PARSE_ERROR, "Parse error"))
        if isinstance(payload, list):  # uhttpd-mod-ubus answers a batch in order
            return web.json_response([_answer(ap, item) for item in payload])
        return web.json_response(_answer(ap, payload))

    app = web.Application()
    app.router.add_post("/ap/{n}/ubus", ubus)
    return app


def _error(request_id: Any, code: int, message: str) -> Json:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


def _answer(ap: SimulatedAp, request: Any) -> Json:
    if not isinstance(request, dict) or request.get("jsonrpc") != "2.0":
        return _error(None, RPC_INVALID_REQUEST, "Invalid request")
    request_id = request.get("id")
    params = request.get("params")
    if request.get("method") != "call":
        return _error(request_id, RPC_METHOD_NOT_FOUND, "Method not found")
    if (
        not isinstance(params, list)
        or len(params) != 4
        or not all(isinstance(p, str) for p in params[:3])
        or not isinstance(params[3], dict)
    ):
        return _error(request_id, RPC_INVALID_REQUEST, "Invalid request")
    try:
        result = ap.call(*params)
    except _RpcError as exc:
        return _error(request_id, exc.code, exc.message)
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


async def start_simulator(
    aps: int | Sequence[ApConfig],
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    password: str = DEFAULT_PASSWORD,
    ssid: str = DEFAULT_SSID,
    faults: Mapping[int, str] | None = None,
    session_timeout: float = 300.0,
    latency: float = 0.0,
    apply_delay: float = 0.0,
    push_url: str | None = None,
    push_interval: float = 60.0,
    push_concurrency: int = 50,
    seed: int | None = None,
) -> SimulatorHandle:
    """Serve simulated APs at ``http://host:port/ap/<n>/ubus`` until ``handle.stop()``.

    ``aps`` is a count (APs 1..N with default MACs, no monitoring keys and ``password``) or
    the APs themselves. ``port=0`` lets the OS choose (see ``handle.port``). With ``push_url``,
    every AP POSTs its monitoring to ``<push_url>/<mac>`` every ``push_interval`` seconds.
    """
    configs = ap_configs(aps, password=password) if isinstance(aps, int) else list(aps)
    faults = dict(faults or {})
    rng = random.Random(seed)  # noqa: S311 - simulated traffic, not security
    simulated = {
        c.n: SimulatedAp(
            c,
            ssid=ssid,
            fault=faults.get(c.n),
            session_timeout=session_timeout,
            apply_delay=apply_delay,
            rng=random.Random(rng.getrandbits(64)),  # noqa: S311
        )
        for c in configs
    }
    stopping = asyncio.Event()
    # The default 60 s shutdown wait would keep hung requests of "timeout" APs alive.
    runner = web.AppRunner(
        _app(simulated, latency=latency, stopping=stopping), access_log=None, shutdown_timeout=1.0
    )
    await runner.setup()
    # 1,000 APs switched at once open hundreds of connections in a burst: the default listen
    # backlog of 128 would drop SYNs and cost the client a one-second retransmit.
    site = web.TCPSite(runner, host, port, backlog=4096)
    await site.start()
    bound = runner.addresses[0][1]
    handle = SimulatorHandle(host=host, port=bound, aps=simulated, runner=runner, stopping=stopping)
    for ap in simulated.values():
        ap.tick(push_interval)
    if push_url:
        handle._tasks.append(
            asyncio.create_task(
                _push_loop(
                    handle,
                    push_url.rstrip("/"),
                    interval=push_interval,
                    concurrency=max(1, push_concurrency),
                )
            )
        )
    return handle


async def _push_loop(
    handle: SimulatorHandle, push_url: str, *, interval: float, concurrency: int
) -> None:
    """Every AP pushes once per interval; AP i at i/N of it, so the receiver sees an even flow
    rather than N documents at once (real APs' clocks are spread the same way)."""
    aps = list(handle.aps.values())
    queue: asyncio.Queue[SimulatedAp] = asyncio.Queue(maxsize=concurrency * 4)
    timeout = aiohttp.ClientTimeout(total=max(5.0, min(interval, 30.0)))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        workers = [
            asyncio.create_task(_pusher(http, queue, push_url, handle.push))
            for _ in range(min(concurrency, len(aps)))
        ]
        try:
            loop = asyncio.get_running_loop()
            start = loop.time()
            for tick in itertools.count():
                for i, ap in enumerate(aps):
                    due = start + (tick + i / len(aps)) * interval
                    delay = due - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    if ap.fault == "down":
                        continue  # a dead AP pushes nothing: that is what Machi must notice
                    ap.tick(interval)
                    try:
                        queue.put_nowait(ap)
                    except asyncio.QueueFull:
                        handle.push.dropped += 1
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)


async def _pusher(
    http: aiohttp.ClientSession,
    queue: asyncio.Queue[SimulatedAp],
    push_url: str,
    stats: PushStats,
) -> None:
    while True:
        ap = await queue.get()
        try:
            async with http.post(
                f"{push_url}/{ap.mac}",
                json=ap.monitoring(),
                headers={"Authorization": f"Bearer {ap.key}"},
            ) as response:
                await response.read()
                if 200 <= response.status < 300:
                    stats.sent += 1
                else:
                    stats.rejected += 1
        except (aiohttp.ClientError, TimeoutError):
            stats.failed += 1
        finally:
            queue.task_done()
