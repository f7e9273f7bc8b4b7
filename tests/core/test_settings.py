"""Production defaults are safe; the demo relaxes only what http://127.0.0.1 needs."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client


def settings_in_child(tmp_path: Path, **env: str) -> dict[str, object]:
    code = (
        "import json, django; from django.conf import settings; django.setup();"
        "print(json.dumps({k: getattr(settings, k) for k in ("
        "'DEBUG','SESSION_COOKIE_SECURE','CSRF_COOKIE_SECURE','SECURE_HSTS_SECONDS',"
        "'ALLOWED_HOSTS','LANGUAGE_CODE','TIME_ZONE')} | {"
        "'db': settings.DATABASES['default']['ENGINE'], 'huey': settings.HUEY['huey_class'],"
        "'cache': settings.CACHES['default']['BACKEND']}))"
    )
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("MACHI_", "DATABASE_", "REDIS_"))
    }
    clean.update(
        {"DJANGO_SETTINGS_MODULE": "machi.config.settings", "MACHI_DATA_DIR": str(tmp_path)}
    )
    clean.update(env)
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], env=clean, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_production_defaults_are_safe(tmp_path: Path) -> None:
    values = settings_in_child(tmp_path)
    assert values["DEBUG"] is False
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["SECURE_HSTS_SECONDS"] == 31_536_000
    assert values["ALLOWED_HOSTS"] == ["localhost", "127.0.0.1", "[::1]"]
    assert (values["LANGUAGE_CODE"], values["TIME_ZONE"]) == ("ja", "Asia/Tokyo")
    assert values["db"] == "django.db.backends.sqlite3"
    assert values["huey"] == "machi.core.queue.SqliteHuey"


def test_the_demo_turns_debug_on_and_https_off(tmp_path: Path) -> None:
    values = settings_in_child(tmp_path, MACHI_DEMO="1")
    assert values["DEBUG"] is True
    assert values["SESSION_COOKIE_SECURE"] is False


def test_redis_and_postgresql_come_from_the_environment(tmp_path: Path) -> None:
    values = settings_in_child(
        tmp_path,
        REDIS_URL="redis://127.0.0.1:6379/0",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/machi",
    )
    assert values["db"] == "django.db.backends.postgresql"
    assert values["huey"] == "huey.RedisHuey"
    assert values["cache"] == "django.core.cache.backends.redis.RedisCache"


@pytest.mark.parametrize(
    ("name", "value"), [("MACHI_SECRET_KEY", "short"), ("MACHI_DEMO", "maybe")]
)
def test_bad_settings_stop_with_a_clear_message(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(AssertionError, match=name):
        settings_in_child(tmp_path, **{name: value})


def test_sqlite_runs_in_wal_mode(db: None) -> None:
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        mode = cursor.fetchone()[0]
    # The test database may be in memory, which has no WAL; a file database must be in WAL.
    assert mode in {"wal", "memory"}


def test_every_page_carries_the_security_headers(client: Client, db: None) -> None:
    response = client.get("/")
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "'unsafe-inline'" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert len(response["X-Request-ID"]) == 16


def test_the_sqlite_queue_commits_without_an_fsync_each_time(tmp_path: Any) -> None:
    """Huey's SQLite queue runs at synchronous=NORMAL like the main database (ADR 0016)."""
    from machi.core.queue import SqliteHuey

    queue = SqliteHuey("t", filename=str(tmp_path / "q.sqlite3"))
    with queue.storage.db() as cursor:
        assert cursor.execute("pragma synchronous").fetchone()[0] == 1  # NORMAL
        assert cursor.execute("pragma journal_mode").fetchone()[0] == "wal"
