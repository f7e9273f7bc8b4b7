"""`machi backup` and `machi restore`: the round trip gives back the same data.

The round trips run the commands as an administrator does, in subprocesses with their own data
folder and the production settings (so the audit log's triggers are installed): on SQLite, and
on PostgreSQL when DATABASE_URL points to a server (each in a scratch database of its own).
The refusals and the damaged backups are checked in this process.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection

from machi.core import backup

DATABASE_URL = os.environ.get("DATABASE_URL", "")
ON_POSTGRES = DATABASE_URL.startswith(("postgres://", "postgresql://"))

# Records of several kinds, an uploaded photo, a trust anchor, a pending task.
SETUP = """
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from huey.contrib.djhuey import HUEY
from machi.core import services
from machi.core.models import Facility, Municipality, User
from machi.core.roles import Action, Role

municipality = Municipality.objects.get()
facility = Facility.objects.create(municipality=municipality, name="戸田市立第一小学校",
                                   is_shelter=True)
user = User.objects.create_user("saitou", password="correct-horse-battery-staple")
services.role_grant(user=user, role=Role.SHELTER_STAFF, facilities=[facility])
services.audit_record(action=Action.CREATE, record=user)
default_storage.save("incidents/2026/11/photo.jpg", ContentFile(bytes(range(256)) * 400))
(settings.DATA_DIR / "jpki").mkdir()
(settings.DATA_DIR / "jpki" / "anchors.pem").write_text("-----BEGIN CERTIFICATE-----\\n")
HUEY.storage.enqueue(b"a pending task")
"""

# What happens after the backup: rows deleted and added, a photo deleted and another uploaded.
MUTATE = """
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from huey.contrib.djhuey import HUEY
from machi.core import services
from machi.core.models import Facility, User
from machi.core.roles import Action

User.objects.filter(username="saitou").delete()
Facility.objects.update(name="改名")
User.objects.create_user("tanaka", password="correct-horse-battery-staple")
services.audit_record(action=Action.DELETE, object_type="core.user")
default_storage.delete("incidents/2026/11/photo.jpg")
default_storage.save("incidents/2026/12/later.jpg", ContentFile(b"later"))
HUEY.storage.enqueue(b"a later task")
"""


def machi(
    *args: str, data_dir: Path, database_url: str = "", timeout: int = 120
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MACHI_", "DATABASE_"))}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env["MACHI_DATA_DIR"] = str(data_dir)
    if database_url:
        env["DATABASE_URL"] = database_url
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "machi", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def fingerprint(data_dir: Path, database_url: str = "") -> dict[str, Any]:
    """Every row of every table (the backups' and restores' own audit events aside), the
    pending tasks, and whether the audit log still refuses UPDATE and DELETE: read straight
    from the databases, without Machi's code."""
    if database_url:
        import psycopg

        db: Any = psycopg.connect(database_url)
        query = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
    else:
        db = sqlite3.connect(data_dir / "machi.sqlite3")
        query = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'"
    tables = {}
    try:
        for (table,) in sorted(db.execute(query).fetchall()):
            where = (
                " WHERE object_type NOT IN ('core.backup', 'core.restore')"
                if table == "core_auditevent"
                else ""
            )
            rows = sorted(
                repr(tuple(bytes(v) if isinstance(v, memoryview) else v for v in row))
                for row in db.execute(f'SELECT * FROM "{table}"{where}').fetchall()  # noqa: S608
            )
            tables[table] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
        (restores,) = db.execute(
            "SELECT COUNT(*) FROM core_auditevent WHERE object_type = 'core.restore'"
        ).fetchone()
        db.rollback()
        refused = []
        for sql in ("UPDATE core_auditevent SET action = 'read'", "DELETE FROM core_auditevent"):
            try:
                db.execute(sql)
            except (sqlite3.DatabaseError, psycopg_error()):
                refused.append(sql.split()[0])
            db.rollback()
    finally:
        db.close()
    queue = sqlite3.connect(data_dir / "huey.sqlite3")
    try:
        (pending,) = queue.execute("SELECT COUNT(*) FROM task").fetchone()
    finally:
        queue.close()
    return {"tables": tables, "queue": pending, "restores": restores, "refused": refused}


def psycopg_error() -> type[Exception]:
    try:
        import psycopg
    except ImportError:  # pragma: no cover
        return sqlite3.DatabaseError
    return psycopg.Error


def files(data_dir: Path) -> dict[str, bytes]:
    """The data folder's files, by an independent rule: all but the databases, the derived
    folders and what a restore set aside."""
    left_out = ("static", "cache", "exports", "machi.sqlite3", "huey.sqlite3", "pre-restore-")
    return {
        path.relative_to(data_dir).as_posix(): path.read_bytes()
        for path in sorted(data_dir.rglob("*"))
        if path.is_file() and not path.relative_to(data_dir).parts[0].startswith(left_out)
    }


def round_trip(tmp_path: Path, template: Path, database_urls: tuple[str, str] = ("", "")) -> None:
    """Back up, change, restore in place (--force), and restore into a new installation."""
    first_url, second_url = database_urls
    site = tmp_path / "site"
    shutil.copytree(template, site)
    ok(machi("shell", "-c", SETUP, data_dir=site, database_url=first_url))
    archive = tmp_path / "offsite" / "machi.tar.gz"
    archive.parent.mkdir()
    out = ok(machi("backup", str(archive), data_dir=site, database_url=first_url))
    assert "Backup written to" in out
    before, before_files = fingerprint(site, first_url), files(site)
    assert before["queue"] == 1
    assert before["refused"] == ["UPDATE", "DELETE"]
    assert "media/incidents/2026/11/photo.jpg" in before_files
    assert "jpki/anchors.pem" in before_files

    ok(machi("shell", "-c", MUTATE, data_dir=site, database_url=first_url))
    changed = fingerprint(site, first_url)
    assert changed["tables"] != before["tables"]
    assert changed["queue"] == 2
    assert files(site) != before_files

    refused = machi("restore", str(archive), data_dir=site, database_url=first_url)
    assert refused.returncode == 1
    assert "--force" in refused.stderr

    out = ok(machi("restore", "--force", str(archive), data_dir=site, database_url=first_url))
    assert "Restored in" in out
    after = fingerprint(site, first_url)
    assert after["tables"] == before["tables"]
    assert after["queue"] == before["queue"]
    assert after["restores"] == 1  # the log shows where it was rewound
    assert after["refused"] == ["UPDATE", "DELETE"]  # the triggers came back with the tables
    assert files(site) == before_files
    (kept,) = site.glob("pre-restore-*")
    assert (kept / "media/incidents/2026/12/later.jpg").read_bytes() == b"later"

    # A new machine: an empty data folder (and database), no --force needed.
    new = tmp_path / "new"
    out = ok(machi("restore", str(archive), data_dir=new, database_url=second_url))
    assert "Restored in" in out
    moved = fingerprint(new, second_url)
    assert moved["tables"] == before["tables"]
    assert moved["refused"] == ["UPDATE", "DELETE"]
    assert files(new) == before_files  # the secret key too: the same encrypted secrets work
    assert not list(new.glob("pre-restore-*"))


@pytest.fixture(scope="module")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("template") / "data"
    ok(machi("init", "--lgcode", "112241", data_dir=folder))
    return folder


@pytest.mark.skipif(ON_POSTGRES, reason="runs on SQLite once, not again per database")
def test_sqlite_round_trip_gives_back_the_same_data(sqlite_template: Path, tmp_path: Path) -> None:
    round_trip(tmp_path, sqlite_template)


@pytest.fixture
def scratch_databases() -> Iterator[tuple[str, str]]:
    """Two databases of our own on DATABASE_URL's server, dropped afterwards."""
    import psycopg

    parts = urlsplit(DATABASE_URL)
    names = [f"machi_backup_test_{secrets.token_hex(4)}_{n}" for n in (1, 2)]
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as db:
        for name in names:
            db.execute(f'CREATE DATABASE "{name}"')
    try:
        yield tuple(urlunsplit(parts._replace(path=f"/{name}")) for name in names)  # type: ignore[misc]
    finally:
        with psycopg.connect(admin, autocommit=True) as db:
            for name in names:
                db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.skipif(not ON_POSTGRES, reason="needs DATABASE_URL pointing to PostgreSQL")
def test_postgresql_round_trip_gives_back_the_same_data(
    scratch_databases: tuple[str, str], tmp_path: Path
) -> None:
    template = tmp_path / "template"
    ok(machi("init", "--lgcode", "112241", data_dir=template, database_url=scratch_databases[0]))
    round_trip(tmp_path, template, scratch_databases)


# --- In this process: what is in a backup, refusals, damage -------------------------------------


@pytest.fixture
def data_dir(transactional_db: None, tmp_path: Path, settings: Any) -> Path:
    """A data folder with one file of each kind."""
    folder = tmp_path / "data"
    for name, content in {
        "secret_key": "k" * 60,
        "vapid_private.pem": "private",
        "media/incidents/2026/11/photo.jpg": "photo",
        "media/certificates/1/0001.pdf": "certificate",
        "exports/7.csv": "derived",
        "wifi-simulator-keys.part": "half-written",
        ".ssh/id_ed25519": "the service user's own key (the data folder is its home)",
        ".bash_history": "not data",
        "jpki/anchors.pem": "anchor",
        "jpki/resident-1.key.pem": "private",
        "static/core/site.css": "derived",
        "cache/abc.djcache": "derived",
        "guide-index.npz": "derived",
    }.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(content)
    settings.DATA_DIR = folder
    settings.MEDIA_ROOT = folder / "media"
    return folder


def members(manifest: dict[str, Any]) -> set[str]:
    return {entry["path"] for entry in manifest["files"]}


def test_a_backup_holds_the_data_not_what_machi_makes_again(data_dir: Path, tmp_path: Path) -> None:
    result = backup.backup_create(path=tmp_path / "b")
    files = {m for m in members(result.manifest) if m.startswith("files/")}
    assert files == {
        "files/secret_key",
        "files/vapid_private.pem",
        "files/media/incidents/2026/11/photo.jpg",
        "files/media/certificates/1/0001.pdf",
        "files/jpki/anchors.pem",
        "files/jpki/resident-1.key.pem",
    }
    database = result.manifest["database"]
    assert database["file"] in members(result.manifest)
    assert database["vendor"] == connection.vendor
    assert "0002_audit_append_only" in database["migrations"]["core"]
    assert result.manifest["secrets_included"] is True
    assert backup.backup_read(tmp_path / "b") == result.manifest
    assert (tmp_path / "b").stat().st_mode & 0o777 == 0o700  # personal data and keys


def test_exclude_secrets_leaves_the_keys_out(data_dir: Path, tmp_path: Path) -> None:
    result = backup.backup_create(path=tmp_path / "b.tar", include_secrets=False)
    files = {m for m in members(result.manifest) if m.startswith("files/")}
    assert files == {
        "files/media/incidents/2026/11/photo.jpg",
        "files/media/certificates/1/0001.pdf",
        "files/jpki/anchors.pem",
    }
    assert result.manifest["secrets_included"] is False
    with tarfile.open(tmp_path / "b.tar") as tar:
        names = tar.getnames()
    assert names[-1] == "manifest.json"  # written last: a cut-short archive has none
    assert not any("secret" in name or "key" in name for name in names)
    assert (tmp_path / "b.tar").stat().st_mode & 0o777 == 0o600


def test_backup_refuses_clearly_and_leaves_nothing_behind(data_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(backup.BackupError, match="inside the data folder"):
        backup.backup_create(path=data_dir / "backups" / "b.tar.gz")
    with pytest.raises(backup.BackupError, match=r"does not exist \(is the backup disk mounted"):
        backup.backup_create(path=tmp_path / "nowhere" / "b.tar.gz")
    (tmp_path / "b.tar.gz").write_text("an older backup")
    with pytest.raises(backup.BackupError, match=r"already exists.*--force"):
        backup.backup_create(path=tmp_path / "b.tar.gz")
    (tmp_path / "c.tar.gz.part").write_text("")
    with pytest.raises(backup.BackupError, match="another backup"):
        backup.backup_create(path=tmp_path / "c.tar.gz")
    backup.backup_create(path=tmp_path / "b.tar.gz", force=True)
    assert backup.backup_read(tmp_path / "b.tar.gz")["format"] == "machi-backup"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes anywhere")
def test_backup_refuses_a_folder_it_cannot_write(data_dir: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(backup.BackupError, match="cannot write"):
        backup.backup_create(path=locked / "b.tar.gz")


@pytest.mark.parametrize("name", ["b", "b.tar.gz"])
def test_a_full_disk_leaves_no_half_written_backup(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    writer = backup._DirWriter if name == "b" else backup._TarWriter
    original = writer.add_file

    def add_file(self: Any, member: str, source: Path) -> None:
        if member.startswith("files/"):  # the database is in, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        original(self, member, source)

    monkeypatch.setattr(writer, "add_file", add_file)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(backup.BackupError, match="no space left"):
        backup.backup_create(path=out / name)
    assert os.listdir(out) == []  # no PATH, no PATH.part, no scratch file


@pytest.fixture
def folder_backup(data_dir: Path, tmp_path: Path) -> Path:
    backup.backup_create(path=tmp_path / "b")
    return tmp_path / "b"


def test_a_damaged_backup_is_named_and_refused(folder_backup: Path) -> None:
    photo = folder_backup / "files/media/incidents/2026/11/photo.jpg"
    photo.write_text("phot0")
    with pytest.raises(backup.DamagedBackupError, match=r"photo.jpg is damaged") as caught:
        backup.backup_restore(path=folder_backup, check_only=True)
    assert caught.value.exit_code == 3
    photo.unlink()
    with pytest.raises(backup.DamagedBackupError, match=r"missing.*photo.jpg"):
        backup.backup_read(folder_backup)


def test_an_unlisted_file_or_a_cut_short_archive_is_refused(
    folder_backup: Path, tmp_path: Path
) -> None:
    (folder_backup / "files/extra.txt").write_text("?")
    with pytest.raises(backup.DamagedBackupError, match=r"extra.txt is in the backup but not"):
        backup.backup_read(folder_backup)
    (folder_backup / "files/extra.txt").unlink()
    backup.backup_create(path=tmp_path / "c.tar.gz")
    whole = (tmp_path / "c.tar.gz").read_bytes()
    (tmp_path / "cut.tar.gz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(backup.DamagedBackupError):
        backup.backup_read(tmp_path / "cut.tar.gz")
    (tmp_path / "none").mkdir()
    with pytest.raises(backup.DamagedBackupError, match=r"no manifest.json"):
        backup.backup_read(tmp_path / "none")


def test_an_archive_cannot_write_outside_its_folders(tmp_path: Path) -> None:
    with tarfile.open(tmp_path / "evil.tar", "w") as tar:
        info = tarfile.TarInfo("files/../../../evil.txt")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    with pytest.raises(backup.DamagedBackupError, match="unexpected entry"):
        backup.backup_read(tmp_path / "evil.tar", into=tmp_path / "staging")
    assert not list(tmp_path.rglob("evil.txt"))


def rewrite_manifest(folder: Path, change: Any) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    change(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_a_backup_from_newer_code_is_refused(folder_backup: Path) -> None:
    rewrite_manifest(
        folder_backup, lambda m: m["database"]["migrations"]["core"].append("9999_future")
    )
    with pytest.raises(backup.BackupError, match=r"newer Machi.*core\.9999_future"):
        backup.backup_restore(path=folder_backup, check_only=True)


def test_a_backup_from_older_code_is_migrated_after_the_restore(folder_backup: Path) -> None:
    rewrite_manifest(folder_backup, lambda m: m["database"]["migrations"]["core"].pop())
    result = backup.backup_restore(path=folder_backup, check_only=True)
    assert any("applies 1 migration" in warning for warning in result.warnings)


def test_a_backup_of_another_database_kind_is_refused(folder_backup: Path) -> None:
    other = "sqlite" if ON_POSTGRES else "postgresql"
    rewrite_manifest(folder_backup, lambda m: m["database"].update(vendor=other))
    with pytest.raises(backup.BackupError, match="restore it into an installation of the same"):
        backup.backup_restore(path=folder_backup, check_only=True)


def test_restore_over_data_needs_force(folder_backup: Path, data_dir: Path) -> None:
    with pytest.raises(backup.BackupError, match=r"already has data.*--force"):
        backup.backup_restore(path=folder_backup)
    assert (data_dir / "media/incidents/2026/11/photo.jpg").read_text() == "photo"
    assert not [p for p in data_dir.iterdir() if p.name.startswith((".restore-", "pre-restore-"))]


def test_a_database_locked_for_too_long_stops_the_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backup, "LOCK_TIMEOUT", 0.3)
    monkeypatch.setattr(backup, "BUSY_TIMEOUT", 0.05)
    writer = sqlite3.connect(tmp_path / "busy.sqlite3", isolation_level=None)
    writer.execute("CREATE TABLE t (x)")
    writer.execute("BEGIN EXCLUSIVE")  # a long import, in rollback-journal mode
    try:
        with pytest.raises(backup.BackupError, match="stayed locked"):
            backup._sqlite_copy(tmp_path / "busy.sqlite3", tmp_path / "copy.sqlite3")
    finally:
        writer.close()
