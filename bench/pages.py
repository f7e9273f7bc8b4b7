"""Latency and throughput of two pages of Machi, served the production way.

Sets up the demo city in a fresh temporary MACHI_DATA_DIR (SQLite by default, or the
PostgreSQL server of ``--database-url``), starts ``machi serve`` (gunicorn, sync workers,
DEBUG off), signs in as ``hq`` (password, then TOTP), warms up, and then sends a bounded
number of GET requests to each page from threads in this process (``http.client``):

* ``/healthz``  the baseline: a trivial view, measured first and again last;
* ``/``         the resident portal's home;
* ``/console/`` the staff console's home, signed in as ``hq``.

The machine is shared and noisy: read the pages' figures against the baseline of the same
run (the ``relative`` block), not against absolute numbers from another day.

Prints a short summary, then exactly one line of JSON (the last line of stdout).

    .venv/bin/python bench/pages.py
    .venv/bin/python bench/pages.py --database-url postgresql://postgres@127.0.0.1:5432/machi_bench
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import http.client
import json
import math
import os
import platform
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
USER = "hq"
PASSWORD = "machi-demo-pass"  # noqa: S105 - the published demo password
# Variables that would change what is measured (debug mode, another data folder, Redis…).
SCRUBBED_ENV = (
    "MACHI_DEMO",
    "MACHI_DEBUG",
    "MACHI_DATA_DIR",
    "MACHI_PORT",
    "MACHI_BIND",
    "MACHI_WEB_WORKERS",
    "DATABASE_URL",
    "REDIS_URL",
)


class BenchTimeout(Exception):
    """The whole run took longer than --max-seconds."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- Machine ------------------------------------------------------------------------------


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- TOTP (RFC 6238, SHA-1, 6 digits, 30 s): the stdlib is enough -------------------------


def totp(secret: str, step: int) -> str:
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"


# --- PostgreSQL scratch database -----------------------------------------------------------


def _psql(url: str, sql: str) -> None:
    """Run one statement on the server of ``url``, connected to its ``postgres`` database."""
    parts = urlsplit(url)
    admin_url = urlunsplit(parts._replace(path="/postgres", query=""))
    done = subprocess.run(
        ["psql", admin_url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql],
        check=False,
        timeout=60,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise RuntimeError(f"psql {sql!r}: {done.stderr.strip()}")


def pg_database_name(url: str) -> str:
    name = urlsplit(url).path.lstrip("/")
    if not name or not name.replace("_", "").isalnum():
        raise SystemExit(f"--database-url needs a plain database name, not {name!r}")
    if name in {"postgres", "template0", "template1"}:
        raise SystemExit("--database-url must name a scratch database (it is dropped)")
    return name


# --- The server ----------------------------------------------------------------------------


@dataclass
class Server:
    machi: Path
    env: dict[str, str]
    port: int
    workers: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def run(self, *args: str, timeout: float) -> str:
        done = subprocess.run(
            [str(self.machi), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode:
            raise RuntimeError(
                f"machi {' '.join(args)} failed ({done.returncode}):\n"
                f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
            )
        return done.stdout

    def start(self, timeout: float) -> float:
        """Start gunicorn through ``machi serve``; seconds until /healthz answers."""
        started = time.perf_counter()
        handle = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                str(self.machi),
                "serve",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
            ],
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stopped as a whole
        )
        handle.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"machi serve exited ({self.process.returncode}):\n{self.tail()}"
                )
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    return time.perf_counter() - started
                conn.close()
            time.sleep(0.1)
        raise RuntimeError(f"machi serve did not answer in {timeout:.0f} s:\n{self.tail()}")

    def stop(self) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        pgid = self.process.pid  # leader of its own session
        for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, sig)
            try:
                return self.process.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
        return self.process.poll()

    def problems(self) -> int:
        """Lines of the server's log that report an error (the access log is not counted)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return -1
        return sum(1 for line in text.splitlines() if "Traceback" in line or " ERROR " in line)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


# --- HTTP client ---------------------------------------------------------------------------


class Client:
    """One connection; reconnects by itself when the server closes (gunicorn sync does)."""

    def __init__(self, port: int, cookies: dict[str, str] | None = None) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        self.cookies = dict(cookies or {})

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        headers = {"Host": "127.0.0.1", "User-Agent": "machi-bench"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            raise
        for header in response.headers.get_all("Set-Cookie") or []:
            jar = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                self.cookies[name] = morsel.value
        if response.will_close:
            self.conn.close()
        return response.status, dict(response.headers.items()), data

    def close(self) -> None:
        self.conn.close()


def sign_in(port: int, secret: str) -> dict[str, str]:
    """Password then TOTP, as a person would; returns the cookies of a signed-in session."""
    client = Client(port)
    try:
        status, _, _ = client.request("GET", "/console/login/")
        if status != 200 or "csrftoken" not in client.cookies:
            raise RuntimeError(f"GET /console/login/: {status}, cookies {sorted(client.cookies)}")
        form = {
            "csrfmiddlewaretoken": client.cookies["csrftoken"],
            "username": USER,
            "password": PASSWORD,
        }
        status, headers, body = client.request("POST", "/console/login/", form)
        if status != 302 or "/console/login/verify/" not in headers.get("Location", ""):
            raise RuntimeError(f"POST /console/login/: {status}\n{body[:2000]!r}")
        # Each step is accepted once: take the current one, or wait for the next if the
        # current one may already have been used (a second run within the same 30 s).
        step = int(time.time()) // 30
        form = {"csrfmiddlewaretoken": client.cookies["csrftoken"], "code": totp(secret, step)}
        status, headers, body = client.request("POST", "/console/login/verify/", form)
        if status == 400:
            time.sleep(30 - time.time() % 30 + 0.5)
            form["code"] = totp(secret, int(time.time()) // 30)
            status, headers, body = client.request("POST", "/console/login/verify/", form)
        if status != 302:
            raise RuntimeError(f"POST /console/login/verify/: {status}\n{body[:2000]!r}")
        status, _, body = client.request("GET", "/console/")
        if status != 200:
            raise RuntimeError(f"GET /console/ after signing in: {status}")
        # The session cookie is __Host-sessionid when the site runs with HTTPS.
        wanted = {"sessionid", "__Host-sessionid", "csrftoken"}
        return {k: v for k, v in client.cookies.items() if k in wanted}
    finally:
        client.close()


# --- Retries (a client in front of several web servers) ----------------------------------

# What a proxy answers when the web server behind it died with the request (or was down):
# the request may or may not have been carried out, so only a request that is safe to repeat
# (a GET, or a POST with the client's own id such as a check-in's UUID) is sent again.
RETRY_STATUSES = frozenset({502, 503, 504})


@dataclass
class Attempts:
    """The last answer of a retried request (None: no answer at all) and what failed before."""

    answer: tuple[int, dict[str, str], bytes] | None
    failures: list[str] = field(default_factory=list)


def with_retries(
    call: Any,
    *,
    retries: int,
    backoff: float = 0.1,
    statuses: frozenset[int] = RETRY_STATUSES,
) -> Attempts:
    """Call ``call()`` (returning ``(status, headers, body)`` or raising OSError or
    HTTPException) until it answers with a status not in ``statuses``, at most ``1 + retries``
    times, sleeping ``backoff`` × the attempt's number in between."""
    failures: list[str] = []
    for attempt in range(retries + 1):
        try:
            answer = call()
        except (OSError, http.client.HTTPException) as exc:
            failures.append(type(exc).__name__)
            if attempt == retries:
                return Attempts(None, failures)
        else:
            if answer[0] not in statuses or attempt == retries:
                return Attempts(answer, failures)
            failures.append(str(answer[0]))
        time.sleep(backoff * (attempt + 1))
    return Attempts(None, failures)  # not reached: the loop returns on its last attempt


# --- Load ----------------------------------------------------------------------------------


@dataclass
class Phase:
    path: str
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    bytes_total: int = 0
    elapsed: float = 0.0
    cpu_client: float = 0.0
    timed_out: bool = False


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return float("nan")
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def load(
    port: int,
    path: str,
    *,
    requests: int,
    concurrency: int,
    seconds: float,
    cookies: dict[str, str] | None = None,
) -> Phase:
    phase = Phase(path)
    lock = threading.Lock()
    remaining = [requests]
    deadline = time.monotonic() + seconds

    def worker() -> None:
        client = Client(port, cookies)
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        errors: dict[str, int] = {}
        sent = 0
        try:
            while True:
                with lock:
                    if remaining[0] <= 0:
                        break
                    remaining[0] -= 1
                if time.monotonic() > deadline:
                    phase.timed_out = True
                    break
                began = time.perf_counter()
                try:
                    status, _, body = client.request("GET", path)
                except (OSError, http.client.HTTPException) as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                    continue
                latencies.append(time.perf_counter() - began)
                statuses[status] = statuses.get(status, 0) + 1
                sent += len(body)
        finally:
            client.close()
            with lock:
                phase.latencies.extend(latencies)
                phase.bytes_total += sent
                for key, count in statuses.items():
                    phase.statuses[key] = phase.statuses.get(key, 0) + count
                for name, count in errors.items():
                    phase.errors[name] = phase.errors.get(name, 0) + count

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    cpu_before = time.process_time()
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()) + 20)
    phase.elapsed = time.perf_counter() - began
    phase.cpu_client = time.process_time() - cpu_before
    return phase


def merge(total: Phase, part: Phase) -> None:
    total.latencies.extend(part.latencies)
    total.bytes_total += part.bytes_total
    total.elapsed += part.elapsed
    total.cpu_client += part.cpu_client
    total.timed_out = total.timed_out or part.timed_out
    for key, count in part.statuses.items():
        total.statuses[key] = total.statuses.get(key, 0) + count
    for name, count in part.errors.items():
        total.errors[name] = total.errors.get(name, 0) + count


def summarise(phase: Phase) -> dict[str, Any]:
    ordered = sorted(phase.latencies)
    ok = phase.statuses.get(200, 0)
    return {
        "path": phase.path,
        "requests": len(ordered) + sum(phase.errors.values()),
        "ok": ok,
        "statuses": {str(k): v for k, v in sorted(phase.statuses.items())},
        "errors": phase.errors,
        "timed_out": phase.timed_out,
        "seconds": round(phase.elapsed, 3),
        "rps": round(ok / phase.elapsed, 1) if phase.elapsed else 0.0,
        "p50_ms": round(percentile(ordered, 0.50) * 1000, 2),
        "p95_ms": round(percentile(ordered, 0.95) * 1000, 2),
        "p99_ms": round(percentile(ordered, 0.99) * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2) if ordered else None,
        "mean_bytes": round(phase.bytes_total / len(ordered)) if ordered else 0,
        "client_cpu_s": round(phase.cpu_client, 2),
    }


# --- Main ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="per page (default 2000)")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured requests per page")
    parser.add_argument(
        "--rounds", type=int, default=4, help="interleaved rounds the requests are split into"
    )
    parser.add_argument(
        "--measure-seconds", type=float, default=300.0, help="time bound of the measurement"
    )
    parser.add_argument(
        "--max-seconds", type=float, default=900.0, help="time bound of the whole run"
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument(
        "--database-url",
        default="",
        help="PostgreSQL URL of a scratch database, created and dropped by this run "
        "(e.g. postgresql://postgres@127.0.0.1:5432/machi_bench); default SQLite",
    )
    parser.add_argument(
        "--machi", type=Path, default=REPO / ".venv" / "bin" / "machi", help="machi command"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folder")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.machi.exists():
        raise SystemExit(f"{args.machi} not found: run `make install` first")

    def on_alarm(signum: int, frame: object) -> None:
        raise BenchTimeout(f"the run took longer than {args.max_seconds:.0f} s")

    def on_term(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.alarm(int(args.max_seconds))

    data_dir = Path(tempfile.mkdtemp(prefix="machi-bench-"))
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env["MACHI_DATA_DIR"] = str(data_dir)
    env["MACHI_LOG_LEVEL"] = "WARNING"
    pg_name = ""
    if args.database_url:
        pg_name = pg_database_name(args.database_url)
        env["DATABASE_URL"] = args.database_url
    server = Server(args.machi, env, free_port(), args.workers, data_dir / "server.log")
    result: dict[str, Any] = {"benchmark": "pages", "ok": False}
    code = 1
    try:
        if pg_name:
            _psql(args.database_url, f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
            _psql(args.database_url, f'CREATE DATABASE "{pg_name}"')
        began = time.perf_counter()
        server.run("demo", "--no-serve", timeout=300)
        setup_s = time.perf_counter() - began
        probe = server.run(
            "shell",
            "-c",
            "import json\n"
            "from django.db import connection\n"
            "from machi.core.models import Facility, TotpDevice\n"
            "with connection.cursor() as c:\n"
            "    c.execute('select sqlite_version()' if connection.vendor == 'sqlite'"
            " else 'show server_version')\n"
            "    version = c.fetchone()[0]\n"
            f"secret = TotpDevice.objects.get(user__username='{USER}').secret\n"
            "print(json.dumps({'vendor': connection.vendor, 'version': version,"
            " 'facilities': Facility.objects.count(), 'secret': secret}))",
            timeout=120,
        )
        facts = json.loads(probe.strip().splitlines()[-1])
        startup_s = server.start(timeout=120)
        cookies = sign_in(server.port, facts["secret"])

        targets = [
            ("baseline", "/healthz", None),
            ("portal_home", "/", None),
            ("console_home", "/console/", cookies),
        ]
        for _, path, jar in targets:
            load(
                server.port,
                path,
                requests=args.warmup,
                concurrency=args.concurrency,
                seconds=60,
                cookies=jar,
            )
        load_before = loadavg()
        # Interleaved rounds: a burst of noise from a neighbour falls on the baseline and the
        # pages alike instead of on whichever page happened to be measured at that moment.
        totals = {name: Phase(path) for name, path, _ in targets}
        rounds: dict[str, list[float]] = {name: [] for name, _, _ in targets}
        deadline = time.monotonic() + args.measure_seconds
        per_round = [
            args.requests // args.rounds + (1 if r < args.requests % args.rounds else 0)
            for r in range(args.rounds)
        ]
        for count in per_round:
            for name, path, jar in targets:
                phase = load(
                    server.port,
                    path,
                    requests=count,
                    concurrency=args.concurrency,
                    seconds=max(0.0, deadline - time.monotonic()),
                    cookies=jar,
                )
                merge(totals[name], phase)
                rounds[name].append(round(phase.statuses.get(200, 0) / phase.elapsed, 1))
            log("  round: " + ", ".join(f"{n} {r[-1]} req/s" for n, r in rounds.items()))
        pages = {
            name: {**summarise(phase), "rps_by_round": rounds[name]}
            for name, phase in totals.items()
        }
        base = pages["baseline"]
        relative = {
            name: {
                "p50_x": round(pages[name]["p50_ms"] / base["p50_ms"], 2),
                "p95_x": round(pages[name]["p95_ms"] / base["p95_ms"], 2),
                "p99_x": round(pages[name]["p99_ms"] / base["p99_ms"], 2),
                "rps_share": round(pages[name]["rps"] / base["rps"], 3),
            }
            for name in ("portal_home", "console_home")
        }
        baseline_rounds = rounds["baseline"]
        all_ok = all(
            p["ok"] == p["requests"] == args.requests and not p["timed_out"] for p in pages.values()
        )
        result.update(
            {
                "ok": all_ok,
                "machine": {
                    **machine_info(),
                    "database": facts["vendor"],
                    "database_version": facts["version"],
                    "loadavg_before": load_before,
                    "loadavg_after": loadavg(),
                },
                "server": {
                    "command": "machi serve",
                    "worker_class": "sync",
                    "workers": args.workers,
                    "debug": False,
                },
                "client": {
                    "kind": "threads + http.client",
                    "concurrency": args.concurrency,
                    "requests_per_page": args.requests,
                    "rounds": args.rounds,
                    "warmup_per_page": args.warmup,
                },
                "facilities": facts["facilities"],
                "setup_s": round(setup_s, 2),
                "server_start_s": round(startup_s, 2),
                "pages": pages,
                "relative_to_baseline": relative,
                "baseline_spread": round(max(baseline_rounds) / min(baseline_rounds), 2)
                if min(baseline_rounds) > 0
                else None,
            }
        )
        code = 0 if all_ok else 1
    except (
        BenchTimeout,
        RuntimeError,
        subprocess.SubprocessError,
        OSError,
        KeyError,
        ValueError,
    ) as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"[-3000:]
        result["server_log_tail"] = server.tail(15)
    except (KeyboardInterrupt, SystemExit) as exc:
        result["error"] = f"interrupted ({type(exc).__name__})"
        code = 130
    finally:
        tear_down(server, result, args.database_url, data_dir, keep=args.keep)

    print_summary(result)
    print(json.dumps(result, ensure_ascii=False, separators=(",", ":")))
    return code


def tear_down(
    server: Server, result: dict[str, Any], database_url: str, data_dir: Path, *, keep: bool
) -> None:
    """What every benchmark does last, whatever happened: stop the server, drop the scratch
    database, remove the temporary data folder (unless kept), note anything that failed."""
    signal.alarm(0)
    result.setdefault("server_exit", server.stop())
    result["server_log_error_lines"] = server.problems()
    if database_url:
        name = pg_database_name(database_url)
        try:
            _psql(database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
            result["cleanup_error"] = str(exc)
    if keep:
        result["data_dir"] = str(data_dir)
    else:
        shutil.rmtree(data_dir, ignore_errors=True)


def print_summary(result: dict[str, Any]) -> None:
    machine = result.get("machine", {})
    if machine:
        print(
            f"Machi pages on {machine['database']} {machine['database_version']}, "
            f"{result['server']['workers']} gunicorn workers, {machine['cores']} cores "
            f"({machine['cpu_model']}), load {machine['loadavg_before']}"
        )
    for name, page in result.get("pages", {}).items():
        share = result["relative_to_baseline"].get(name, {}).get("rps_share", 1.0)
        print(
            f"  {name:<15} {page['path']:<10} {page['rps']:>7} req/s  "
            f"p50 {page['p50_ms']:>7} ms  p95 {page['p95_ms']:>7} ms  p99 {page['p99_ms']:>7} ms"
            f"  ({share:.0%} of baseline req/s, {page['ok']}/{page['requests']} ok)"
        )
    if "pages" in result:
        print(
            f"  baseline req/s by round {result['pages']['baseline']['rps_by_round']} "
            f"(max/min {result['baseline_spread']}): read the pages against it, not alone"
        )
    if "error" in result:
        print(f"  FAILED: {result['error'].splitlines()[0]}")


if __name__ == "__main__":
    sys.exit(main())
