"""A broadcast to 100,000 subscribers: deliveries per second, and exactly once through a crash.

Sets up a fresh temporary MACHI_DATA_DIR (SQLite by default, or the PostgreSQL server of
``--database-url``) with ``--subscribers`` subscribers (100,000), half e-mail and half Web
Push (``--push-share``). The peers run as processes of their own, as they would be elsewhere:
Machi's local SMTP sink (``python -m machi.notify.peers.smtp_sink``, keeping every message on
disk) and the loopback push service (``python -m machi.notify.peers.push_service``, which
checks VAPID and decrypts every message, as the browser behind a real push service would).

1. **Raw capacity of the sinks**, measured first in the same run: a lean client sends
   ``--raw`` prepared messages straight to each (pipelined SMTP over 8 connections; prepared,
   already encrypted pushes with 64 requests in flight), and the mixed capacity follows from
   the share of each channel. That is the ceiling any sender could reach on this machine.
2. **Broadcast.** ``machi worker`` runs (Huey, as in production); a broadcast to everyone is
   submitted through the product's services, and the worker fans it out and delivers it.
   ``deliveries_per_s`` = deliveries / (last delivery's time − the broadcast's start), read
   from the database; the progress is polled as the console's progress bar would. CPU seconds
   of the worker, the two sinks (and PostgreSQL's backends) come from /proc.
3. **Crash.** A second broadcast; when about half is delivered the worker is killed with
   SIGKILL, then started again (its claimed deliveries are resent once their claim lapses,
   ``MACHI_NOTIFY_LEASE_SECONDS`` = 5 here). Then every subscriber must have exactly one
   distinct message of that broadcast (e-mail by Message-ID at the sink's mailbox, Web Push by
   Topic at the push service, which replaces a pending message of the same Topic, RFC 8030);
   the raw resends that the peers recognised are counted and reported, never hidden.

Target (the issue): ≥ 2,000 deliveries/s, 100,000 in ≤ 50 s, on the 2-core machine.
Prints a short summary, then exactly one line of JSON (the last line of stdout).

With ``--url`` it runs against an installation that is already running (``.ci/cluster``):
the broadcasts are sent and followed through its API (as ``hq``, with a ``reference``, so a
repeated POST is harmless), its workers (``--worker-pids``) deliver them to the peers they are
configured with (``--smtp-port``, ``--push-port``, ``--mail-dir``), and in the crash run the
busiest worker is SIGKILLed and not started again: the others must finish it, every
subscriber (the demo's too) with exactly one message.

    .venv/bin/python bench/broadcast.py
    .venv/bin/python bench/broadcast.py --subscribers 20000 --database-url postgresql://postgres@127.0.0.1:5432/machi_bench
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# The standard library's queue module, before bench/queue.py (the procedures benchmark, found
# first on sys.path when this script runs) can shadow it: asyncio's thread pool, which aiohttp
# uses to resolve names, imports queue lazily and needs queue.SimpleQueue.
_bench_dir = str(Path(__file__).resolve().parent)
_saved_path = sys.path[:]
sys.path[:] = [p for p in sys.path if p and Path(p).resolve() != Path(_bench_dir)]
import queue  # noqa: E402, F401

sys.path[:] = _saved_path

from pages import (  # noqa: E402
    REPO,
    SCRUBBED_ENV,
    USER,
    _psql,
    free_port,
    loadavg,
    log,
    machine_info,
    pg_database_name,
    with_retries,
)

TARGET_PER_S = 2000
TARGET_SECONDS_PER_100K = 50.0

SETUP = """
import json, time, uuid
from django.db import connection, transaction
from django.utils import timezone
from machi.notify import demo, services
from machi.notify.models import Channel, Subscriber, SubscriberStatus

began = time.perf_counter()
topics = demo.topics_load()
pushes = json.load(open({subscriptions!r}))
now = timezone.now()
rows = []
for n in range({emails}):
    address = f"resident{{n:06d}}@example.jp"
    rows.append(Subscriber(channel=Channel.EMAIL, address=address,
        address_key=services.address_key(Channel.EMAIL, address), status=SubscriberStatus.ACTIVE,
        language="en" if n % 10 == 0 else "ja", confirmed_at=now, source="bench"))
for sub in pushes:
    rows.append(Subscriber(channel=Channel.WEBPUSH, address=sub["endpoint"],
        address_key=services.address_key(Channel.WEBPUSH, sub["endpoint"]),
        push_keys=sub["keys"], status=SubscriberStatus.ACTIVE, language="ja", confirmed_at=now,
        source="bench"))
with transaction.atomic():
    Subscriber.objects.bulk_create(rows, batch_size=2000)
    through = Subscriber.topics.through
    news = topics[0]
    through.objects.bulk_create(
        [through(subscriber_id=s.pk, topic_id=news.pk) for s in rows], batch_size=5000)
with connection.cursor() as c:
    c.execute("select sqlite_version()" if connection.vendor == "sqlite" else "show server_version")
    version = c.fetchone()[0]
print(json.dumps({{"vendor": connection.vendor, "version": version,
                  "subscribers": Subscriber.objects.count(),
                  "seconds": round(time.perf_counter() - began, 2)}}))
"""

SUBMIT = """
import json
from machi.notify import services
from machi.notify.models import Topic
broadcast = services.broadcast_send_now(
    text=services.Text(subject={subject!r}, body="荒川の水位が上昇しています。" * 6,
                       subject_en="Bench broadcast", body_en="The river is rising. " * 6),
    topics=list(Topic.objects.filter(slug="news")), emergency=True, everyone=True,
    channels=["email", "webpush"])
print(json.dumps({{"id": str(broadcast.pk), "status": broadcast.status}}))
"""

RESULT = """
import json
from django.db.models import Count, Max, Min
from machi.notify.models import Broadcast, Delivery
b = Broadcast.objects.get(pk={broadcast_id!r})
rows = Delivery.objects.filter(broadcast=b)
stats = rows.aggregate(first=Min("sent_at"), last=Max("sent_at"), n=Count("pk"))
by = dict(rows.values_list("status").annotate(n=Count("pk")).order_by())
attempts = dict(rows.values_list("attempts").annotate(n=Count("pk")).order_by())
print(json.dumps({{"status": b.status, "total": b.total, "delivered": b.delivered,
    "failed": b.failed, "started_at": b.started_at.timestamp(),
    "first_sent": stats["first"].timestamp() if stats["first"] else None,
    "last_sent": stats["last"].timestamp() if stats["last"] else None,
    "by_status": by, "attempts": {{str(k): v for k, v in attempts.items()}}}}))
"""


# --- Processes ------------------------------------------------------------------------------------


class Proc:
    """A child process in its own session, with its output in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        handle = self.log_path.open("ab")
        self.process = subprocess.Popen(
            argv,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        handle.close()

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log_path.read_text(errors="replace"):
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.tail()}")
            time.sleep(0.05)
        raise RuntimeError(f"{self.name}: no {text!r} in {timeout} s:\n{self.tail()}")

    def cpu(self) -> float:
        """CPU seconds of the process and its children still alive (Linux /proc)."""
        return _tree_cpu(self.process.pid)

    def kill(self, sig: int = signal.SIGTERM, wait: float = 10.0) -> int | None:
        if self.process.poll() is not None:
            return self.process.returncode
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        try:
            return self.process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait(timeout=5)

    def tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def _stat(pid: int) -> tuple[int, float]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks


def _tree_cpu(root: int) -> float:
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            parent, cpu = _stat(pid)
        except (OSError, IndexError, ValueError):
            continue
        if pid == root or parent == root:
            total += cpu
    return total


def _postgres_cpu() -> float:
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            if comm.startswith("postgres"):
                total += _stat(int(entry.name))[1]
        except (OSError, IndexError, ValueError):
            continue
    return total


# --- Raw capacity of the sinks --------------------------------------------------------------------


async def _raw_smtp(port: int, count: int, connections: int = 8) -> float:
    """Messages per second into the SMTP sink from a lean pipelined client."""
    body = (
        b"From: bench@example.jp\r\nTo: raw@example.jp\r\nSubject: raw\r\n"
        b"Message-ID: <raw-%d@example.jp>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + b"x" * 1200
        + b"\r\n.\r\n"
    )

    async def one(share: int, offset: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await reader.readline()
        writer.write(b"EHLO bench\r\n")
        while not (await reader.readline()).startswith(b"250 "):
            pass
        for n in range(share):
            writer.write(
                b"MAIL FROM:<bench@example.jp>\r\nRCPT TO:<raw%d@example.jp>\r\nDATA\r\n"
                % (offset + n)
            )
            for _ in range(3):
                await reader.readline()
            writer.write(body % (offset + n))
            await reader.readline()
        writer.write(b"QUIT\r\n")
        await writer.drain()
        writer.close()

    share = count // connections
    began = time.perf_counter()
    await asyncio.gather(*(one(share, i * share) for i in range(connections)))
    return share * connections / (time.perf_counter() - began)


async def _raw_push(base: str, count: int, concurrency: int = 64) -> float:
    """Pushes per second into the push service: prepared, encrypted, one VAPID header."""
    import aiohttp
    import http_ece  # type: ignore[import-untyped]
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    sys.path.insert(0, str(REPO / "src"))
    from machi.notify.vapid import b64url, b64url_decode, make_jwt

    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/subscriptions", json={"count": count}) as answer:
            subs = (await answer.json())["subscriptions"]
        key = ec.generate_private_key(ec.SECP256R1())
        public = key.public_key().public_bytes(
            encoding=serialization.Encoding.X962,
            format=serialization.PublicFormat.UncompressedPoint,
        )
        token = make_jwt(key, {"aud": base, "exp": int(time.time()) + 3600, "sub": "mailto:b@x.jp"})
        header = f"vapid t={token}, k={b64url(public)}"
        prepared = []
        for sub in subs:
            body = http_ece.encrypt(
                b'{"title":"raw","body":"' + b"x" * 200 + b'"}',
                private_key=ec.generate_private_key(ec.SECP256R1()),
                dh=b64url_decode(sub["keys"]["p256dh"]),
                auth_secret=b64url_decode(sub["keys"]["auth"]),
                version="aes128gcm",
            )
            prepared.append((sub["endpoint"], body))
        semaphore = asyncio.Semaphore(concurrency)
        headers = {"TTL": "60", "Content-Encoding": "aes128gcm", "Authorization": header}

        async def one(endpoint: str, body: bytes) -> None:
            async with semaphore, session.post(endpoint, data=body, headers=headers) as answer:
                if answer.status != 201:
                    raise RuntimeError(f"raw push answered {answer.status}")

        began = time.perf_counter()
        await asyncio.gather(*(one(e, b) for e, b in prepared))
        return len(prepared) / (time.perf_counter() - began)


# --- The run --------------------------------------------------------------------------------------


def machi(env: dict[str, str], *args: str, timeout: float = 600) -> str:
    done = subprocess.run(
        [str(REPO / ".venv" / "bin" / "machi"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"machi {args[0]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def shell(env: dict[str, str], code: str, timeout: float = 600) -> dict[str, Any]:
    out = machi(env, "shell", "-c", code, timeout=timeout)
    return dict(json.loads(out.strip().splitlines()[-1]))


def progress(env: dict[str, str], database_url: str, data_dir: Path, broadcast_id: str) -> int:
    """Deliveries finished (delivered or failed), straight from the database."""
    mark = "%s" if database_url else "?"
    sql = f"SELECT delivered + failed FROM notify_broadcast WHERE id = {mark}"  # noqa: S608
    if database_url:
        import psycopg

        with psycopg.connect(database_url) as conn:
            row = conn.execute(sql, [broadcast_id]).fetchone()
    else:
        with sqlite3.connect(data_dir / "machi.sqlite3", timeout=10) as conn:
            row = conn.execute(sql, [broadcast_id.replace("-", "")]).fetchone()
    return int(row[0]) if row else 0


def mailbox(directory: Path, prefix: str) -> tuple[Counter[str], Counter[str]]:
    """Per recipient: distinct Message-IDs of the broadcast, and raw SMTP transactions."""
    distinct: dict[str, set[str]] = defaultdict(set)
    raw: Counter[str] = Counter()
    index = directory / "index.jsonl"
    if not index.exists():
        return Counter(), raw
    for line in index.read_text().splitlines():
        entry = json.loads(line)
        message_id = entry.get("message_id") or ""
        if prefix not in message_id:
            continue
        for rcpt in entry.get("rcpt_tos", []):
            distinct[rcpt].add(message_id)
            raw[rcpt] += 1
    return Counter({k: len(v) for k, v in distinct.items()}), raw


def pushed(base: str, tag: str) -> tuple[Counter[str], Counter[str]]:
    """Per subscription: distinct messages of the broadcast (by Topic), and raw pushes."""
    import urllib.request

    with urllib.request.urlopen(f"{base}/messages", timeout=120) as answer:
        messages = json.load(answer)
    distinct: dict[str, set[str]] = defaultdict(set)
    raw: Counter[str] = Counter()
    for message in messages:
        payload = message.get("payload") or {}
        if not isinstance(payload, dict) or payload.get("tag") != tag:
            continue
        distinct[message["subscription"]].add(message.get("topic") or message["id"])
        raw[message["subscription"]] += 1
    return Counter({k: len(v) for k, v in distinct.items()}), raw


def run_broadcast(
    env: dict[str, str],
    args: argparse.Namespace,
    data_dir: Path,
    worker: list[Proc],
    crash_at: float | None,
) -> dict[str, Any]:
    submitted = shell(env, SUBMIT.format(subject="ベンチマーク配信"))
    broadcast_id = submitted["id"]
    log(f"  broadcast {broadcast_id} submitted")
    began = time.monotonic()
    timeline: list[tuple[float, int]] = []
    killed = None
    total = args.subscribers
    while time.monotonic() - began < args.max_seconds:
        done = progress(env, args.database_url, data_dir, broadcast_id)
        timeline.append((round(time.monotonic() - began, 2), done))
        if crash_at is not None and killed is None and done >= total * crash_at:
            killed = {"at_s": round(time.monotonic() - began, 2), "delivered_before": done}
            worker[0].kill(signal.SIGKILL)
            log(f"  worker killed (SIGKILL) at {done} deliveries; starting it again")
            worker[0] = start_worker(env, data_dir, name="worker-restarted")
            killed["restart_s"] = round(time.monotonic() - began, 2)
        if done >= total:
            break
        time.sleep(0.5)
    result = shell(env, RESULT.format(broadcast_id=broadcast_id))
    result["id"] = broadcast_id
    result["timeline"] = timeline[:: max(1, len(timeline) // 40)]
    if killed:
        result["crash"] = killed
    if result["last_sent"] and result["started_at"]:
        seconds = result["last_sent"] - result["started_at"]
        result["seconds_to_last_delivery"] = round(seconds, 2)
        result["deliveries_per_s"] = round(result["delivered"] / seconds, 1) if seconds else None
    return result


def start_worker(env: dict[str, str], data_dir: Path, name: str = "worker") -> Proc:
    proc = Proc(
        name,
        [str(REPO / ".venv" / "bin" / "machi"), "run_huey", "--workers", "2"],
        env,
        data_dir,
    )
    time.sleep(1.0)
    if proc.process.poll() is not None:
        raise RuntimeError(f"worker exited:\n{proc.tail()}")
    return proc


# --- Through a running installation (--url) -------------------------------------------------------


def api(
    url: str, token: str, method: str, path: str, payload: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    """One JSON request to Machi's API at ``url``, retried (same body) while the proxy answers
    502/503/504 or nobody answers: a broadcast is sent with its ``reference``, which makes the
    repetition harmless (the API answers the first broadcast, 200)."""
    parts = urlsplit(url)
    headers = {
        "Host": parts.hostname or "127.0.0.1",
        "User-Agent": "machi-bench",
        "Accept": "application/json",
        "Authorization": f"Bearer {token}",
    }
    body = None
    if payload is not None:
        body = json.dumps(payload, ensure_ascii=False).encode()
        headers["Content-Type"] = "application/json"

    def call() -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers)
            answer = conn.getresponse()
            return answer.status, {}, answer.read()
        finally:
            conn.close()

    outcome = with_retries(call, retries=8, backoff=0.25)
    if outcome.answer is None:
        raise RuntimeError(f"{method} {path}: no answer ({outcome.failures})")
    status, _, data = outcome.answer
    try:
        return status, json.loads(data)
    except ValueError as exc:
        raise RuntimeError(f"{method} {path}: {status} {data[:300]!r}") from exc


def kill_busiest(pids: list[int], before: dict[int, float]) -> dict[str, Any]:
    """SIGKILL the worker that spent the most CPU since ``before``: the one that runs the
    broadcast (its own process group when it leads one, as a supervisor starts it)."""
    spent = {}
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            spent[pid] = _tree_cpu(pid) - before.get(pid, 0.0)
    if not spent:
        raise RuntimeError(f"none of the workers {pids} is running")
    pid = max(spent, key=lambda p: spent[p])
    if os.getpgid(pid) == pid:
        os.killpg(pid, signal.SIGKILL)
    else:
        os.kill(pid, signal.SIGKILL)
    return {"killed_pid": pid, "cpu_s_since_start": {str(k): round(v, 2) for k, v in spent.items()}}


def run_broadcast_through(
    env: dict[str, str], args: argparse.Namespace, token: str, crash_at: float | None
) -> dict[str, Any]:
    """A broadcast sent and followed through the API (as another system would), delivered by
    the installation's own workers; with ``crash_at``, the busiest worker is SIGKILLed when
    that share is delivered and is not started again: the others finish."""
    reference = f"bench-{uuid.uuid4().hex[:24]}"
    payload = {
        "reference": reference,
        "subject": "ベンチマーク配信",
        "body": "荒川の水位が上昇しています。" * 6,
        "subject_en": "Bench broadcast",
        "body_en": "The river is rising. " * 6,
        "topics": ["news"],
        "emergency": True,
        "everyone": True,
        "channels": ["email", "webpush"],
    }
    cpu_before = {pid: _tree_cpu(pid) for pid in args.worker_pid_list}
    status, answer = api(args.url, token, "POST", "/api/v1/notify/broadcasts", payload)
    if status not in (200, 201):
        raise RuntimeError(f"POST /api/v1/notify/broadcasts: {status} {answer}")
    broadcast_id = str(answer["id"])
    log(f"  broadcast {broadcast_id} submitted through {args.url} ({status})")
    began = time.monotonic()
    timeline: list[tuple[float, int]] = []
    killed = None
    polls = 0
    while time.monotonic() - began < args.max_seconds:
        status, answer = api(args.url, token, "GET", f"/api/v1/notify/broadcasts/{broadcast_id}")
        polls += 1
        if status != 200:
            raise RuntimeError(f"GET the broadcast: {status} {answer}")
        total, done = int(answer["total"]), int(answer["delivered"]) + int(answer["failed"])
        timeline.append((round(time.monotonic() - began, 2), done))
        if crash_at is not None and killed is None and total and done >= total * crash_at:
            killed = {"at_s": round(time.monotonic() - began, 2), "delivered_before": done}
            killed.update(kill_busiest(args.worker_pid_list, cpu_before))
            log(f"  worker {killed['killed_pid']} killed (SIGKILL) at {done} of {total}")
        if answer["status"] in ("sent", "cancelled"):
            break
        if answer["status"] in ("draft", "awaiting_approval"):
            raise RuntimeError(f"the broadcast waits: {answer['status']}")
        time.sleep(0.5)
    result = shell(env, RESULT.format(broadcast_id=broadcast_id))
    result["id"] = broadcast_id
    result["reference"] = reference
    result["api_polls"] = polls
    result["timeline"] = timeline[:: max(1, len(timeline) // 40)]
    if killed:
        killed["finished_s"] = timeline[-1][0] if timeline else None
        result["crash"] = killed
    if result["last_sent"] and result["started_at"]:
        seconds = result["last_sent"] - result["started_at"]
        result["seconds_to_last_delivery"] = round(seconds, 2)
        result["deliveries_per_s"] = round(result["delivered"] / seconds, 1) if seconds else None
    return result


def main_through(
    args: argparse.Namespace, env: dict[str, str], result: dict[str, Any], data_dir: Path
) -> int:
    """The benchmark against a running installation (--url): the same set-up, broadcasts and
    checks, sent through its API and delivered by its workers to its peers."""
    import shutil
    import urllib.request

    push_base = f"http://127.0.0.1:{args.push_port}"
    mail_dir = Path(args.mail_dir)
    result["through"] = {"url": args.url, "workers": args.worker_pid_list}
    try:
        log("raw capacity of the sinks…")
        raw_smtp = asyncio.run(_raw_smtp(args.smtp_port, args.raw))
        raw_push = asyncio.run(_raw_push(push_base, args.raw))
        share = args.push_share
        mixed = 1 / ((1 - share) / raw_smtp + share / raw_push)
        result["raw_capacity"] = {
            "smtp_per_s": round(raw_smtp, 1),
            "push_per_s": round(raw_push, 1),
            "mixed_per_s": round(mixed, 1),
        }
        log("set-up…")
        n_push = int(args.subscribers * share)
        subscriptions = data_dir / "subscriptions.json"
        request = urllib.request.Request(
            f"{push_base}/subscriptions",
            data=json.dumps({"count": n_push}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=600) as answer:
            subscriptions.write_text(json.dumps(json.load(answer)["subscriptions"]))
        setup = shell(
            env,
            SETUP.format(subscriptions=str(subscriptions), emails=args.subscribers - n_push),
            timeout=900,
        )
        result["setup"] = setup
        result["machine"]["database"] = setup["vendor"]
        result["machine"]["database_version"] = setup["version"]
        token = machi(env, "token", "create", USER, "--name", "bench-broadcast", timeout=120)
        token = token.strip().splitlines()[-1].strip()
        cpu_before = {pid: _tree_cpu(pid) for pid in args.worker_pid_list}
        log("broadcast…")
        first = run_broadcast_through(env, args, token, crash_at=None)
        first["cpu_s"] = {
            f"worker-{pid}": round(_tree_cpu(pid) - cpu_before[pid], 1)
            for pid in args.worker_pid_list
        }
        result["broadcast"] = first
        log(f"  {first['delivered']} of {first['total']}: {first.get('deliveries_per_s')}/s")
        ok = first["delivered"] == first["total"] > 0
        if not args.no_crash:
            log("crash: kill -9 the busiest worker half-way, the others finish…")
            second = run_broadcast_through(env, args, token, crash_at=0.5)
            prefix = second["id"].replace("-", "")
            mails, mails_raw = mailbox(mail_dir, prefix)
            pushes, pushes_raw = pushed(push_base, prefix)
            once = Counter(mails.values()) + Counter(pushes.values())
            # Every active subscriber: the benchmark's and those already there (the demo's).
            expected = int(second["total"])
            second["exactly_once"] = {
                "subscribers": expected,
                "with_one_message": once.get(1, 0),
                "with_none": expected - sum(once.values()),
                "with_more_than_one": sum(v for k, v in once.items() if k > 1),
                "raw_resends_recognised": (sum(mails_raw.values()) - sum(mails.values()))
                + (sum(pushes_raw.values()) - sum(pushes.values())),
            }
            result["crash"] = second
            log(f"  {second['exactly_once']}")
            ok = (
                ok
                and "crash" in second
                and second["exactly_once"]["with_one_message"] == expected
                and second["delivered"] == expected
            )
        rate = first.get("deliveries_per_s") or 0.0
        result["headline"] = {
            "subscribers": first["total"],
            "deliveries_per_s": rate,
            "seconds_to_last_delivery": first.get("seconds_to_last_delivery"),
            "share_of_raw_sink_capacity": round(rate / mixed, 3) if mixed else None,
        }
        result["ok"] = ok
    except Exception as exc:  # report, clean up, and say so in the JSON line
        result["error"] = f"{type(exc).__name__}: {exc}"[-3000:]
    finally:
        result["machine"]["loadavg_after"] = loadavg()
        if args.keep:
            result["data_dir"] = str(data_dir)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    head = result.get("headline", {})
    print(
        f"Machi broadcast through {args.url} to {head.get('subscribers')} subscribers: "
        f"{head.get('deliveries_per_s')} deliveries/s, last after "
        f"{head.get('seconds_to_last_delivery')} s"
    )
    if "crash" in result:
        print(f"  crash run: {result['crash'].get('crash')}; {result['crash'].get('exactly_once')}")
    if "error" in result:
        print(f"  error: {result['error'][:500]}")
    print(json.dumps(result, ensure_ascii=False))
    return 0 if result["ok"] else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--push-share", type=float, default=0.5, help="Web Push share (0.5)")
    parser.add_argument("--database-url", default="", help="a scratch PostgreSQL database")
    parser.add_argument("--raw", type=int, default=5000, help="messages per sink, raw capacity")
    parser.add_argument("--no-crash", action="store_true", help="skip the crash run")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="per broadcast")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folder")
    parser.add_argument(
        "--url",
        default="",
        help="an installation already running (e.g. nginx in front of several web servers, "
        "http://127.0.0.1:PORT): the broadcasts are sent and followed through its API as hq, "
        "its workers deliver them (--worker-pids), to the peers they are configured with "
        "(--smtp-port, --push-port, --mail-dir); `machi shell` runs with this process's "
        "environment, whose database must hold the demo city. Nothing is created or dropped",
    )
    parser.add_argument(
        "--worker-pids",
        default="",
        help="with --url: the workers' pids; the crash run SIGKILLs the busiest and does not "
        "start it again",
    )
    parser.add_argument("--smtp-port", type=int, default=0, help="with --url: the SMTP sink")
    parser.add_argument("--push-port", type=int, default=0, help="with --url: the push service")
    parser.add_argument("--mail-dir", default="", help="with --url: the SMTP sink's folder")
    args = parser.parse_args(argv)
    args.worker_pid_list = [int(p) for p in args.worker_pids.split(",") if p.strip()]
    if args.url:
        if args.database_url:
            parser.error("--url uses the installation's own database: leave out --database-url")
        if not (args.smtp_port and args.push_port and args.mail_dir):
            parser.error("--url needs --smtp-port, --push-port and --mail-dir")
        if not args.no_crash and not args.worker_pid_list:
            parser.error("--url needs --worker-pids for the crash run (or --no-crash)")

    data_dir = Path(tempfile.mkdtemp(prefix="machi-bench-broadcast-"))
    # The product's own settings (not a test run's, whose Huey runs tasks in the caller).
    scrubbed = {*SCRUBBED_ENV, "DJANGO_SETTINGS_MODULE"}
    if args.url:  # the installation's environment, as given to us; its peers
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        env["MACHI_LOG_LEVEL"] = "WARNING"
        smtp_port, push_port = args.smtp_port, args.push_port
    else:
        env = {k: v for k, v in os.environ.items() if k not in scrubbed}
        smtp_port, push_port = free_port(), free_port()
        env.update(
            MACHI_DATA_DIR=str(data_dir),
            MACHI_NOTIFY_SMTP_HOST="127.0.0.1",
            MACHI_NOTIFY_SMTP_PORT=str(smtp_port),
            MACHI_NOTIFY_EMAIL_FROM="oshirase@city.toda.example.jp",
            MACHI_NOTIFY_LEASE_SECONDS="5",
            MACHI_PUBLIC_URL="https://machi.example.jp",
            MACHI_DEBUG="1",  # the push service is on the loopback (http), as in the demo
            MACHI_LOG_LEVEL="WARNING",
        )
    if args.database_url:
        name = pg_database_name(args.database_url)
        _psql(args.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _psql(args.database_url, f'CREATE DATABASE "{name}"')
        env["DATABASE_URL"] = args.database_url
    result: dict[str, Any] = {
        "benchmark": "broadcast",
        "ok": False,
        "machine": {**machine_info(), "loadavg_before": loadavg()},
    }
    if args.url:
        return main_through(args, env, result, data_dir)
    procs: dict[str, Proc] = {}
    worker: list[Proc] = []
    try:
        python = str(REPO / ".venv" / "bin" / "python")
        mail_dir = data_dir / "mailsink"
        procs["smtp"] = Proc(
            "smtp-sink",
            [
                python,
                "-m",
                "machi.notify.peers.smtp_sink",
                "--port",
                str(smtp_port),
                "--dir",
                str(mail_dir),
            ],
            env,
            data_dir,
        )
        procs["push"] = Proc(
            "push-service",
            [python, "-m", "machi.notify.peers.push_service", "--port", str(push_port)],
            env,
            data_dir,
        )
        procs["smtp"].wait_for("listening", 20)
        procs["push"].wait_for("listening", 20)
        push_base = f"http://127.0.0.1:{push_port}"

        log("raw capacity of the sinks…")
        raw_smtp = asyncio.run(_raw_smtp(smtp_port, args.raw))
        raw_push = asyncio.run(_raw_push(push_base, args.raw))
        share = args.push_share
        mixed = 1 / ((1 - share) / raw_smtp + share / raw_push)
        result["raw_capacity"] = {
            "smtp_per_s": round(raw_smtp, 1),
            "push_per_s": round(raw_push, 1),
            "mixed_per_s": round(mixed, 1),
        }
        log(f"  SMTP sink {raw_smtp:.0f}/s, push service {raw_push:.0f}/s, mix {mixed:.0f}/s")

        log("set-up…")
        machi(env, "migrate", "--no-input")
        n_push = int(args.subscribers * share)
        subscriptions = data_dir / "subscriptions.json"
        import urllib.request

        request = urllib.request.Request(
            f"{push_base}/subscriptions",
            data=json.dumps({"count": n_push}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=600) as answer:
            subscriptions.write_text(json.dumps(json.load(answer)["subscriptions"]))
        setup = shell(
            env,
            SETUP.format(subscriptions=str(subscriptions), emails=args.subscribers - n_push),
            timeout=900,
        )
        result["setup"] = setup
        result["machine"]["database"] = setup["vendor"]
        result["machine"]["database_version"] = setup["version"]
        log(f"  {setup['subscribers']} subscribers in {setup['seconds']} s")

        worker.append(start_worker(env, data_dir))
        cpu_before = {name: p.cpu() for name, p in procs.items()}
        pg_before = _postgres_cpu() if args.database_url else 0.0
        log("broadcast…")
        first = run_broadcast(env, args, data_dir, worker, crash_at=None)
        cpu = {name: round(p.cpu() - cpu_before[name], 1) for name, p in procs.items()}
        cpu["worker"] = round(worker[0].cpu(), 1)
        if args.database_url:
            cpu["postgresql"] = round(_postgres_cpu() - pg_before, 1)
        first["cpu_s"] = cpu
        result["broadcast"] = first
        log(
            f"  {first['delivered']} delivered in {first.get('seconds_to_last_delivery')} s: "
            f"{first.get('deliveries_per_s')}/s"
        )
        if not args.no_crash:
            log("crash: kill -9 the worker half-way…")
            second = run_broadcast(env, args, data_dir, worker, crash_at=0.5)
            prefix = second["id"].replace("-", "")
            mails, mails_raw = mailbox(mail_dir, prefix)
            pushes, pushes_raw = pushed(push_base, prefix)
            once = Counter(mails.values()) + Counter(pushes.values())
            second["exactly_once"] = {
                "subscribers": args.subscribers,
                "with_one_message": once.get(1, 0),
                "with_none": args.subscribers - sum(once.values()),
                "with_more_than_one": sum(v for k, v in once.items() if k > 1),
                "raw_resends_recognised": (sum(mails_raw.values()) - sum(mails.values()))
                + (sum(pushes_raw.values()) - sum(pushes.values())),
            }
            result["crash"] = second
            log(f"  {second['exactly_once']}")
        ok = first["delivered"] == args.subscribers
        if "crash" in result:
            once = result["crash"]["exactly_once"]
            ok = ok and once["with_one_message"] == args.subscribers
        seconds = first.get("seconds_to_last_delivery") or float("inf")
        rate = first.get("deliveries_per_s") or 0.0
        result["headline"] = {
            "subscribers": args.subscribers,
            "deliveries_per_s": rate,
            "seconds_to_last_delivery": seconds,
            "share_of_raw_sink_capacity": round(rate / mixed, 3) if mixed else None,
        }
        result["target"] = {
            "deliveries_per_s": TARGET_PER_S,
            "met": rate >= TARGET_PER_S,
        }
        result["ok"] = ok
    except Exception as exc:  # report, clean up, and say so in the JSON line
        result["error"] = f"{type(exc).__name__}: {exc}"[-3000:]
    finally:
        for proc in [*worker, *procs.values()]:
            proc.kill()
        if args.database_url:
            with contextlib.suppress(Exception):
                _psql(
                    args.database_url,
                    f'DROP DATABASE IF EXISTS "{pg_database_name(args.database_url)}" WITH (FORCE)',
                )
        result["machine"]["loadavg_after"] = loadavg()
        if args.keep:
            result["data_dir"] = str(data_dir)
        else:
            import shutil

            shutil.rmtree(data_dir, ignore_errors=True)
    head = result.get("headline", {})
    print(
        f"Machi broadcast to {args.subscribers} subscribers: "
        f"{head.get('deliveries_per_s')} deliveries/s, last after "
        f"{head.get('seconds_to_last_delivery')} s "
        f"({head.get('share_of_raw_sink_capacity')} of the sinks' raw capacity "
        f"{result.get('raw_capacity', {}).get('mixed_per_s')}/s); target ≥ {TARGET_PER_S}/s: "
        f"{'met' if result.get('target', {}).get('met') else 'NOT met'}"
    )
    if "crash" in result:
        print(f"  crash run: {result['crash'].get('exactly_once')}")
    if "error" in result:
        print(f"  error: {result['error'][:500]}")
    print(json.dumps(result, ensure_ascii=False))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
