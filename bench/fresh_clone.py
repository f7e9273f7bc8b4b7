"""How long a newcomer waits: from a fresh ``git clone`` to a served demo, and to a test run.

(a) demo: clone into a temporary folder, run ``make demo`` with MACHI_PORT set to a free port,
    and time until ``GET /`` answers 200; then stop it with SIGINT to its process group (what
    Ctrl-C does) and record how it exited.
(b) test: clone again into a new temporary folder, so that this time includes creating the
    virtual environment too, run ``make test`` and time it to the end (exit code recorded).

Only committed files are cloned: that is the point. pip's cache is warm on this machine,
which is the usual case for a developer but not for a first-time contributor.

Prints a short summary, then exactly one line of JSON (the last line of stdout).

    python3 bench/fresh_clone.py                  # clone this checkout
    python3 bench/fresh_clone.py /path/or/url     # clone something else
    python3 bench/fresh_clone.py --skip-test      # only (a)
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# Variables that would let the clone use the caller's environment instead of its own.
SCRUBBED_ENV = (
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "PYTHONHOME",
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_URL",
    "REDIS_URL",
    "MAKEFLAGS",
    "MAKELEVEL",
)


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env() -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV and not k.startswith("MACHI_")
    }
    # Drop any activated virtual environment from PATH: the clone must make its own.
    venv = os.environ.get("VIRTUAL_ENV")
    parts = env.get("PATH", "").split(os.pathsep)
    env["PATH"] = os.pathsep.join(
        p
        for p in parts
        if p and not (venv and p.startswith(venv)) and not (Path(p) / "activate").exists()
    )
    return env


def clone(source: str, into: Path) -> float:
    began = time.perf_counter()
    subprocess.run(
        ["git", "clone", "--quiet", "--no-hardlinks", source, str(into)],
        check=True,
        timeout=300,
        capture_output=True,
    )
    return time.perf_counter() - began


def stop_group(process: subprocess.Popen[bytes], first: signal.Signals) -> int | None:
    """Signal the whole process group, escalating; the exit code of its leader."""
    for sig, wait in ((first, 30.0), (signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        if process.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    # Children left behind (gunicorn workers, the queue worker) are killed too.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    return process.poll()


def get_status(port: int, path: str) -> int | None:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", path, headers={"Host": "127.0.0.1"})
        status = conn.getresponse().status
        conn.close()
        return status
    except (OSError, http.client.HTTPException):
        return None


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def measure_demo(source: str, workdir: Path, timeout: float) -> dict[str, Any]:
    checkout = workdir / "demo"
    result: dict[str, Any] = {"clone_s": round(clone(source, checkout), 2)}
    port = free_port()
    env = {**clean_env(), "MACHI_PORT": str(port)}
    log_path = workdir / "demo.log"
    stamp = checkout / ".venv" / ".installed"
    began = time.perf_counter()
    with log_path.open("wb") as handle:
        process = subprocess.Popen(
            ["make", "demo"],
            cwd=checkout,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    installed_s = None
    set_up_s = None
    served_s = None
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None:
            if installed_s is None and stamp.exists():
                installed_s = time.perf_counter() - began
            if set_up_s is None and b"Serving on" in log_path.read_bytes():
                set_up_s = time.perf_counter() - began
            if get_status(port, "/") == 200:
                served_s = time.perf_counter() - began
                break
            time.sleep(0.2)
    finally:
        exited_early = process.poll()
        stop_s = time.perf_counter()
        code = stop_group(process, signal.SIGINT)
        stop_s = time.perf_counter() - stop_s
    result.update(
        {
            "port": port,
            "served": served_s is not None,
            "install_s": round(installed_s, 2) if installed_s is not None else None,
            "demo_set_up_s": round(set_up_s, 2) if set_up_s is not None else None,
            "seconds_to_200": round(served_s, 2) if served_s is not None else None,
            "total_s": round(result["clone_s"] + served_s, 2) if served_s is not None else None,
            "exited_before_served": exited_early,
            "exit_code_after_sigint": code,
            "stop_s": round(stop_s, 2),
            "port_free_after_stop": get_status(port, "/healthz") is None,
        }
    )
    if served_s is None:
        result["log_tail"] = tail(log_path)
    return result


SUMMARY = re.compile(r"^=+ (.*\b(passed|failed|error|errors|skipped|no tests ran)\b.*) =+$")


def measure_test(source: str, workdir: Path, timeout: float) -> dict[str, Any]:
    checkout = workdir / "test"
    result: dict[str, Any] = {"clone_s": round(clone(source, checkout), 2)}
    log_path = workdir / "test.log"
    stamp = checkout / ".venv" / ".installed"
    began = time.perf_counter()
    timed_out = False
    with log_path.open("wb") as handle:
        process = subprocess.Popen(
            ["make", "test"],
            cwd=checkout,
            env=clean_env(),
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    installed_s = None
    try:
        deadline = time.monotonic() + timeout
        while process.poll() is None:
            if installed_s is None and stamp.exists():
                installed_s = time.perf_counter() - began
            if time.monotonic() > deadline:
                timed_out = True
                break
            time.sleep(0.5)
    finally:
        code = process.poll()
        if code is None:
            code = stop_group(process, signal.SIGINT)
    seconds = time.perf_counter() - began
    output = log_path.read_text(errors="replace")
    summary = next(
        (m.group(1) for line in reversed(output.splitlines()) if (m := SUMMARY.match(line))),
        None,
    )
    result.update(
        {
            "exit_code": code,
            "timed_out": timed_out,
            "install_s": round(installed_s, 2) if installed_s is not None else None,
            "seconds": round(seconds, 2),
            "total_s": round(result["clone_s"] + seconds, 2),
            "pytest_summary": summary,
        }
    )
    if code != 0:
        result["log_tail"] = tail(log_path)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", nargs="?", default=str(REPO), help="repository to clone")
    parser.add_argument("--skip-test", action="store_true", help="measure only the demo")
    parser.add_argument("--demo-timeout", type=float, default=600.0, help="seconds (600)")
    parser.add_argument("--test-timeout", type=float, default=1200.0, help="seconds (1200)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary clones")
    args = parser.parse_args(argv)

    def on_term(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    workdir = Path(tempfile.mkdtemp(prefix="machi-clone-bench-"))
    commit = subprocess.run(
        ["git", "-C", args.source, "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    ).stdout.strip()
    result: dict[str, Any] = {
        "benchmark": "fresh_clone",
        "source": args.source,
        "commit": commit or None,
        "machine": {
            "cpu_model": cpu_model(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_before": loadavg(),
        },
    }
    try:
        result["demo"] = measure_demo(args.source, workdir, args.demo_timeout)
        if args.skip_test:
            result["test"] = None
        else:
            result["test"] = measure_test(args.source, workdir, args.test_timeout)
    except (subprocess.SubprocessError, OSError) as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        result["machine"]["loadavg_after"] = loadavg()
        if args.keep:
            result["workdir"] = str(workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    demo, test = result.get("demo") or {}, result.get("test") or {}
    print(f"Fresh clone of {args.source} at {commit[:12] or '?'}")
    if demo:
        print(
            f"  demo: clone {demo['clone_s']} s + `make demo` {demo['seconds_to_200']} s "
            f"(install {demo['install_s']} s, set up by {demo['demo_set_up_s']} s) "
            f"= {demo['total_s']} s to GET / 200; "
            f"exit after SIGINT {demo['exit_code_after_sigint']}"
        )
    if test:
        print(
            f"  test: clone {test['clone_s']} s + `make test` {test['seconds']} s "
            f"(install {test['install_s']} s), exit {test['exit_code']}: {test['pytest_summary']}"
        )
    if "error" in result:
        print(f"  FAILED: {result['error']}")
    print(json.dumps(result, ensure_ascii=False, separators=(",", ":")))
    served = bool(demo.get("served"))
    tested = args.skip_test or test.get("exit_code") == 0
    return 0 if served and tested else 1


if __name__ == "__main__":
    sys.exit(main())
