"""Backup and restore of a whole installation: ``machi backup PATH``, ``machi restore PATH``.

A backup is one folder, or one ``.tar`` / ``.tar.gz`` file, holding::

    database/machi.sqlite3   SQLite: a copy made with SQLite's online backup API
    database/machi.pgdump    PostgreSQL: pg_dump --format=custom, taken in one snapshot
    queue/huey.sqlite3       the task queue, when it is SQLite (no REDIS_URL)
    files/…                  the data folder's files that Machi cannot make again
    manifest.json            written last: versions, migrations, row counts, each file's SHA-256

Both commands work on a running site: the database is copied in one consistent snapshot
while the web server and the worker go on writing. The database comes before the files, so an
upload made meanwhile is at worst a file without its row, never a row without its file.

What is left out (made again by Machi) and why is in ``docs/backup.md``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import io
import json
import os
import platform
import re
import shutil
import socket
import sqlite3
import subprocess
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

import django
from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.loader import MigrationLoader

import machi

FORMAT = "machi-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database/machi.sqlite3"
PGDUMP_MEMBER = "database/machi.pgdump"
QUEUE_MEMBER = "queue/huey.sqlite3"
FILES = "files/"
MEMBER_ROOTS = ("database/", "queue/", FILES)

# In the data folder but made again, so left out: collected static files (`machi serve`
# collects them; WhiteNoise also serves them from the package), the file cache, the files jobs
# wrote for download (run the export again), the FAQ search index (rebuilt on the first search).
DERIVED = ("static", "cache", "exports", "guide-index.npz")
# Not the installation's data: what a restore set aside, half-written files, and hidden entries
# (a restore's staging folder; the service user's .ssh, .cache…: the data folder is its home).
TRANSIENT_PREFIXES = ("pre-restore-", ".")
TRANSIENT_SUFFIXES = (".part",)
# Keys kept in the data folder (`--exclude-secrets` leaves them out). The secret key also
# derives the key of the secrets stored encrypted in the database (core/crypto.py).
SECRET_FILES = (
    "secret_key",
    "vapid_private.pem",
    "oidc_client_key.pem",
    "wifi-simulator-keys.json",
)
SECRET_SUFFIXES = (".key", ".key.pem")
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
CHUNK = 1 << 20
GZIP_LEVEL = 1  # 4× faster than 6 on a database, 10 % larger; photos do not compress
LOCK_TIMEOUT = 60  # seconds a database may stay locked before a copy gives up
BUSY_TIMEOUT = 1.0  # SQLite's own wait on a lock, inside each step of a copy

Say = Callable[[str], None]


def quiet(message: str) -> None:
    pass


class BackupError(Exception):
    """The backup or restore was refused or failed; nothing was left half-done."""

    exit_code = 1


class DamagedBackupError(BackupError):
    """The backup is not what its manifest says (a file missing, changed or cut short)."""

    exit_code = 3


@dataclass
class BackupResult:
    path: Path
    manifest: dict[str, Any]
    size: int
    seconds: float


@dataclass
class RestoreResult:
    manifest: dict[str, Any]
    seconds: float
    files: int = 0
    migrations_applied: int = 0
    set_aside: Path | None = None
    warnings: list[str] = field(default_factory=list)


# --- Where things are -----------------------------------------------------------------------


def _data_dir() -> Path:
    return Path(settings.DATA_DIR).resolve()


def _connection() -> BaseDatabaseWrapper:
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor not in ("sqlite", "postgresql"):
        raise BackupError(f"backups of {connection.vendor} databases are not supported")
    return connection


def _sqlite_path(connection: BaseDatabaseWrapper) -> Path | None:
    """The SQLite database's file (None for an in-memory database)."""
    name = str(connection.settings_dict["NAME"])
    if connection.is_in_memory_db():  # type: ignore[attr-defined]
        return None
    return Path(name).resolve()


def _queue_path() -> Path | None:
    """Huey's SQLite file, or None when the queue is elsewhere (Redis)."""
    huey = getattr(settings, "HUEY", {})
    if isinstance(huey, dict) and str(huey.get("huey_class", "")).endswith("SqliteHuey"):
        filename = huey.get("filename")
        return Path(str(filename)).resolve() if filename else None
    return None


def _with_side_files(path: Path | None) -> set[Path]:
    if path is None:
        return set()
    return {path} | {path.with_name(path.name + suffix) for suffix in SQLITE_SIDE_FILES}


def _is_secret(relative: str) -> bool:
    name = PurePosixPath(relative).name
    return relative in SECRET_FILES or name.endswith(SECRET_SUFFIXES)


def data_files(data_dir: Path, *, skip: set[Path] | None = None) -> list[str]:
    """The data folder's files that a backup holds (POSIX paths relative to the folder).

    Everything except what Machi makes again (DERIVED), the database and queue files (copied
    through SQLite instead) and transient files. Folders that are symbolic links are followed.
    """
    skip = skip or set()
    found: list[str] = []
    for root, dirs, names in os.walk(data_dir, followlinks=True):
        here = Path(root)
        top = here == data_dir
        dirs[:] = sorted(
            d
            for d in dirs
            if not (top and (d in DERIVED or d.startswith(TRANSIENT_PREFIXES)))
            and (here / d) not in skip
        )
        for name in sorted(names):
            path = here / name
            if (top and (name in DERIVED or name.startswith(TRANSIENT_PREFIXES))) or (
                name.endswith(TRANSIENT_SUFFIXES) or path in skip
            ):
                continue
            if path.is_file():
                found.append(path.relative_to(data_dir).as_posix())
    return found


def _size(path: Path | None) -> int:
    try:
        return path.stat().st_size if path is not None else 0
    except FileNotFoundError:
        return 0


# --- Writing a backup -------------------------------------------------------------------------


class _HashingReader:
    """Reads at most ``size`` bytes of a file, hashing what it hands out."""

    def __init__(self, stream: IO[bytes], size: int) -> None:
        self.stream, self.left, self.digest = stream, size, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        data = self.stream.read(n)
        self.left -= len(data)
        self.digest.update(data)
        return data


class _Writer:
    """Adds files to a backup under construction (at PATH.part), recording size and SHA-256."""

    def __init__(self, part: Path) -> None:
        self.part = part
        self.entries: list[dict[str, Any]] = []

    def _record(self, name: str, size: int, sha256: str) -> None:
        self.entries.append({"path": name, "size": size, "sha256": sha256})

    def add_file(self, name: str, source: Path) -> None:
        raise NotImplementedError

    def add_manifest(self, data: bytes) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError


class _DirWriter(_Writer):
    def __init__(self, part: Path) -> None:
        super().__init__(part)
        part.mkdir(mode=0o700)

    def _create(self, name: str) -> IO[bytes]:
        target = self.part / name
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        return os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")

    def add_file(self, name: str, source: Path) -> None:
        digest, size = hashlib.sha256(), 0
        with source.open("rb") as src, self._create(name) as dst:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                dst.write(chunk)
                size += len(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        self._record(name, size, digest.hexdigest())

    def add_manifest(self, data: bytes) -> None:
        with self._create(MANIFEST) as dst:
            dst.write(data)
            dst.flush()
            os.fsync(dst.fileno())

    def close(self) -> None:
        pass

    def abort(self) -> None:
        shutil.rmtree(self.part, ignore_errors=True)


class _TarWriter(_Writer):
    def __init__(self, part: Path, *, compress: bool) -> None:
        super().__init__(part)
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self.raw = os.fdopen(fd, "wb")
        # Closed by close() or abort(), once every file is in.
        if compress:
            self.tar = tarfile.open(  # noqa: SIM115
                fileobj=self.raw, mode="w:gz", compresslevel=GZIP_LEVEL, format=tarfile.PAX_FORMAT
            )
        else:
            self.tar = tarfile.open(fileobj=self.raw, mode="w", format=tarfile.PAX_FORMAT)  # noqa: SIM115

    def _info(self, name: str, size: int, mtime: float) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = size, int(mtime), 0o600
        return info

    def add_file(self, name: str, source: Path) -> None:
        with source.open("rb") as src:
            stat = os.fstat(src.fileno())
            reader = _HashingReader(src, stat.st_size)
            # tarfile reads exactly st_size bytes and fails if the file shrank meanwhile.
            self.tar.addfile(self._info(name, stat.st_size, stat.st_mtime), reader)
        self._record(name, stat.st_size, reader.digest.hexdigest())

    def add_manifest(self, data: bytes) -> None:
        self.tar.addfile(self._info(MANIFEST, len(data), time.time()), io.BytesIO(data))

    def close(self) -> None:
        self.tar.close()
        self.raw.flush()
        os.fsync(self.raw.fileno())
        self.raw.close()

    def abort(self) -> None:
        for closing in (self.tar.close, self.raw.close):
            with contextlib.suppress(OSError, ValueError):
                closing()
        self.part.unlink(missing_ok=True)


def archive_kind(path: Path) -> str:
    """The kind of backup PATH names: "tar.gz", "tar" or "dir"."""
    name = path.name.lower()
    if name.endswith((".tar.gz", ".tgz")):
        return "tar.gz"
    if name.endswith(".tar"):
        return "tar"
    return "dir"


def _check_destination(path: Path, data_dir: Path, force: bool) -> None:
    if path.is_relative_to(data_dir):
        raise BackupError(
            f"{path} is inside the data folder {data_dir}: choose a place outside it "
            "(another disk, ideally another machine); the next backup would copy this one"
        )
    parent = path.parent
    if not parent.is_dir():
        raise BackupError(f"{parent} does not exist (is the backup disk mounted?)")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise BackupError(f"cannot write to {parent}: permission denied")
    if (path.exists() or path.is_symlink()) and not force:
        raise BackupError(f"{path} already exists: choose a new name, or add --force to replace it")
    if path.is_dir() != (archive_kind(path) == "dir") and path.exists():
        raise BackupError(f"{path} exists and is not a {archive_kind(path)}: remove it first")
    part = path.with_name(path.name + ".part")
    if part.exists():
        raise BackupError(
            f"{part} exists: another backup is being written there, or one was interrupted "
            "(then delete it)"
        )


def _move_into_place(part: Path, path: Path) -> None:
    """PATH.part becomes PATH; an older PATH (--force) is removed only once the new one is whole."""
    old = None
    if path.is_dir() and not path.is_symlink():  # a folder cannot be swapped in one step
        old = path.with_name(f".{path.name}.replaced-{os.getpid()}")
        path.rename(old)
    os.replace(part, path)  # a file is swapped atomically
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sqlite_counts(db: sqlite3.Connection) -> dict[str, int]:
    tables = [
        row[0]
        for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        )
    ]
    quote = '"{}"'.format
    return {t: db.execute(f"SELECT COUNT(*) FROM {quote(t)}").fetchone()[0] for t in tables}  # noqa: S608


def _group_migrations(rows: list[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for app, name in sorted(rows):
        grouped.setdefault(app, []).append(name)
    return grouped


def _snapshot_sqlite(connection: BaseDatabaseWrapper, target: Path) -> dict[str, Any]:
    """Copy the live database with SQLite's online backup API: one consistent snapshot, while
    the site goes on (in WAL mode writers are not blocked; a write made meanwhile is not in it)."""
    connection.ensure_connection()
    copy = sqlite3.connect(target)
    try:
        _sqlite_backup(connection.connection, copy)
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        problems = [row[0] for row in copy.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise BackupError(
                "the database fails SQLite's integrity check; not backing it up: "
                + "; ".join(problems[:5])
            )
        counts = _sqlite_counts(copy)
        migrations = copy.execute("SELECT app, name FROM django_migrations").fetchall()
    finally:
        copy.close()
    return {
        "vendor": "sqlite",
        "version": sqlite3.sqlite_version,
        "file": SQLITE_MEMBER,
        "tables": counts,
        "migrations": _group_migrations(migrations),
    }


def _pg_env(connection: BaseDatabaseWrapper) -> dict[str, str]:
    """libpq's environment for pg_dump, pg_restore and psql (the password never on a command
    line, where `ps` would show it)."""
    s = connection.settings_dict
    _, extra = connection.client.settings_to_cmd_args_env(s, [])
    env = {**os.environ, **(extra or {})}
    for variable, key in (("PGHOST", "HOST"), ("PGPORT", "PORT"), ("PGUSER", "USER")):
        if s.get(key):
            env[variable] = str(s[key])
    env["PGDATABASE"] = str(s.get("NAME") or "postgres")
    env["PGOPTIONS"] = "-c client_min_messages=warning"
    return env


def _pg_tool(name: str) -> tuple[str, int]:
    """The tool's path and major version, or a clear refusal."""
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not installed: install the PostgreSQL client of the server's version "
            "or newer (Debian: apt-get install postgresql-client)"
        )
    output = subprocess.run(  # noqa: S603
        [found, "--version"], capture_output=True, text=True, check=False
    ).stdout
    match = re.search(r"(\d+)(?:\.\d+)?", output)
    if match is None:
        raise BackupError(f"cannot tell the version of {found}: {output.strip()!r}")
    return found, int(match.group(1))


def _failure(tool: str, stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return f"{tool} failed: " + (" / ".join(lines[-5:]) or "no message")


def _snapshot_postgresql(connection: BaseDatabaseWrapper, target: Path) -> dict[str, Any]:
    """pg_dump in a snapshot exported by our own transaction, in which the migrations and the
    row counts are read too: the manifest describes exactly the rows in the dump."""
    import psycopg

    pg_dump, dump_major = _pg_tool("pg_dump")
    params = connection.get_connection_params()
    with psycopg.connect(**params) as db:
        db.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        db.read_only = True
        server_major = db.info.server_version // 10000
        if dump_major < server_major:
            raise BackupError(
                f"pg_dump {dump_major} cannot dump a PostgreSQL {server_major} server: install "
                f"postgresql-client-{server_major}"
            )
        row = db.execute("SELECT pg_export_snapshot(), current_setting('server_version')")
        snapshot, version = row.fetchone() or ("", "")
        tables = [
            r[0]
            for r in db.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            )
        ]
        counts: dict[str, int] = {}
        for table in tables:
            quoted = connection.ops.quote_name(table)
            counts[table] = db.execute(f"SELECT COUNT(*) FROM {quoted}").fetchone()[0]  # type: ignore[index]  # noqa: S608
        migrations = db.execute("SELECT app, name FROM django_migrations").fetchall()
        result = subprocess.run(  # noqa: S603
            [
                pg_dump,
                "--format=custom",
                "--no-password",
                f"--snapshot={snapshot}",
                f"--file={target}",
            ],
            env=_pg_env(connection),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            if "No space left" in result.stderr:
                raise OSError(errno.ENOSPC, "No space left on device", str(target))
            raise BackupError(_failure("pg_dump", result.stderr))
    return {
        "vendor": "postgresql",
        "version": version,
        "pg_dump_version": dump_major,
        "file": PGDUMP_MEMBER,
        "tables": counts,
        "migrations": _group_migrations(migrations),
    }


def _snapshot_queue(source: Path, target: Path) -> dict[str, Any]:
    _sqlite_copy(source, target)
    copy = sqlite3.connect(target)
    try:
        copy.execute("PRAGMA journal_mode=DELETE")
        pending = copy.execute("SELECT COUNT(*) FROM task").fetchone()[0]
    finally:
        copy.close()
    return {"file": QUEUE_MEMBER, "pending": pending}


def _key_check(key: str) -> str:
    """A fingerprint of an encryption key, to warn on restore when the installation's key
    differs (the secrets stored encrypted would not decrypt). Slow on purpose: the key may be
    a passphrase."""
    digest = hashlib.pbkdf2_hmac("sha256", key.encode("utf-8"), b"machi-backup-key-check", 100_000)
    return digest[:8].hex()


def _encryption_keys(secret_key: str) -> list[str]:
    configured = str(getattr(settings, "MACHI_ENCRYPTION_KEY", "") or "")
    keys = [k.strip() for k in configured.split(",") if k.strip()]
    return keys or [secret_key]


def _table_names(connection: BaseDatabaseWrapper) -> list[str]:
    with connection.cursor() as cursor:
        return list(connection.introspection.table_names(cursor))


def _record_backup(path: Path, kind: str) -> None:
    from machi.core import services
    from machi.core.roles import Action

    # Before the snapshot, so that the backup holds the record of its own making.
    services.audit_record(
        action=Action.EXPORT, object_type="core.backup", detail={"path": str(path), "kind": kind}
    )


def backup_create(
    *, path: Path, force: bool = False, include_secrets: bool = True, say: Say = quiet
) -> BackupResult:
    """Write a backup of this installation at ``path`` (see the module's docstring)."""
    started = time.monotonic()
    path = Path(os.path.abspath(Path(path).expanduser()))
    data_dir = _data_dir()
    kind = archive_kind(path)
    _check_destination(path, data_dir, force)
    connection = _connection()
    if "django_migrations" not in _table_names(connection):
        raise BackupError(
            "the database has no Machi tables: nothing to back up. Is MACHI_DATA_DIR or "
            "DATABASE_URL the installation's? (A new installation starts with `machi init`.)"
        )
    if connection.vendor == "postgresql":
        _pg_tool("pg_dump")
    database_file = _sqlite_path(connection) if connection.vendor == "sqlite" else None
    queue_file = _queue_path()
    skip = _with_side_files(database_file) | _with_side_files(queue_file)
    files = [f for f in data_files(data_dir, skip=skip) if include_secrets or not _is_secret(f)]
    if kind != "tar.gz":  # a compressed size cannot be known beforehand
        needed = sum(_size(data_dir / f) for f in files) + _size(queue_file)
        needed += _size(database_file) * (2 if kind == "tar" else 1)
        free = shutil.disk_usage(path.parent).free
        if needed > free:
            raise BackupError(
                f"not enough space on the device of {path.parent}: the backup needs about "
                f"{needed / 1e6:,.0f} MB, {free / 1e6:,.0f} MB are free"
            )
    _record_backup(path, kind)

    part = path.with_name(path.name + ".part")
    writer: _Writer
    try:
        writer = _DirWriter(part) if kind == "dir" else _TarWriter(part, compress=kind == "tar.gz")
    except FileExistsError:
        raise BackupError(f"{part} appeared meanwhile: is another backup running?") from None
    scratch = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        say(f"Database ({connection.vendor})…")
        snapshot = scratch / "database"
        if connection.vendor == "sqlite":
            database = _snapshot_sqlite(connection, snapshot)
        else:
            database = _snapshot_postgresql(connection, snapshot)
        writer.add_file(database["file"], snapshot)
        snapshot.unlink()
        queue = None
        if queue_file is not None and queue_file.exists():
            say("Queue…")
            queue = _snapshot_queue(queue_file, scratch / "queue")
            writer.add_file(QUEUE_MEMBER, scratch / "queue")
        say(f"Files ({len(files)})…")
        for relative in files:
            # A file deleted since the listing went with its row (or was an orphan): skip it.
            with contextlib.suppress(FileNotFoundError):
                writer.add_file(FILES + relative, data_dir / relative)
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "machi_version": machi.__version__,
            "django_version": django.get_version(),
            "python_version": platform.python_version(),
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "host": socket.gethostname(),
            "data_dir": str(data_dir),
            "database": database,
            "queue": queue,
            "secrets_included": include_secrets,
            "encryption_key_check": _key_check(_encryption_keys(str(settings.SECRET_KEY))[0]),
            "left_out": [*DERIVED, *([] if include_secrets else ["secrets"])],
            "files": writer.entries,
        }
        writer.add_manifest(json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8"))
        writer.close()
        _move_into_place(part, path)
    except OSError as exc:
        writer.abort()
        if exc.errno == errno.ENOSPC:
            raise BackupError(
                f"no space left on the device of {path.parent}; nothing was written"
            ) from exc
        raise BackupError(f"the backup failed, nothing was written: {exc}") from exc
    except BaseException:
        writer.abort()
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    size = sum(e["size"] for e in manifest["files"]) if kind == "dir" else path.stat().st_size
    return BackupResult(path=path, manifest=manifest, size=size, seconds=time.monotonic() - started)


# --- Reading a backup -------------------------------------------------------------------------


def _members(path: Path) -> Iterator[tuple[str, IO[bytes]]]:
    """Each file of a backup folder or archive, with an open stream."""
    if path.is_dir():
        for root, dirs, names in os.walk(path):
            dirs.sort()
            for name in sorted(names):
                member = Path(root) / name
                relative = member.relative_to(path).as_posix()
                if member.is_symlink() or not member.is_file():
                    raise DamagedBackupError(f"{relative}: not a regular file")
                with member.open("rb") as stream:
                    yield relative, stream
        return
    try:
        with tarfile.open(path, "r|*") as tar:
            for info in tar:
                if info.isdir():
                    continue
                if not info.isreg():
                    raise DamagedBackupError(f"{info.name}: not a regular file")
                content = tar.extractfile(info)
                if content is None:
                    raise DamagedBackupError(f"{info.name}: cannot be read")
                yield info.name, content
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise DamagedBackupError(f"{path} cannot be read as a tar archive: {exc}") from exc


def _check_member_name(name: str) -> None:
    pure = PurePosixPath(name)
    if (
        pure.is_absolute()
        or ".." in pure.parts
        or (name != MANIFEST and not name.startswith(MEMBER_ROOTS))
        or name in MEMBER_ROOTS
    ):
        raise DamagedBackupError(f"unexpected entry in the backup: {name!r}")


def backup_read(path: Path, *, into: Path | None = None) -> dict[str, Any]:
    """The manifest of a backup whose every file has the size and SHA-256 the manifest says.

    With ``into``, the files are also written there (the staging of a restore)."""
    path = Path(path)
    if not path.exists():
        raise BackupError(f"{path} does not exist")
    seen: dict[str, tuple[int, str]] = {}
    raw_manifest = None
    try:
        for name, stream in _members(path):
            _check_member_name(name)
            if name in seen or (name == MANIFEST and raw_manifest is not None):
                raise DamagedBackupError(f"{name} is in the backup twice")
            if name == MANIFEST:
                raw_manifest = stream.read()
                continue
            digest, size = hashlib.sha256(), 0
            target = None
            if into is not None:
                (into / name).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                fd = os.open(into / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                target = os.fdopen(fd, "wb")
            try:
                while chunk := stream.read(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    if target is not None:
                        target.write(chunk)
            finally:
                if target is not None:
                    target.close()
            seen[name] = (size, digest.hexdigest())
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise DamagedBackupError(f"{path} is cut short or damaged: {exc}") from exc
    if raw_manifest is None:
        raise DamagedBackupError(
            f"{path} has no {MANIFEST}: not a Machi backup, or one that was cut short"
        )
    try:
        manifest = json.loads(raw_manifest)
    except ValueError as exc:
        raise DamagedBackupError(f"{MANIFEST} is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DamagedBackupError(f"{path} is not a Machi backup")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(
            f"{path} is in backup format {manifest.get('format_version')}, made by Machi "
            f"{manifest.get('machi_version')}; this Machi ({machi.__version__}) reads format "
            f"{FORMAT_VERSION}"
        )
    listed = {e["path"]: (e["size"], e["sha256"]) for e in manifest.get("files", [])}
    missing = sorted(set(listed) - set(seen))
    if missing:
        raise DamagedBackupError(
            f"{len(missing)} file(s) of the manifest are missing from the backup, e.g. {missing[0]}"
        )
    extra = sorted(set(seen) - set(listed))
    if extra:
        raise DamagedBackupError(f"{extra[0]} is in the backup but not in its manifest")
    for name, (size, sha256) in sorted(seen.items()):
        if (size, sha256) != listed[name]:
            raise DamagedBackupError(
                f"{name} is damaged: {size} bytes with SHA-256 {sha256[:12]}…, the manifest "
                f"says {listed[name][0]} bytes with {listed[name][1][:12]}…"
            )
    database = manifest.get("database") or {}
    if database.get("file") not in seen:
        raise DamagedBackupError("the backup holds no database")
    return manifest


# --- Restoring ----------------------------------------------------------------------------------


@dataclass
class _Plan:
    pending_migrations: int
    warnings: list[str]


def _compatibility(manifest: dict[str, Any], connection: BaseDatabaseWrapper) -> _Plan:
    """Refuse what cannot work; say what the restore will do besides copying."""
    vendor = manifest["database"]["vendor"]
    if vendor != connection.vendor:
        names = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
        raise BackupError(
            f"this backup holds a {names.get(vendor, vendor)} database and this installation "
            f"uses {names.get(connection.vendor, connection.vendor)} (DATABASE_URL): restore it "
            "into an installation of the same kind"
        )
    loader = MigrationLoader(None, ignore_no_migrations=True)
    known = set(loader.disk_migrations)
    for migration in loader.disk_migrations.values():
        known.update(migration.replaces or [])
    installed = {config.label for config in apps.get_app_configs()}
    applied = {
        (app, name) for app, names in manifest["database"]["migrations"].items() for name in names
    }
    unknown = sorted(m for m in applied if m[0] in installed and m not in known)
    if unknown:
        raise BackupError(
            f"this backup was made by a newer Machi ({manifest.get('machi_version')}; this is "
            f"{machi.__version__}): its database has migrations this code does not know ("
            + ", ".join(f"{app}.{name}" for app, name in unknown[:4])
            + (", …" if len(unknown) > 4 else "")
            + "). Install that version of Machi, restore, then upgrade."
        )
    warnings = []
    gone = sorted({app for app, _ in applied} - installed)
    if gone:
        warnings.append(
            f"the backup has tables of apps this Machi does not have ({', '.join(gone)}): "
            "they are restored but unused"
        )
    pending = [
        key
        for key, migration in loader.disk_migrations.items()
        if key not in applied and not (migration.replaces and set(migration.replaces) <= applied)
    ]
    if vendor == "postgresql":
        _, restore_major = _pg_tool("pg_restore")
        _pg_tool("psql")
        made_with = int(manifest["database"].get("pg_dump_version") or 0)
        if restore_major < made_with:
            raise BackupError(
                f"this backup was written by pg_dump {made_with}; pg_restore {restore_major} "
                f"cannot read it: install postgresql-client-{made_with} or newer"
            )
    return _Plan(pending_migrations=len(pending), warnings=warnings)


# Empties the public schema (Machi's tables, sequences, views and trigger functions) without
# dropping the schema itself, its grants, or what extensions installed there.
PG_CLEAN = """
DO $$
DECLARE r record;
BEGIN
  FOR r IN
    SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('e', 'i'))
    ORDER BY c.relkind = 'S'  -- tables first: they take their sequences with them
  LOOP
    EXECUTE format('DROP %s IF EXISTS public.%I CASCADE',
      CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
        WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, r.relname);
  END LOOP;
  FOR r IN
    SELECT p.oid::regprocedure::text AS signature FROM pg_proc p
    JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'public' AND p.prokind IN ('f', 'p')
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
  LOOP
    EXECUTE 'DROP ROUTINE IF EXISTS ' || r.signature || ' CASCADE';
  END LOOP;
END $$;
"""


def _restore_postgresql(connection: BaseDatabaseWrapper, dump: Path) -> None:
    """pg_restore's script run by psql in ONE transaction, after emptying the schema: either
    the database is the backup's, or (on any error) it is left as it was."""
    pg_restore, _ = _pg_tool("pg_restore")
    psql, _ = _pg_tool("psql")
    env = _pg_env(connection)
    connection.close()
    with tempfile.TemporaryFile() as restore_errors:
        producer = subprocess.Popen(  # noqa: S603
            [pg_restore, "--no-owner", "--no-privileges", "--file=-", str(dump)],
            stdout=subprocess.PIPE,
            stderr=restore_errors,
            env=env,
        )
        assert producer.stdout is not None  # noqa: S101 - for mypy: stdout=PIPE
        result = subprocess.run(  # noqa: S603
            [
                psql,
                "--no-psqlrc",
                "--quiet",
                "--no-password",
                "--set=ON_ERROR_STOP=1",
                "--single-transaction",
                f"--command={PG_CLEAN}",
                "--file=-",
            ],
            stdin=producer.stdout,
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        producer.stdout.close()
        producer.wait()
        # psql first: when it stops, pg_restore dies of the broken pipe.
        if result.returncode != 0:
            raise BackupError(
                _failure("psql", result.stderr) + " (the database was left as it was)"
            )
        if producer.returncode != 0:
            restore_errors.seek(0)
            raise BackupError(
                _failure("pg_restore", restore_errors.read().decode("utf-8", "replace"))
                + " (the database was left as it was)"
            )


def _counts(connection: BaseDatabaseWrapper) -> dict[str, int]:
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        counts = {}
        for table in tables:
            cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(table)}")  # noqa: S608
            counts[table] = cursor.fetchone()[0]
    return counts


def _compare_counts(expected: dict[str, int], found: dict[str, int], what: str) -> None:
    for table, rows in sorted(expected.items()):
        if found.get(table) != rows:
            raise DamagedBackupError(
                f"{what}: table {table} has {found.get(table)} rows, the manifest says {rows}"
            )


def _sqlite_backup(source: sqlite3.Connection, target: sqlite3.Connection) -> None:
    """SQLite's backup API, which Python retries for ever while a database is locked: give
    up after LOCK_TIMEOUT seconds of locks, with a clear message."""
    locked_since: list[float] = []

    def progress(status: int, remaining: int, total: int) -> None:
        if status not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            locked_since.clear()
        elif not locked_since:
            locked_since.append(time.monotonic())
        elif time.monotonic() - locked_since[0] > LOCK_TIMEOUT:
            raise BackupError(
                f"a SQLite database stayed locked for {LOCK_TIMEOUT} s: a long write is "
                "running (an import?); try again"
            )

    source.backup(target, progress=progress)


def _sqlite_copy(source: Path | sqlite3.Connection, target: Path | sqlite3.Connection) -> None:
    """Copy a database into another with SQLite's backup API. Into a live database this is one
    write transaction: other connections see the old database or the new one, never a mix."""
    opened = []
    try:
        if isinstance(source, Path):
            source = sqlite3.connect(source, timeout=BUSY_TIMEOUT)
            opened.append(source)
        if isinstance(target, Path):
            target = sqlite3.connect(target, timeout=BUSY_TIMEOUT)
            opened.append(target)
        _sqlite_backup(source, target)
    finally:
        for db in opened:
            db.close()


def _install_files(
    staged: Path, data_dir: Path, incoming: list[str], outgoing: list[str], keep: Path | None
) -> None:
    """Put the backup's files in the data folder, and move what they replace (and the files
    they do not have) into ``keep``. On an error every move is undone."""
    done: list[tuple[Path, Path]] = []

    def move(source: Path, target: Path) -> None:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.replace(source, target)
        done.append((source, target))

    try:
        if keep is not None:
            for relative in outgoing:
                move(data_dir / relative, keep / relative)
        for relative in incoming:
            target = data_dir / relative
            if keep is not None and target.exists() and relative not in outgoing:
                move(target, keep / relative)
            move(staged / relative, target)
    except OSError as exc:
        for source, target in reversed(done):
            os.replace(target, source)
        raise BackupError(
            f"the files could not be put in place ({exc}); the data folder's files were left "
            "as they were, the database is the backup's"
        ) from exc


def backup_restore(
    *,
    path: Path,
    force: bool = False,
    check_only: bool = False,
    restore_queue: bool = True,
    say: Say = quiet,
) -> RestoreResult:
    """Restore this installation from a backup (or, with ``check_only``, only verify it)."""
    started = time.monotonic()
    path = Path(os.path.abspath(Path(path).expanduser()))
    connection = _connection()
    if check_only:
        say(f"Checking {path}…")
        manifest = backup_read(path)
        plan = _compatibility(manifest, connection)
        if plan.pending_migrations:
            plan.warnings.append(
                f"the backup is older than this Machi: a restore applies "
                f"{plan.pending_migrations} migration(s) after it"
            )
        return RestoreResult(manifest, time.monotonic() - started, warnings=plan.warnings)

    data_dir = _data_dir()
    database_file = _sqlite_path(connection) if connection.vendor == "sqlite" else None
    queue_file = _queue_path()
    staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=data_dir))
    keep: Path | None = None
    changed = False
    try:
        say(f"Reading and checking {path}…")
        manifest = backup_read(path, into=staging)
        plan = _compatibility(manifest, connection)
        database = manifest["database"]
        if database["vendor"] == "sqlite":
            staged_db = sqlite3.connect(staging / database["file"])
            try:
                _compare_counts(database["tables"], _sqlite_counts(staged_db), "the backup")
            finally:
                staged_db.close()

        skip = _with_side_files(database_file) | _with_side_files(queue_file)
        current = [  # a backup kept in the data folder stays where it is
            f for f in data_files(data_dir, skip=skip) if not (data_dir / f).is_relative_to(path)
        ]
        tables = _table_names(connection)
        occupied = tables or [f for f in current if f != "secret_key"]
        if occupied and not force:
            raise BackupError(
                f"this installation already has data (database: {len(tables)} tables; data "
                f"folder: {len([f for f in current if f != 'secret_key'])} files). A restore "
                "replaces all of it: add --force. "
                + (
                    "What it replaces is kept in the data folder's pre-restore-<time>/."
                    if connection.vendor == "sqlite"
                    else "Run `machi backup` first: PostgreSQL's current database is not kept."
                )
            )
        if occupied:
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
            keep = data_dir / f"pre-restore-{stamp}"
            keep.mkdir(mode=0o700)

        # 1. The database: SQLite in one write transaction, PostgreSQL in one transaction.
        say(f"Database ({database['vendor']} {database['version']})…")
        if database["vendor"] == "sqlite":
            connection.ensure_connection()
            if keep is not None:
                _sqlite_copy(connection.connection, keep / "machi.sqlite3")
            _sqlite_copy(staging / database["file"], connection.connection)
            changed = True
        else:
            _restore_postgresql(connection, staging / database["file"])
            changed = True
            _compare_counts(database["tables"], _counts(connection), "the restored database")

        # 2. The queue (when both sides keep it in SQLite).
        queue = manifest.get("queue")
        warnings = list(plan.warnings)
        if queue and restore_queue and queue_file is not None:
            say("Queue…")
            if keep is not None and queue_file.exists():
                _sqlite_copy(queue_file, keep / "huey.sqlite3")
            _sqlite_copy(staging / queue["file"], queue_file)
        elif queue and restore_queue:
            warnings.append("the backup's queue was not restored: this installation uses Redis")

        # 3. The files.
        incoming = sorted(
            e["path"][len(FILES) :] for e in manifest["files"] if e["path"].startswith(FILES)
        )
        arriving = set(incoming)
        outgoing = [
            f
            for f in current
            if f not in arriving and (manifest["secrets_included"] or not _is_secret(f))
        ]
        say(f"Files ({len(incoming)})…")
        _install_files(staging / FILES.rstrip("/"), data_dir, incoming, outgoing, keep)

        # 4. A backup older than the code: bring its database up to date.
        connections.close_all()
        if plan.pending_migrations:
            say(f"Applying {plan.pending_migrations} migration(s)…")
            call_command("migrate", interactive=False, verbosity=0)
        _record_restore(path, manifest)
        warnings += _key_warnings(manifest, data_dir)
        if _owner_differs(data_dir):
            warnings.append(
                f"{data_dir} belongs to another user than this command's: run restores as the "
                "user the site runs as, or give it the restored files"
            )
    except (OSError, sqlite3.Error) as exc:
        full = isinstance(exc, OSError) and exc.errno == errno.ENOSPC
        raise BackupError(
            ("no space left in the data folder: " if full else "the restore failed: ")
            + f"{exc}. "
            + (
                "The database is the backup's; run the restore again with --force once "
                "the cause is fixed."
                if changed
                else "Nothing was changed."
            )
        ) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if keep is not None and not any(keep.iterdir()):
            keep.rmdir()
            keep = None
    return RestoreResult(
        manifest,
        time.monotonic() - started,
        files=len(incoming),
        migrations_applied=plan.pending_migrations,
        set_aside=keep,
        warnings=warnings,
    )


def _record_restore(path: Path, manifest: dict[str, Any]) -> None:
    from machi.core import services
    from machi.core.roles import Action

    # The log now ends where the backup was made: this event shows the gap and where from.
    services.audit_record(
        action=Action.UPDATE,
        object_type="core.restore",
        detail={
            "backup": str(path),
            "created_at": manifest.get("created_at"),
            "machi_version": manifest.get("machi_version"),
        },
    )


def _key_warnings(manifest: dict[str, Any], data_dir: Path) -> list[str]:
    expected = manifest.get("encryption_key_check")
    if not expected:
        return []
    secret = os.environ.get("MACHI_SECRET_KEY") or ""
    if not secret:
        key_file = data_dir / "secret_key"
        secret = key_file.read_text().strip() if key_file.exists() else str(settings.SECRET_KEY)
    if any(_key_check(key) == expected for key in _encryption_keys(secret)):
        return []
    return [
        "the secrets stored encrypted in the database (Wi-Fi credentials) were encrypted with "
        "another key than this installation's: put the backed-up installation's secret_key "
        "file in the data folder, or set MACHI_SECRET_KEY (or MACHI_ENCRYPTION_KEY) to its value"
    ]


def _owner_differs(data_dir: Path) -> bool:
    geteuid = getattr(os, "geteuid", None)
    return geteuid is not None and data_dir.stat().st_uid != geteuid()
