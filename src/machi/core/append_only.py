"""Database triggers that make a table append-only (UPDATE, DELETE and TRUNCATE refused).

Used by the migrations of records that must never be rewritten: the audit log, a shelter's
status history, an evacuee's check-ins and check-outs. They are off in the test settings
(``MACHI_AUDIT_DB_TRIGGERS``), because test isolation empties every table.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import migrations


def statements(vendor: str, table: str) -> list[str]:
    if vendor == "sqlite":
        return [
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END;",
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END;",
        ]
    if vendor == "postgresql":
        return [
            f"CREATE OR REPLACE FUNCTION {table}_refuse() RETURNS trigger AS $$ "
            f"BEGIN RAISE EXCEPTION '{table} is append-only'; END; $$ LANGUAGE plpgsql;",
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_refuse();",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_refuse();",
        ]
    return []


def reverse_statements(vendor: str, table: str) -> list[str]:
    if vendor == "sqlite":
        return [
            f"DROP TRIGGER IF EXISTS {table}_no_update;",
            f"DROP TRIGGER IF EXISTS {table}_no_delete;",
        ]
    if vendor == "postgresql":
        return [
            f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};",
            f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};",
            f"DROP FUNCTION IF EXISTS {table}_refuse();",
        ]
    return []


def operation(*tables: str) -> migrations.RunPython:
    """A migration operation installing the triggers on ``tables``."""

    def forward(apps: Any, schema_editor: Any) -> None:
        if not getattr(settings, "MACHI_AUDIT_DB_TRIGGERS", True):
            return
        for table in tables:
            for sql in statements(schema_editor.connection.vendor, table):
                schema_editor.execute(sql)

    def backward(apps: Any, schema_editor: Any) -> None:
        for table in tables:
            for sql in reverse_statements(schema_editor.connection.vendor, table):
                schema_editor.execute(sql)

    return migrations.RunPython(forward, backward)
