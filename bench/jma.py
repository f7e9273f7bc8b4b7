"""JMA XML: messages stored per second, and how soon a warning in JMA's feed reaches the API.

Two measurements, each in a fresh temporary MACHI_DATA_DIR (SQLite by default, or the
PostgreSQL server of ``--database-url``, whose scratch database is dropped and created for
each and dropped at the end):

**(a) ingest.** ``machi init --lgcode 292010`` (奈良市, named by four of JMA's samples), then in
``machi shell``: every sample message (``/work/shared/data/jma_xml/samples``, or the copies in
``tests/emergency/data/jma`` when the shared folder is absent) through
``services_weather.jma_ingest`` (parse, schema validation, the city's warnings, the
database), against the baseline of the same run: parsing and validating alone
(``jma.parse_message``). Both are timed in interleaved rounds, each round with new entry ids,
so every ``jma_ingest`` stores a new message. The figure is ``messages_per_s`` and its share of
the parse-only rate (``relative_to_parse``).

**(b) feed to API.** ``machi demo --no-serve`` (戸田市), then the loopback stand-in for JMA's
feed server (``tests/emergency/jma_feed_server.py``), ``machi serve`` and ``machi worker`` with
``MACHI_JMA_POLL=1`` and ``MACHI_JMA_FEED_URLS`` pointing at the loopback feed. Each round
publishes a new message for the city (JMA's 大雨特別警報 sample with 戸田市's code and a later
report time) in the feed, then:

* *scheduled* (``--scheduled-rounds``, default 2): waits for the worker's own periodic poll.
  ``wait_for_poll_s`` is from publishing to the worker's next request for the feed: at most
  60 s by construction (Huey's scheduler enqueues the task every minute) plus the back-off of
  an idle worker thread looking at the queue (the consumer's ``max_delay``, 10 s unless
  settings say otherwise); ``poll_to_api_s`` is from that request to the warning showing in
  ``GET /api/v1/weather/warnings`` (polled every 50 ms with a bearer token). Target: ≤ 5 s
  after the poll that sees it.
* *on demand* (``--cli-rounds``, default 5): the same through a second feed that the worker
  does not poll, read by ``machi jma poll --url`` in a subprocess; ``command_to_api_s`` is from
  starting the command to the warning showing in the API (it includes starting Python and
  Django), ``command_s`` how long the command ran.

The loopback server counts requests: ``fetched_once`` says every message was downloaded once,
and the feed's conditional requests and 304 answers are reported.

Prints a short summary, then exactly one line of JSON (the last line of stdout).

    .venv/bin/python bench/jma.py
    .venv/bin/python bench/jma.py --database-url postgresql://postgres@127.0.0.1:5432/machi_bench
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pages import (
    REPO,
    SCRUBBED_ENV,
    USER,
    BenchTimeout,
    Server,
    _psql,
    free_port,
    loadavg,
    log,
    machine_info,
    pg_database_name,
    tear_down,
)

sys.path.insert(0, str(REPO))

SHARED_SAMPLES = Path("/work/shared/data/jma_xml/samples")
LOCAL_SAMPLES = REPO / "tests" / "emergency" / "data" / "jma"
SPECIAL_WARNING = "15_08_01_130412_VPWW53.xml"  # 奈良県, 2011-09-03 12:00: 大雨特別警報
NARA_AREA, TODA_AREA = "2920100", "1122400"
RATE_LIMIT = 10_000_000  # the API answers the 50 ms polling without 429s
TARGET_POLL_TO_API_S = 5.0
SCHEDULE_S = 60.0  # the periodic task's interval
HUEY_MAX_DELAY = 10.0  # Huey's default back-off limit of an idle worker (consumer max_delay)
CONSUMER = (
    "import json\nfrom django.conf import settings\n"
    "print(json.dumps(settings.HUEY.get('consumer', {})))"
)

# Run in `machi shell`: parse-only (baseline) and jma_ingest rounds, interleaved. One JSON line.
INGEST = """
import json, time
from pathlib import Path
from django.db import connection
from machi.emergency import jma
from machi.emergency.models import JmaEntry, JmaWarning
from machi.emergency.services_weather import jma_ingest

files = sorted(p for p in Path({samples!r}).glob("*.xml") if "feed" not in p.name)
data = [(p.name, p.read_bytes()) for p in files]
for name, body in data[:5]:  # compile the schemas, warm the caches
    jma.parse_message(body, link=name)
rounds, statuses = [], {{}}
for r in range({rounds}):
    began = time.perf_counter()
    for name, body in data:
        jma.parse_message(body, link=name)
    parse_s = time.perf_counter() - began
    began = time.perf_counter()
    for name, body in data:
        entry = jma_ingest(body, entry_id=f"bench:{{r}}:{{name}}", link=name)
        statuses[entry.status] = statuses.get(entry.status, 0) + 1
    ingest_s = time.perf_counter() - began
    rounds.append({{"parse_s": parse_s, "ingest_s": ingest_s}})
with connection.cursor() as c:
    c.execute("select sqlite_version()" if connection.vendor == "sqlite" else "show server_version")
    version = c.fetchone()[0]
print(json.dumps({{
    "vendor": connection.vendor, "version": version, "messages": len(data),
    "bytes": sum(len(b) for _, b in data), "rounds": rounds, "statuses": statuses,
    "entries": JmaEntry.objects.count(), "warnings": JmaWarning.objects.count(),
}}))
"""


def samples_dir() -> Path:
    return SHARED_SAMPLES if SHARED_SAMPLES.is_dir() else LOCAL_SAMPLES


# --- The worker -------------------------------------------------------------------------------


@dataclass
class Worker:
    machi: Path
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        handle = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [str(self.machi), "worker", "--workers", "1"],
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        handle.close()

    def stop(self) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            try:
                return self.process.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
        return self.process.poll()

    def problems(self) -> int:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return -1
        return sum(1 for line in text.splitlines() if "Traceback" in line or " ERROR " in line)


# --- Messages and feeds ----------------------------------------------------------------------

BASE_TIME = dt.datetime(2011, 9, 3, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))


def message_for_toda(number: int) -> tuple[bytes, dt.datetime]:
    """JMA's 大雨特別警報 sample for 奈良市, made 戸田市's, reported ``number`` minutes later."""
    from lxml import etree

    root = etree.fromstring((LOCAL_SAMPLES / SPECIAL_WARNING).read_bytes())
    for area in root.iter("{*}Area"):
        code = area.find("{*}Code")
        if code is not None and code.text == NARA_AREA:
            code.text = TODA_AREA
            area.find("{*}Name").text = "戸田市"
    reported = BASE_TIME + dt.timedelta(minutes=number)
    root.find("{*}Head/{*}ReportDateTime").text = reported.isoformat()
    return etree.tostring(root, xml_declaration=True, encoding="utf-8"), reported


def atom(entries: list[tuple[str, str, dt.datetime]]) -> bytes:
    """A feed like JMA's extra.xml: (id, file name, updated), newest first."""
    items = "".join(
        f"<entry><title>気象特別警報・警報・注意報</title><id>{entry_id}</id>"
        f"<updated>{updated.isoformat()}</updated><author><name>熊谷地方気象台</name></author>"
        f'<link type="application/xml" href="https://example.invalid/data/{name}"/>'
        '<content type="text/plain">【埼玉県気象警報・注意報】</content></entry>'
        for entry_id, name, updated in sorted(entries, key=lambda e: e[2], reverse=True)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>高頻度（随時）</title><updated>2011-09-03T03:00:00Z</updated>"
        "<id>urn:uuid:bench</id><author><name>Japan Meteorological Agency</name></author>"
        f"{items}</feed>"
    ).encode()


class Feed:
    """One feed on the loopback server, to which each round adds a message for the city."""

    def __init__(self, server: Any, path: str, prefix: str) -> None:
        self.server, self.path, self.prefix = server, path, prefix
        self.entries: list[tuple[str, str, dt.datetime]] = []
        self.url = server.put(path, atom([]))

    def publish(self, number: int) -> dt.datetime:
        body, reported = message_for_toda(number)
        name = f"{self.prefix}_{number:03d}_VPWW53_110000.xml"
        self.server.put_message(name, body)
        self.entries.append((f"urn:bench:{self.prefix}:{number}", name, reported))
        self.server.put(self.path, _links(atom(self.entries), self.server))
        return reported


def _links(feed: bytes, server: Any) -> bytes:
    from tests.emergency.jma_feed_server import MESSAGE_DIR, rewrite_links

    return rewrite_links(feed, server.url(MESSAGE_DIR))


# --- The API ---------------------------------------------------------------------------------


def warning_shown(port: int, token: str, reported: dt.datetime) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(
            "GET",
            "/api/v1/weather/warnings",
            headers={"Authorization": f"Bearer {token}", "Host": "127.0.0.1"},
        )
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    if response.status != 200:
        raise RuntimeError(f"GET /api/v1/weather/warnings: {response.status} {body[:300]!r}")
    return any(
        w["kind_code"] == "33"
        and w["area_code"] == TODA_AREA
        and dt.datetime.fromisoformat(w["reported_at"]) == reported
        for w in json.loads(body)
    )


def wait_shown(port: int, token: str, reported: dt.datetime, *, timeout: float) -> float:
    """Poll the API every 50 ms until the warning of ``reported`` shows; when it did."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if warning_shown(port, token, reported):
            return time.perf_counter()
        time.sleep(0.05)
    raise RuntimeError(f"the warning reported at {reported} did not show in {timeout:.0f} s")


def wait_feed_request(server: Any, path: str, seen: int, *, timeout: float) -> float:
    """When the feed is requested again (the loopback server counts on arrival)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if server.requests[path] > seen:
            return time.perf_counter()
        time.sleep(0.01)
    raise RuntimeError(f"the worker did not poll {path} within {timeout:.0f} s")


# --- Main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="ingest rounds (default 5)")
    parser.add_argument("--scheduled-rounds", type=int, default=2, help="waits for the worker")
    parser.add_argument("--cli-rounds", type=int, default=5, help="`machi jma poll` rounds")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument(
        "--max-seconds", type=float, default=900.0, help="time bound of the whole run"
    )
    parser.add_argument(
        "--database-url",
        default="",
        help="PostgreSQL URL of a scratch database, created and dropped by this run; "
        "default SQLite",
    )
    parser.add_argument(
        "--machi", type=Path, default=REPO / ".venv" / "bin" / "machi", help="machi command"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folders")
    return parser.parse_args(argv)


def fresh_database(url: str) -> None:
    if url:
        name = pg_database_name(url)
        _psql(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _psql(url, f'CREATE DATABASE "{name}"')


def measure_ingest(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    runner = Server(args.machi, env, 0, 0, Path(env["MACHI_DATA_DIR"]) / "unused.log")
    fresh_database(args.database_url)
    runner.run("init", "--lgcode", "292010", timeout=300)
    folder = samples_dir()
    log(f"(a) ingest: {folder}, {args.rounds} rounds")
    out = runner.run(
        "shell", "-c", INGEST.format(samples=str(folder), rounds=args.rounds), timeout=900
    )
    facts = json.loads(out.strip().splitlines()[-1])
    messages = facts["messages"]
    parse_rates = [messages / r["parse_s"] for r in facts["rounds"]]
    ingest_rates = [messages / r["ingest_s"] for r in facts["rounds"]]
    parse_total = sum(r["parse_s"] for r in facts["rounds"])
    ingest_total = sum(r["ingest_s"] for r in facts["rounds"])
    per_s = messages * len(facts["rounds"]) / ingest_total
    parse_per_s = messages * len(facts["rounds"]) / parse_total
    return {
        "samples_dir": str(folder),
        "messages": messages,
        "bytes": facts["bytes"],
        "rounds": len(facts["rounds"]),
        "messages_per_s": round(per_s, 1),
        "ms_per_message": round(1000 / per_s, 2),
        "parse_only_per_s": round(parse_per_s, 1),
        "parse_only_ms_per_message": round(1000 / parse_per_s, 2),
        "relative_to_parse": round(per_s / parse_per_s, 3),
        "ingest_per_s_by_round": [round(x, 1) for x in ingest_rates],
        "parse_per_s_by_round": [round(x, 1) for x in parse_rates],
        "statuses": facts["statuses"],
        "entries_stored": facts["entries"],
        "warning_rows": facts["warnings"],
        "database": facts["vendor"],
        "database_version": facts["version"],
    }


def measure_latency(
    args: argparse.Namespace, env: dict[str, str], data_dir: Path, server_box: list[Server]
) -> dict[str, Any]:
    from tests.emergency.jma_feed_server import JmaFeedServer

    fresh_database(args.database_url)
    with JmaFeedServer() as loopback:
        scheduled_feed_path = "/developer/xml/feed/extra.xml"
        scheduled = Feed(loopback, scheduled_feed_path, "scheduled")
        on_demand = Feed(loopback, "/developer/xml/feed/extra_on_demand.xml", "cli")
        env = {
            **env,
            "MACHI_JMA_POLL": "1",
            "MACHI_JMA_FEED_URLS": scheduled.url,
            "MACHI_API_RATE_LIMIT": str(RATE_LIMIT),
        }
        server = Server(args.machi, env, free_port(), args.workers, data_dir / "server.log")
        server_box.append(server)
        worker = Worker(args.machi, env, data_dir / "worker.log")
        try:
            log("(b) feed to API: machi demo --no-serve, machi serve, machi worker")
            server.run("demo", "--no-serve", timeout=300)
            token = server.run("token", "create", USER, "--name", "bench", timeout=120)
            token = token.strip().splitlines()[-1].strip()
            consumer = json.loads(
                server.run("shell", "-c", CONSUMER, timeout=120).strip().splitlines()[-1]
            )
            # The scheduler enqueues the periodic task every 60 s; an idle worker thread looks
            # at the queue with a back-off of up to max_delay seconds (Huey's default 10).
            worst_wait = SCHEDULE_S + float(consumer.get("max_delay", HUEY_MAX_DELAY))
            server.start(timeout=120)
            worker.start()
            started = time.perf_counter()

            scheduled_rounds = []
            for number in range(1, args.scheduled_rounds + 1):
                seen = loopback.requests[scheduled_feed_path]
                reported = scheduled.publish(number)
                published = time.perf_counter()
                polled = wait_feed_request(
                    loopback, scheduled_feed_path, seen, timeout=worst_wait + 30
                )
                shown = wait_shown(server.port, token, reported, timeout=60)
                scheduled_rounds.append(
                    {
                        "wait_for_poll_s": round(polled - published, 3),
                        "poll_to_api_s": round(shown - polled, 3),
                    }
                )
                log(f"  scheduled round {number}: {scheduled_rounds[-1]}")

            cli_rounds = []
            for number in range(1, args.cli_rounds + 1):
                # Reported after the scheduled rounds' messages: an older one changes nothing.
                reported = on_demand.publish(args.scheduled_rounds + number)
                began = time.perf_counter()
                command = subprocess.Popen(
                    [str(args.machi), "jma", "poll", "--url", on_demand.url],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                shown = wait_shown(server.port, token, reported, timeout=60)
                out, err = command.communicate(timeout=60)
                ended = time.perf_counter()
                if command.returncode:
                    raise RuntimeError(f"machi jma poll failed:\n{out}\n{err}")
                cli_rounds.append(
                    {
                        "command_to_api_s": round(shown - began, 3),
                        "command_s": round(ended - began, 3),
                        "summary": out.strip().splitlines()[-1] if out.strip() else "",
                    }
                )
                log(f"  on-demand round {number}: {cli_rounds[-1]}")
            message_requests = {
                path: count
                for path, count in loopback.requests.items()
                if path.startswith("/developer/xml/data/")
            }
            published_total = args.scheduled_rounds + args.cli_rounds
            result = {
                "scheduled": scheduled_rounds,
                "on_demand": cli_rounds,
                "max_poll_to_api_s": max(
                    (r["poll_to_api_s"] for r in scheduled_rounds), default=None
                ),
                "max_wait_for_poll_s": max(
                    (r["wait_for_poll_s"] for r in scheduled_rounds), default=None
                ),
                "median_command_to_api_s": round(
                    statistics.median(r["command_to_api_s"] for r in cli_rounds), 3
                )
                if cli_rounds
                else None,
                "worst_case_wait_for_poll_s": worst_wait,
                "huey_consumer": consumer,
                "target_poll_to_api_s": TARGET_POLL_TO_API_S,
                "messages_published": published_total,
                "messages_fetched": sum(message_requests.values()),
                "fetched_once": len(message_requests) == published_total
                and set(message_requests.values()) == {1},
                "feed_requests": {
                    "scheduled": loopback.requests[scheduled_feed_path],
                    "scheduled_conditional": loopback.conditional[scheduled_feed_path],
                    "scheduled_not_modified": loopback.not_modified[scheduled_feed_path],
                },
                "seconds": round(time.perf_counter() - started, 1),
                "worker_log_error_lines": worker.problems(),
            }
            scheduled_ok = all(
                r["poll_to_api_s"] <= TARGET_POLL_TO_API_S
                and r["wait_for_poll_s"] <= worst_wait + 2
                for r in scheduled_rounds
            )
            result["target_met"] = scheduled_ok
            return result
        finally:
            worker.stop()


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

    ingest_dir = Path(tempfile.mkdtemp(prefix="machi-bench-jma-ingest-"))
    latency_dir = Path(tempfile.mkdtemp(prefix="machi-bench-jma-feed-"))
    base = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    base["MACHI_LOG_LEVEL"] = "WARNING"
    for name in ("MACHI_JMA_POLL", "MACHI_JMA_FEED_URLS", "MACHI_JMA_ACCEPT_TRAINING"):
        base.pop(name, None)
    if args.database_url:
        pg_database_name(args.database_url)  # refuses a database that is not a scratch one
        base["DATABASE_URL"] = args.database_url
    result: dict[str, Any] = {"benchmark": "jma", "ok": False}
    load_before = loadavg()
    servers: list[Server] = []
    code = 1
    try:
        result["ingest"] = measure_ingest(args, {**base, "MACHI_DATA_DIR": str(ingest_dir)})
        result["latency"] = measure_latency(
            args, {**base, "MACHI_DATA_DIR": str(latency_dir)}, latency_dir, servers
        )
        ingest = result["ingest"]
        result["machine"] = {
            **machine_info(),
            "database": ingest["database"],
            "database_version": ingest["database_version"],
            "loadavg_before": load_before,
            "loadavg_after": loadavg(),
        }
        ok = (
            not ingest["statuses"].get("rejected")
            and result["latency"]["fetched_once"]
            and result["latency"]["target_met"]
        )
        result["ok"] = bool(ok)
        code = 0 if ok else 1
    except (
        BenchTimeout,
        RuntimeError,
        subprocess.SubprocessError,
        OSError,
        KeyError,
        ValueError,
    ) as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"[-3000:]
        if servers:
            result["server_log_tail"] = servers[0].tail(15)
    except (KeyboardInterrupt, SystemExit) as exc:
        result["error"] = f"interrupted ({type(exc).__name__})"
        code = 130
    finally:
        server = servers[0] if servers else Server(args.machi, base, 0, 0, latency_dir / "x.log")
        tear_down(server, result, args.database_url, latency_dir, keep=args.keep)
        if args.keep:
            result["ingest_data_dir"] = str(ingest_dir)
        else:
            import shutil

            shutil.rmtree(ingest_dir, ignore_errors=True)

    print_summary(result)
    print(json.dumps(result, ensure_ascii=False, separators=(",", ":")))
    return code


def print_summary(result: dict[str, Any]) -> None:
    machine = result.get("machine", {})
    if machine:
        print(
            f"Machi JMA on {machine['database']} {machine['database_version']}, "
            f"{machine['cores']} cores ({machine['cpu_model']}), load {machine['loadavg_before']}"
        )
    ingest = result.get("ingest")
    if ingest:
        print(
            f"  (a) {ingest['messages']} samples × {ingest['rounds']} rounds: "
            f"{ingest['messages_per_s']} messages/s stored ({ingest['ms_per_message']} ms each) "
            f"vs {ingest['parse_only_per_s']}/s parse-only "
            f"({ingest['relative_to_parse']:.0%} of the parse-only rate); statuses "
            f"{ingest['statuses']}"
        )
    latency = result.get("latency")
    if latency:
        print(
            f"  (b) worker's poll → API: max {latency['max_poll_to_api_s']} s "
            f"(target ≤ {TARGET_POLL_TO_API_S:.0f} s); wait for the poll: max "
            f"{latency['max_wait_for_poll_s']} s (at most "
            f"{latency['worst_case_wait_for_poll_s']:.0f} s: the 60 s schedule plus the "
            "worker's queue back-off)"
        )
        print(
            f"      `machi jma poll` start → API: median {latency['median_command_to_api_s']} s; "
            f"each message fetched once: {latency['fetched_once']}; feed requests "
            f"{latency['feed_requests']}"
        )
    if "error" in result:
        print(f"  FAILED: {result['error'].splitlines()[0]}")


if __name__ == "__main__":
    sys.exit(main())
