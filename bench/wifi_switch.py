"""Disaster mode at scale: 1,000 simulated APs to 00000JAPAN, every one confirmed, and back.

In a fresh temporary MACHI_DATA_DIR (SQLite): ``machi migrate``, then ``machi wifi simulate``
serving ``--aps`` simulated OpenWrt APs (default 1,000) in a process of its own, on a free port.
Then, in ``machi shell``, through the product's own code:

* set-up: a municipality, 50 facilities with a site each, ``--aps`` APs spread over them
  (``services.ap_create``: MAC, encrypted password, monitoring key), the free Wi-Fi and the
  00000JAPAN profiles, and a declared disaster;
* **baseline** ``read()`` of every AP with the OpenWrt driver, all at once (at most
  ``MACHI_WIFI_SWITCH_CONCURRENCY``, 200, in flight), as the switch itself reads them;
* **on**  ``disaster_mode_start(sites="all", on=True)`` then ``jobs.execute(job_id)``, the very
  function the Huey worker's ``run_job`` task calls (the task itself is a one-line wrapper; no
  consumer runs here, so its queueing is not measured): read and keep each AP's configuration,
  apply 00000JAPAN, confirm by read-back. Seconds from the request to the job's end;
* an independent check: every AP read again, outside the job: exactly 00000JAPAN on air;
* the baseline again (interleaved: noise from neighbours lands on both);
* **off**  the same for the restore, checked the same way (the normal SSID back on every AP, the
  interfaces equal to those kept).

Read ``on_s`` against ``baseline_read_s`` (``relative_to_baseline``): a switch is about four reads'
worth of round trips per AP. The target of the issue is ``on_s`` ≤ 10 s for 1,000 APs.
Prints a short summary, then exactly one line of JSON (the last line of stdout).

    .venv/bin/python bench/wifi_switch.py
    .venv/bin/python bench/wifi_switch.py --aps 200 --latency 0.02
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pages import REPO, SCRUBBED_ENV, free_port, loadavg, log, machine_info

TARGET_S = 10.0

SETUP = """
import json, time
from machi.core import services as core
from machi.core.models import Facility, Municipality
from machi.emergency import services as emergency
from machi.wifi import services
from machi.wifi.simulator import DEFAULT_PASSWORD, default_mac
began = time.perf_counter()
m = Municipality.objects.first() or core.municipality_init(code="112241")
free = services.profile_create(name="free", kind="free", ssid="Toda_Free_Wi-Fi")
services.profile_create(name="00000JAPAN", kind="disaster", ssid="00000JAPAN", isolate=True,
                        max_clients=128)
sites = []
for k in range(50):
    f = core.facility_upsert(municipality=m, code=f"bench-{{k:03d}}", name=f"ベンチ小学校{{k}}",
                             is_shelter=True, latitude="35.817500", longitude="139.677800")
    sites.append(services.site_create(facility=f))
for n in range(1, {aps} + 1):
    services.ap_create(site=sites[n % len(sites)], name=f"AP{{n:04d}}", mac=default_mac(n),
                       management_url=f"http://127.0.0.1:{port}/ap/{{n}}/ubus", username="root",
                       secret=DEFAULT_PASSWORD, profiles=[free])
emergency.disaster_declare(name="ベンチ台風", hazards=["flood"], declared_by=None)
print(json.dumps({{"aps": {aps}, "sites": len(sites), "setup_s": time.perf_counter() - began}}))
"""

MEASURE = """
import asyncio, json, time
from django.conf import settings
from machi.core import jobs
from machi.wifi import disaster_mode, selectors
from machi.wifi.drivers.base import DriverError, Target
from machi.wifi.drivers.registry import driver_session
from machi.wifi.models import AccessPoint, Mode
from machi.wifi.simulator import DEFAULT_PASSWORD

targets = [Target(url=url, username="root", secret=DEFAULT_PASSWORD)
           for url in AccessPoint.objects.order_by("pk").values_list("management_url", flat=True)]
limit = int(getattr(settings, "MACHI_WIFI_SWITCH_CONCURRENCY", 200))

async def read_all():
    gate = asyncio.Semaphore(limit)
    async with driver_session("openwrt") as driver:
        async def one(target):
            async with gate:
                try:
                    return await driver.read(target)
                except DriverError as exc:
                    return exc
        return await asyncio.gather(*(one(t) for t in targets))

def baseline():
    began = time.perf_counter()
    states = asyncio.run(read_all())
    return time.perf_counter() - began, states

def errors(job):
    found = selectors.switches_of(job).values_list("error", flat=True)
    return sorted({{e for e in found if e}})[:5]

def switch(on):
    began = time.perf_counter()
    job = disaster_mode.disaster_mode_start(sites="all", on=on, requested_by=None)
    jobs.execute(str(job.pk))
    seconds = time.perf_counter() - began
    job.refresh_from_db()
    counts = selectors.switch_counts(job)
    return seconds, job, counts

result = {{}}
result["baseline_read_s"], before = baseline()
result["baseline_errors"] = sum(1 for s in before if isinstance(s, Exception))
normal = {{t.url: s.sections for t, s in zip(targets, before) if not isinstance(s, Exception)}}

seconds, job, counts = switch(True)
_, on_air = baseline()
result["on"] = {{
    "seconds": seconds, "job_status": job.status, "job_result": job.result,
    "confirmed": counts.confirmed, "failed": counts.failed, "skipped": counts.skipped,
    "in_disaster_mode": AccessPoint.objects.filter(mode=Mode.DISASTER).count(),
    "check_exactly_00000japan": sum(
        1 for s in on_air if not isinstance(s, Exception) and s.broadcasting() == ["00000JAPAN"]),
    "errors": errors(job),
}}
result["baseline_read_again_s"], _ = baseline()

seconds, job, counts = switch(False)
_, after = baseline()
result["off"] = {{
    "seconds": seconds, "job_status": job.status, "job_result": job.result,
    "confirmed": counts.confirmed, "failed": counts.failed, "skipped": counts.skipped,
    "in_normal_mode": AccessPoint.objects.filter(mode=Mode.NORMAL, saved_config={{}}).count(),
    "check_normal_ssid": sum(
        1 for s in after
        if not isinstance(s, Exception) and s.broadcasting() == ["Toda_Free_Wi-Fi"]),
    "check_interfaces_as_before": sum(
        1 for t, s in zip(targets, after)
        if not isinstance(s, Exception) and t.url in normal
        and disaster_mode.ifaces_match(normal[t.url], s.sections) == ""),
    "errors": errors(job),
}}
result["concurrency"] = limit
print(json.dumps(result))
"""


class BenchTimeout(Exception):
    pass


def run(machi: Path, env: dict[str, str], *args: str, timeout: float) -> str:
    done = subprocess.run(
        [str(machi), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode:
        raise RuntimeError(
            f"machi {args[0]} failed ({done.returncode}):\n{done.stdout[-2000:]}\n"
            f"{done.stderr[-4000:]}"
        )
    return done.stdout


def last_json(text: str) -> dict[str, Any]:
    return dict(json.loads(text.strip().splitlines()[-1]))


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the simulator exited ({process.returncode})")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"the simulator did not listen on {port} in {timeout:.0f} s")


def stop(process: subprocess.Popen[bytes] | None) -> int | None:
    if process is None or process.poll() is not None:
        return None if process is None else process.returncode
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            return process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    return process.poll()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--aps", type=int, default=1000, help="simulated APs (default 1000)")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds the simulator adds to each answer"
    )
    parser.add_argument("--max-seconds", type=float, default=900.0, help="bound of the run")
    parser.add_argument("--machi", type=Path, default=REPO / ".venv" / "bin" / "machi")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folder")
    args = parser.parse_args(argv)
    if not args.machi.exists():
        raise SystemExit(f"{args.machi} not found: run `make install` first")

    def on_alarm(signum: int, frame: object) -> None:
        raise BenchTimeout(f"the run took longer than {args.max_seconds:.0f} s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    signal.alarm(int(args.max_seconds))

    data_dir = Path(tempfile.mkdtemp(prefix="machi-bench-wifi-"))
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env.update({"MACHI_DATA_DIR": str(data_dir), "MACHI_LOG_LEVEL": "WARNING"})
    port = free_port()
    result: dict[str, Any] = {"benchmark": "wifi_switch", "ok": False, "aps": args.aps}
    simulator: subprocess.Popen[bytes] | None = None
    code = 1
    load_before = loadavg()
    try:
        log(f"  migrate in {data_dir}…")
        run(args.machi, env, "migrate", "--no-input", timeout=300)
        log(f"  simulator: {args.aps} APs on port {port}…")
        with (data_dir / "simulator.log").open("wb") as handle:
            simulator = subprocess.Popen(
                [str(args.machi), "wifi", "simulate", "--aps", str(args.aps), "--port",
                 str(port), "--latency", str(args.latency)],
                env=env, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        wait_for_port(port, simulator, 60)
        log("  set-up through the services…")
        setup = last_json(
            run(args.machi, env, "shell", "-c", SETUP.format(aps=args.aps, port=port), timeout=600)
        )
        log("  baseline read, switch on, read, baseline read, switch off, read…")
        measured = last_json(run(args.machi, env, "shell", "-c", MEASURE.format(), timeout=600))
        on, off = measured["on"], measured["off"]
        baseline = min(measured["baseline_read_s"], measured["baseline_read_again_s"])
        ok = (
            measured["baseline_errors"] == 0
            and on["confirmed"] == args.aps
            and on["check_exactly_00000japan"] == args.aps
            and on["in_disaster_mode"] == args.aps
            and off["confirmed"] == args.aps
            and off["check_normal_ssid"] == args.aps
            and off["check_interfaces_as_before"] == args.aps
            and off["in_normal_mode"] == args.aps
        )
        result.update(
            {
                "ok": ok,
                "machine": {
                    **machine_info(),
                    "database": "sqlite",
                    "loadavg_before": load_before,
                    "loadavg_after": loadavg(),
                },
                "how": {
                    "service": "machi.wifi.disaster_mode.disaster_mode_start",
                    "runner": "machi.core.jobs.execute (what the Huey task run_job calls)",
                    "driver": "openwrt (aiohttp, ubus JSON-RPC)",
                    "simulator": "machi wifi simulate, its own process",
                    "concurrency": measured["concurrency"],
                    "simulator_latency_s": args.latency,
                },
                "setup": {k: round(v, 2) if isinstance(v, float) else v for k, v in setup.items()},
                "baseline_read_s": round(measured["baseline_read_s"], 3),
                "baseline_read_again_s": round(measured["baseline_read_again_s"], 3),
                "on_s": round(on["seconds"], 3),
                "off_s": round(off["seconds"], 3),
                "relative_to_baseline": {
                    "on_x": round(on["seconds"] / baseline, 2),
                    "off_x": round(off["seconds"] / baseline, 2),
                },
                "target": {"on_s": TARGET_S, "met": on["seconds"] <= TARGET_S},
                "on": {k: (round(v, 3) if isinstance(v, float) else v) for k, v in on.items()},
                "off": {k: (round(v, 3) if isinstance(v, float) else v) for k, v in off.items()},
            }
        )
        code = 0 if ok else 1
    except (BenchTimeout, RuntimeError, subprocess.SubprocessError, OSError, ValueError) as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"[-3000:]
    except (KeyboardInterrupt, SystemExit) as exc:
        result["error"] = f"interrupted ({type(exc).__name__})"
        code = 130
    finally:
        signal.alarm(0)
        result["simulator_exit"] = stop(simulator)
        if args.keep:
            result["data_dir"] = str(data_dir)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)

    if "on_s" in result:
        print(
            f"Disaster mode, {args.aps} simulated APs ({result['machine']['cores']} cores, "
            f"load {load_before}): on {result['on_s']} s "
            f"({result['on']['confirmed']} confirmed, {result['on']['failed']} failed), "
            f"off {result['off_s']} s ({result['off']['confirmed']} confirmed); "
            f"baseline read of all {result['baseline_read_s']} s / "
            f"{result['baseline_read_again_s']} s; on = {result['relative_to_baseline']['on_x']}× "
            f"the read; target ≤ {TARGET_S:.0f} s: "
            f"{'met' if result['target']['met'] else 'not met'}"
        )
    if "error" in result:
        print(f"  FAILED: {result['error'].splitlines()[0]}")
    print(json.dumps(result, ensure_ascii=False, separators=(",", ":")))
    return code


if __name__ == "__main__":
    sys.exit(main())
