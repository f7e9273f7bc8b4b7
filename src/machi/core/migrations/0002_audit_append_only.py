"""Make the audit log append-only in the database itself, not only in the ORM.

SQLite and PostgreSQL each get triggers (``core/append_only.py``) that refuse UPDATE and
DELETE (and TRUNCATE on PostgreSQL) on core_auditevent, so neither a bug nor a raw SQL session
can rewrite history. Dropping the triggers needs a migration, which leaves its own trace.

The test settings switch the triggers off (MACHI_AUDIT_DB_TRIGGERS) because test isolation
empties every table between tests; a test installs them inside its transaction to prove them.
"""

from django.db import migrations

from machi.core import append_only

TABLE = "core_auditevent"
SQLITE_FORWARD = append_only.statements("sqlite", TABLE)
POSTGRES_FORWARD = append_only.statements("postgresql", TABLE)


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]
    operations = [append_only.operation(TABLE)]
