"""``machi wifi ACTION``: tools of the Wi-Fi room, one subcommand each.

``simulate`` serves simulated OpenWrt APs (machi.wifi.simulator) until Ctrl-C, so that the demo,
the disaster switch and monitoring can be tried without hardware::

    machi wifi simulate --aps 100 --port 8300
    machi wifi simulate --keys data/wifi-simulator-keys.json \\
        --push http://127.0.0.1:8000/wifi/push --push-interval 60

To add a subcommand: write ``_add_<name>(subparsers)`` and ``_<name>(options)`` and list the name
in ``ACTIONS``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError
from django.utils.translation import gettext as _

from machi.core.management.subcommands import SubcommandsCommand, positive_int
from machi.wifi import simulator

ACTIONS = ("simulate",)


def port_number(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"not a port: {value}")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {value}")
    return value


class Command(SubcommandsCommand):
    help = (
        "Public Wi-Fi tools. `machi wifi simulate --aps N --port P` serves N simulated OpenWrt "
        "APs at http://127.0.0.1:P/ap/<n>/ubus until Ctrl-C."
    )
    # The simulator touches no database: start at once, even before `machi init`.
    requires_system_checks: list[str] = []
    actions = ACTIONS

    # -- simulate

    def _add_simulate(self, subparsers: Any) -> None:
        sim = subparsers.add_parser(
            "simulate",
            help="serve simulated OpenWrt APs (ubus JSON-RPC) until Ctrl-C",
            description=(
                "Serve N simulated OpenWrt APs at http://HOST:PORT/ap/<n>/ubus (n = 1..N), "
                "each with its own wireless config, root password and clients; optionally push "
                "NetJSON monitoring for each to Machi."
            ),
        )
        sim.add_argument(
            "--aps", type=positive_int, default=None, help="how many APs (default: the keys file's)"
        )
        sim.add_argument(
            "--port",
            type=port_number,
            default=int(getattr(settings, "MACHI_WIFI_SIMULATOR_PORT", 8300)),
            help="port to listen on, 0 for any free one (default %(default)s)",
        )
        sim.add_argument("--host", default="127.0.0.1", help="address (default %(default)s)")
        sim.add_argument(
            "--password",
            default=simulator.DEFAULT_PASSWORD,
            help="root password of APs the keys file does not name (default %(default)s)",
        )
        sim.add_argument(
            "--ssid", default=simulator.DEFAULT_SSID, help="normal SSID (default %(default)s)"
        )
        sim.add_argument(
            "--keys",
            type=Path,
            default=None,
            metavar="FILE",
            help='JSON list of {"n", "mac", "key", "password"}: each AP\'s MAC, monitoring key '
            "and password",
        )
        sim.add_argument(
            "--faults",
            type=Path,
            default=None,
            metavar="FILE",
            help='JSON object {"<n>": "down" | "timeout" | "no_apply" | "bad_json"}',
        )
        sim.add_argument(
            "--push",
            default=None,
            metavar="URL",
            help="POST NetJSON monitoring of each AP to URL/<mac> (needs --keys)",
        )
        sim.add_argument(
            "--push-interval",
            type=positive_float,
            default=60.0,
            metavar="S",
            help="seconds between two reports of an AP, spread over all APs (default %(default)s)",
        )
        sim.add_argument(
            "--push-concurrency",
            type=positive_int,
            default=50,
            metavar="C",
            help="reports in flight at most (default %(default)s)",
        )
        sim.add_argument(
            "--session-timeout",
            type=positive_float,
            default=300.0,
            metavar="S",
            help="seconds an unused login lasts, as rpcd's (default %(default)s)",
        )
        sim.add_argument(
            "--latency",
            type=non_negative_float,
            default=0.0,
            metavar="S",
            help="added to every answer, like a slow backhaul (default 0)",
        )
        sim.add_argument(
            "--apply-delay",
            type=non_negative_float,
            default=0.0,
            metavar="S",
            help="seconds a reload takes to bring the new SSIDs on air (default 0)",
        )
        sim.add_argument("--seed", type=int, default=None, help="random seed for clients")
        sim.add_argument(
            "--duration",
            type=positive_float,
            default=None,
            metavar="S",
            help="stop after S seconds instead of at Ctrl-C (for scripts)",
        )

    def _simulate(self, options: dict[str, Any]) -> None:
        try:
            keys = simulator.load_keys(options["keys"]) if options["keys"] else []
            faults = simulator.load_faults(options["faults"]) if options["faults"] else {}
        except (OSError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        count = options["aps"] or max((int(entry["n"]) for entry in keys), default=0)
        if count < 1:
            raise CommandError("--aps N is needed (or a --keys file that lists the APs)")
        if options["push"] and not keys:
            raise CommandError("--push needs --keys: each AP pushes with its own monitoring key")
        configs = simulator.ap_configs(count, password=options["password"], keys=keys)
        try:
            asyncio.run(self._serve(configs, faults, options))
        except OSError as exc:  # the port is taken, or the address is not ours
            where = f"{options['host']}:{options['port']}"
            raise CommandError(f"cannot listen on {where}: {exc}") from exc

    async def _serve(
        self, configs: list[simulator.ApConfig], faults: dict[int, str], options: dict[str, Any]
    ) -> None:
        handle = await simulator.start_simulator(
            configs,
            options["port"],
            host=options["host"],
            password=options["password"],
            ssid=options["ssid"],
            faults=faults,
            session_timeout=options["session_timeout"],
            latency=options["latency"],
            apply_delay=options["apply_delay"],
            push_url=options["push"],
            push_interval=options["push_interval"],
            push_concurrency=options["push_concurrency"],
            seed=options["seed"],
        )
        try:
            self.stdout.write(
                _("Simulating %(count)d OpenWrt APs at %(pattern)s (n = 1..%(count)d)")
                % {"count": len(configs), "pattern": handle.url_pattern}
            )
            self.stdout.write(
                _("User %(user)s; password %(password)s unless the keys file sets one.")
                % {"user": simulator.USERNAME, "password": options["password"]}
            )
            if faults:
                listed = ", ".join(f"{n}: {fault}" for n, fault in sorted(faults.items()))
                self.stdout.write(_("Faults: %(faults)s") % {"faults": listed})
            if options["push"]:
                self.stdout.write(
                    _("Pushing NetJSON monitoring to %(url)s/<mac> every %(seconds)g s.")
                    % {"url": options["push"].rstrip("/"), "seconds": options["push_interval"]}
                )
            self.stdout.write(_("Press Ctrl-C to stop."))
            self.stdout.flush()
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                # SIGTERM from a process manager stops as cleanly as Ctrl-C; SIGINT is set
                # too because a shell starts background jobs with it ignored.
                # Not on Windows, nor outside the main thread: Ctrl-C then works as usual.
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.add_signal_handler(signum, stop.set)
            if options["duration"]:
                loop.call_later(options["duration"], stop.set)
            await stop.wait()
            self.stdout.write(_("Simulator stopped."))
        finally:
            await handle.stop()
            if options["push"]:
                push = handle.push
                self.stdout.write(
                    _(
                        "Reports: %(sent)d accepted, %(rejected)d refused, %(failed)d failed, "
                        "%(dropped)d dropped."
                    )
                    % {
                        "sent": push.sent,
                        "rejected": push.rejected,
                        "failed": push.failed,
                        "dropped": push.dropped,
                    }
                )
